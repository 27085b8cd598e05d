"""Repeated measurements: one scenario's samples folded into medians and a spread.

Every scenario runs ``--repeat`` times (3 by default). What the tables show and what the
targets judge is the median of the samples; the spread is their minimum and maximum (with
three samples an interquartile range would be the min-max range anyway). Each sample is
kept as it was measured, under ``samples``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

# Figures of a wrk run that are folded into their median.
MEDIAN_FIGURES = ("rps", "ok_rps", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms", "mb_per_s")
# Figures that count things: summed over the samples.
SUMMED_FIGURES = ("requests", "ok_requests", "errors")
SPREAD_FIGURES = ("ok_rps", "p99_ms")


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no samples")
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> tuple[float, float]:
    """(minimum, maximum) of the samples."""
    if not values:
        raise ValueError("no samples")
    return float(min(values)), float(max(values))


def _sum_dicts(dicts: Sequence[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in dicts:
        for key, value in counts.items():
            total[key] = total.get(key, 0) + int(value)
    return total


def combine(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One scenario's result from its samples (each a ``LoadResult.as_dict()``)."""
    if not samples:
        raise ValueError("no samples")
    combined: dict[str, Any] = {
        name: round(median([float(s[name]) for s in samples]), 2) for name in MEDIAN_FIGURES
    }
    for name in SUMMED_FIGURES:
        combined[name] = sum(int(s[name]) for s in samples)
    combined["error_kinds"] = _sum_dicts([s.get("error_kinds", {}) for s in samples])
    combined["statuses"] = _sum_dicts([s.get("statuses", {}) for s in samples])
    combined["duration_s"] = round(sum(float(s["duration_s"]) for s in samples), 3)
    combined["connections"] = samples[0].get("connections")
    combined["threads"] = samples[0].get("threads")
    combined["repeats"] = len(samples)
    combined["spread"] = {
        name: list(spread([float(s[name]) for s in samples])) for name in SPREAD_FIGURES
    }
    combined["samples"] = list(samples)
    combined["extra"] = {}
    cpus = [s.get("extra", {}).get("cpu") for s in samples]
    if all(isinstance(cpu, dict) for cpu in cpus):
        combined["extra"]["cpu"] = _median_dict([cpu for cpu in cpus if cpu is not None])
    return combined


def _median_dict(dicts: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Per key, the median of the numbers the dicts hold under it."""
    keys = [k for k, v in dicts[0].items() if isinstance(v, int | float)]
    return {key: round(median([float(d[key]) for d in dicts]), 2) for key in keys}


def growth(value: float | None, reference: float | None) -> float | None:
    """``value`` over ``reference`` (a p99 at some size over the p99 at the smallest)."""
    if value is None or reference is None or reference <= 0:
        return None
    return round(value / reference, 3)


def median_of(samples: Sequence[float]) -> float | None:
    return None if not samples else round(median(samples), 3)
