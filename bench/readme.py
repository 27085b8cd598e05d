"""``make bench-report``: the README's performance figures, made from the committed results
(``bench/results.json`` of ``make bench``, ``bench/results-scale.json`` of
``make bench-scale``) and written between the README's two marker comments. Never typed by
hand: ``tests/bench/test_readme.py`` checks that the README holds what this makes.

    .venv/bin/python -m bench.readme            # rewrite the section
    .venv/bin/python -m bench.readme --check    # exit 1 when the README differs
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import report, scale_report
from bench.servers import REPO

START = "<!-- bench-report:start (made by `make bench-report` from bench/results*.json) -->"
END = "<!-- bench-report:end -->"
RESULTS = REPO / "bench" / "results.json"
SCALE_RESULTS = REPO / "bench" / "results-scale.json"
README = REPO / "README.md"


def _machine(results: dict[str, Any]) -> str:
    info = results["machine"]
    commit = results["git"]["commit"][:10] + (
        " (uncommitted changes)" if results["git"]["dirty"] else ""
    )
    return (
        f"{info['cpus']} x {info['cpu_model']}, {info['mem_total_mb'] / 1024:.0f} GiB,"
        f" Linux {info['kernel']}; {results['started_at'][:10]}, commit {commit};"
        f" {info['cpu_busy_pct_before']:g} % busy before the run"
    )


def _range(scenario: dict[str, Any], figure: str, digits: int) -> str:
    low, high = scenario["spread"][figure]
    return f"{low:,.{digits}f}-{high:,.{digits}f}"


def _bench(results: dict[str, Any]) -> list[str]:
    config = results["config"]
    lines = [
        f"`make bench` ({config['images']:,} images; each scenario {config['repeat']} x"
        f" {config['duration_s']:g} s, medians with the min-max of the samples):"
        f" {_machine(results)}.",
        "",
        "| scenario | ok/s | p99 ms |",
        "|---|---|---|",
    ]
    for key, (label, _kind) in report.SCENARIOS.items():
        scenario = results["scenarios"].get(key)
        if scenario is None:
            continue
        lines.append(
            f"| {label} | {scenario['ok_rps']:,.0f} ({_range(scenario, 'ok_rps', 0)})"
            f" | {scenario['p99_ms']:.1f} ({_range(scenario, 'p99_ms', 1)}) |"
        )
    offload = results.get("content_offload", {})
    if offload and not offload.get("available"):
        lines.append(f"| {report.SCENARIOS['6_content_offload'][0]} | {offload.get('reason')} | |")
    lines += ["", "| target | wanted | median | result |", "|---|---|---|---|"]
    for target in results["targets"]:
        value = report.format_value(target["key"], target["value"])
        lines.append(
            f"| {target['description']} | {target['wanted']} | {value} |"
            f" {scale_report.verdict(target['met'])} |"
        )
    return lines


def _scale(results: dict[str, Any]) -> list[str]:
    sizes = sorted(results["sizes"], key=int)
    config = results["config"]
    lines = [
        f"`make bench-scale` (each scenario {config['repeat']} x {config['duration_s']:g} s;"
        f" p99 in ms, median, and its growth over {int(sizes[0]):,} images): {_machine(results)}.",
        "",
        "| scenario | " + " | ".join(f"{int(s):,}" for s in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name, factors in results["growth"].items():
        cells = []
        for size in sizes:
            scenario = results["sizes"][size]["scenarios"].get(name)
            factor = factors.get(size)
            cells.append(
                "-"
                if scenario is None
                else f"{scenario['p99_ms']:.1f}" + ("" if factor is None else f" ({factor:.2f}x)")
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    seeds = [results["sizes"][s]["seed"] for s in sizes]
    built = [f"{int(s['images']):,} in {s['seconds']:g} s" for s in seeds if not s["reused"]]
    if built:
        lines += ["", f"Seeding (LOAD DATA and hard links, this run): {', '.join(built)}."]
    lines += ["", "| target | wanted | median | result |", "|---|---|---|---|"]
    for target in results["targets"]:
        value = target["value"]
        shown = (
            "-"
            if value is None
            else (f"{value:.2f}x" if target["key"].startswith("growth") else f"{value:.1f} ms")
        )
        lines.append(
            f"| {target['description']} | {target['wanted']} | {shown} |"
            f" {scale_report.verdict(target['met'])} |"
        )
    return lines


def section(bench: dict[str, Any] | None, scale: dict[str, Any] | None) -> str:
    """The text between the markers for these results (either may be missing)."""
    parts: list[list[str]] = []
    if bench is not None:
        parts.append(_bench(bench))
    if scale is not None:
        parts.append(_scale(scale))
    if not parts:
        parts.append(
            [
                "No results are committed yet: `make bench`, `make bench-scale`, then"
                " `make bench-report`."
            ]
        )
    body = "\n\n".join("\n".join(part) for part in parts)
    return f"{START}\n{body}\n{END}"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def replaced(readme: str, new_section: str) -> str:
    """``readme`` with the text between (and including) the markers replaced."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {START} ... {END} section")
    return readme[:start] + new_section + readme[end + len(END) :]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the README differs")
    args = parser.parse_args(argv)
    current = README.read_text()
    wanted = replaced(current, section(_load(RESULTS), _load(SCALE_RESULTS)))
    if args.check:
        if wanted != current:
            print("README.md: the performance section is not what `make bench-report` makes")
            return 1
        return 0
    README.write_text(wanted)
    print(f"wrote the performance section of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
