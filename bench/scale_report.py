"""The targets of ``make bench-scale`` and its table: per scenario and size, the median
req/s and p99 of the samples, their spread (min-max), and the growth factor (p99 at a size
over p99 at the smallest size)."""

from __future__ import annotations

from typing import Any

from bench.stats import growth as ratio

FLAT_SCENARIOS = (
    "detail",
    "first_page",
    "deep_page",
    "tag_common",
    "tag_rare",
    "author_common",
    "author_rare",
    "detail_db",  # the two above once more with the caches off: the database path
    "deep_page_db",
)
Q_SCENARIOS = ("q_common", "q_rare")
MAX_GROWTH = 1.5
Q_P99_MS = 100.0


def _sizes(results: dict[str, Any]) -> list[str]:
    return sorted(results["sizes"], key=int)


def _p99(results: dict[str, Any], size: str, name: str) -> float | None:
    scenario = results["sizes"][size]["scenarios"].get(name)
    return None if scenario is None else float(scenario["p99_ms"])


def growth(results: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per scenario, per size: its p99 over the p99 at the smallest size."""
    sizes = _sizes(results)
    names = {n for size in sizes for n in results["sizes"][size]["scenarios"]}
    return {
        name: {
            size: ratio(_p99(results, size, name), _p99(results, sizes[0], name)) for size in sizes
        }
        for name in sorted(names)
    }


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    sizes = _sizes(results)
    largest = sizes[-1]
    factors = growth(results)
    checked = []
    for name in FLAT_SCENARIOS:
        value = factors.get(name, {}).get(largest) if len(sizes) > 1 else None
        checked.append(
            {
                "key": f"growth_{name}",
                "description": f"{name}: p99 at {largest} / p99 at {sizes[0]}",
                "wanted": f"<= {MAX_GROWTH:g}x",
                "value": value,
                "met": None if value is None else value <= MAX_GROWTH,
            }
        )
    for name in Q_SCENARIOS:
        value = _p99(results, largest, name)
        checked.append(
            {
                "key": f"p99_{name}",
                "description": f"{name}: p99 at {largest}",
                "wanted": f"<= {Q_P99_MS:g} ms",
                "value": value,
                "met": None if value is None else value <= Q_P99_MS,
            }
        )
    return checked


def verdict(met: bool | None) -> str:
    return "not measured" if met is None else ("met" if met else "NOT MET")


def tables(results: dict[str, Any]) -> list[str]:
    sizes = _sizes(results)
    repeats = results.get("config", {}).get("repeat", 1)
    lines = [f"medians of {repeats} samples (min-max of the samples in brackets)"]
    header = f"{'scenario':<15} {'images':>9} {'req/s':>17} {'p99 ms':>21} {'growth':>7}"
    lines += [header, "-" * len(header)]
    factors = results.get("growth") or growth(results)
    for name in factors:
        for size in sizes:
            scenario = results["sizes"][size]["scenarios"].get(name)
            if scenario is None:
                continue
            ok_low, ok_high = scenario["spread"]["ok_rps"]
            p99_low, p99_high = scenario["spread"]["p99_ms"]
            factor = factors[name].get(size)
            lines.append(
                f"{name:<15} {int(size):>9,} {scenario['ok_rps']:>7.0f}"
                f" ({ok_low:.0f}-{ok_high:.0f})"
                f" {scenario['p99_ms']:>8.1f} ({p99_low:.1f}-{p99_high:.1f})"
                f" {'-' if factor is None else f'{factor:.2f}x':>7}"
            )
    lines.append("")
    for size in sizes:
        seed = results["sizes"][size]["seed"]
        rss = [w["peak_mb"] for w in results["sizes"][size].get("rss", {}).get("pixyproxy", [])]
        lines.append(
            f"{int(size):>9,} images: seed {'reused' if seed['reused'] else 'built'} in"
            f" {seed['seconds']:g} s ({seed['added']} rows added, {seed['copied']} copied);"
            f" worker peak RSS {', '.join(f'{v:.0f}' for v in rss)} MB"
        )
    lines.append("")
    header = f"{'target':<42} {'wanted':>10} {'measured':>10}  result"
    lines += [header, "-" * len(header)]
    for target in results["targets"]:
        value = target["value"]
        shown = (
            "-"
            if value is None
            else (f"{value:.2f}x" if "growth" in target["key"] else f"{value:.1f} ms")
        )
        lines.append(
            f"{target['description']:<42} {target['wanted']:>10} {shown:>10}"
            f"  {verdict(target['met'])}"
        )
    return lines
