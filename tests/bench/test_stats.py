"""Folding repeated samples into medians, spreads and growth factors (no timing here)."""

from __future__ import annotations

import statistics
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import stats


def sample(ok_rps: float, p99_ms: float, errors: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "requests": int(ok_rps) + errors,
        "ok_requests": int(ok_rps),
        "duration_s": 1.0,
        "rps": ok_rps + errors,
        "ok_rps": ok_rps,
        "errors": errors,
        "error_kinds": {"status": errors},
        "statuses": {},
        "p50_ms": p99_ms / 4,
        "p90_ms": p99_ms / 2,
        "p99_ms": p99_ms,
        "mean_ms": p99_ms / 3,
        "max_ms": p99_ms * 2,
        "mb_per_s": 1.0,
        "connections": 8,
        "threads": 1,
        "extra": extra,
    }


def test_a_scenario_is_the_median_of_its_samples_with_min_max_spread_and_every_sample() -> None:
    samples = [sample(900, 30, errors=1), sample(1000, 10), sample(1200, 20, errors=2)]
    combined = stats.combine(samples)
    assert combined["ok_rps"] == 1000
    assert combined["p99_ms"] == 20
    assert combined["spread"] == {"ok_rps": [900, 1200], "p99_ms": [10, 30]}
    assert combined["errors"] == 3
    assert combined["error_kinds"] == {"status": 3}
    assert combined["repeats"] == 3
    assert combined["samples"] == samples


def test_the_cpu_split_is_folded_by_its_median_per_figure() -> None:
    samples = [sample(1, 1, cpu={"workers_cores": v, "cores": 2}) for v in (1.0, 1.8, 1.2)]
    assert stats.combine(samples)["extra"]["cpu"] == {"workers_cores": 1.2, "cores": 2.0}


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=9))
def test_the_median_lies_within_the_spread(values: list[float]) -> None:
    low, high = stats.spread(values)
    assert low <= stats.median(values) <= high
    assert stats.median(values) == pytest.approx(statistics.median(values))


def test_no_samples_is_an_error_not_a_figure() -> None:
    with pytest.raises(ValueError, match="no samples"):
        stats.combine([])
    with pytest.raises(ValueError, match="no samples"):
        stats.median([])


def test_growth_is_the_ratio_to_the_reference_and_unknown_without_one() -> None:
    assert stats.growth(15.0, 10.0) == 1.5
    assert stats.growth(None, 10.0) is None
    assert stats.growth(15.0, None) is None
    assert stats.growth(15.0, 0.0) is None
