"""The targets of ``make bench``, judged on one run's medians, and the printed tables.

A scenario's figures are the medians of its samples (``bench/stats.py``); its ``spread``
holds their minimum and maximum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.stats import median

BASELINE_KINDS = ("fastapi", "asgi")  # the minimal FastAPI app; the raw ASGI callable
# scenario key -> (label, what kind of answer it is: compared with the baseline of that kind)
SCENARIOS: dict[str, tuple[str, str | None]] = {
    "baseline_fastapi_json": ("baseline FastAPI: fixed ImageDetail", None),
    "baseline_fastapi_file": ("baseline FastAPI: 1 MB FileResponse", None),
    "baseline_asgi_json": ("bare ASGI: fixed ImageDetail", None),
    "baseline_asgi_file": ("bare ASGI: 1 MB FileResponse", None),
    "1_detail": ("1. GET /image/{guid}", "json"),
    "2_list": ("2. GET /image?limit=50 (+cursors)", "json"),
    "3_content": ("3. GET /image/{guid}/content", "file"),
    "4_generate": ("4. POST /image (mock 1 s)", None),
    "5_detail_during_generate": ("5. GET /image/{guid} during 4", "json"),
    "6_content_nginx": ("6a. one 1 MB file, nginx alone", None),
    "6_content_inprocess": ("6b. the same, PixyProxy in-process", None),
    "6_content_offload": ("6c. the same, PixyProxy + nginx offload", None),
}
PIXYPROXY_SCENARIOS = (
    "1_detail",
    "2_list",
    "3_content",
    "4_generate",
    "5_detail_during_generate",
    "6_content_inprocess",
    "6_content_offload",
)
RSS_LIMIT_MB = 150.0
GENERATIONS_PER_S = 60.0
OFFLOAD_SHARE = 0.8
STARTUP_LIMIT_S = 3.0


@dataclass(frozen=True)
class Target:
    key: str
    description: str
    wanted: str
    measure: Callable[[dict[str, Any]], tuple[float | None, bool | None]]


def _ok_rps(results: dict[str, Any], key: str) -> float | None:
    scenario = results["scenarios"].get(key)
    return None if scenario is None else float(scenario["ok_rps"])


def target_baseline(results: dict[str, Any]) -> str:
    """Which baseline kind the targets use in this run (``--baseline``)."""
    return str(results.get("config", {}).get("baseline", "fastapi"))


def baseline_of(key: str, kind: str) -> str | None:
    answer = SCENARIOS[key][1]
    return None if answer is None else f"baseline_{kind}_{answer}"


def ratio(results: dict[str, Any], key: str, kind: str | None = None) -> float | None:
    """Successful req/s of ``key`` over those of its baseline of ``kind`` (default: the one
    the targets use), when both were measured in this run."""
    baseline = baseline_of(key, kind or target_baseline(results))
    if baseline is None:
        return None
    mine, base = _ok_rps(results, key), _ok_rps(results, baseline)
    if mine is None or not base:
        return None
    return round(mine / base, 4)


def _ratio_at_least(key: str, minimum: float) -> Callable[[dict[str, Any]], Any]:
    def measure(results: dict[str, Any]) -> tuple[float | None, bool | None]:
        value = ratio(results, key)
        return value, None if value is None else value >= minimum

    return measure


def _generations(results: dict[str, Any]) -> tuple[float | None, bool | None]:
    scenario = results["scenarios"].get("4_generate")
    if scenario is None:
        return None, None
    value = float(scenario["ok_rps"])
    return value, value >= GENERATIONS_PER_S and scenario["errors"] == 0


def _p99_during_generation(results: dict[str, Any]) -> tuple[float | None, bool | None]:
    during = results["scenarios"].get("5_detail_during_generate")
    alone = results["scenarios"].get("1_detail")
    if during is None or alone is None or not alone["p99_ms"]:
        return None, None
    value = round(during["p99_ms"] / alone["p99_ms"], 3)
    return value, value <= 2.0


def _rss(results: dict[str, Any]) -> tuple[float | None, bool | None]:
    workers = results["rss"].get("pixyproxy", [])
    if not workers:
        return None, None
    value = max(worker["peak_mb"] for worker in workers)
    return value, value <= RSS_LIMIT_MB


def _offload(results: dict[str, Any]) -> tuple[float | None, bool | None]:
    offload, nginx = _ok_rps(results, "6_content_offload"), _ok_rps(results, "6_content_nginx")
    if offload is None or not nginx:
        return None, None
    value = round(offload / nginx, 4)
    return value, value >= OFFLOAD_SHARE


def _startup(kind: str) -> Callable[[dict[str, Any]], tuple[float | None, bool | None]]:
    def measure(results: dict[str, Any]) -> tuple[float | None, bool | None]:
        samples = results.get("startup", {}).get(kind, {}).get("samples_s", [])
        if not samples:
            return None, None
        value = round(median(samples), 3)
        return value, value <= STARTUP_LIMIT_S

    return measure


def _no_errors(results: dict[str, Any]) -> tuple[float | None, bool | None]:
    measured = [results["scenarios"][k] for k in PIXYPROXY_SCENARIOS if k in results["scenarios"]]
    if not measured:
        return None, None
    value = sum(scenario["errors"] for scenario in measured)
    return float(value), value == 0


TARGETS = (
    Target(
        "detail_ratio", "1. detail vs baseline JSON", ">= 50 %", _ratio_at_least("1_detail", 0.5)
    ),
    Target(
        "list_ratio", "2. list of 50 vs baseline JSON", ">= 25 %", _ratio_at_least("2_list", 0.25)
    ),
    Target(
        "content_ratio",
        "3. content (1 MB) vs baseline file",
        ">= 90 %",
        _ratio_at_least("3_content", 0.9),
    ),
    Target(
        "generations_per_s",
        "4. completed generations/s, 0 errors",
        f">= {GENERATIONS_PER_S:g}/s",
        _generations,
    ),
    Target(
        "p99_during_generation",
        "5. detail p99 during 4 / p99 of 1",
        "<= 2.0x",
        _p99_during_generation,
    ),
    Target(
        "offload_ratio",
        "6. offload vs nginx alone, same file",
        f">= {OFFLOAD_SHARE:.0%}",
        _offload,
    ),
    Target("worker_rss", "peak RSS of every worker", f"<= {RSS_LIMIT_MB:g} MB", _rss),
    Target(
        "startup_serve",
        "7. pixyproxy serve: start to first 200",
        f"<= {STARTUP_LIMIT_S:g} s",
        _startup("serve"),
    ),
    Target(
        "startup_container",
        "7. container: start to first 200",
        f"<= {STARTUP_LIMIT_S:g} s",
        _startup("container"),
    ),
    Target("errors", "errors in PixyProxy's scenarios", "0", _no_errors),
)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    checked = []
    for target in TARGETS:
        value, met = target.measure(results)
        checked.append(
            {
                "key": target.key,
                "description": target.description,
                "wanted": target.wanted,
                "value": value,
                "met": met,
            }
        )
    return checked


def _spread(scenario: dict[str, Any], figure: str) -> tuple[float, float]:
    low, high = scenario.get("spread", {}).get(figure, (scenario[figure], scenario[figure]))
    return float(low), float(high)


def format_value(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    if key.endswith("_ratio"):
        return f"{value:.1%}"
    if key == "generations_per_s":
        return f"{value:.1f}/s"
    if key == "p99_during_generation":
        return f"{value:.2f}x"
    if key == "worker_rss":
        return f"{value:.1f} MB"
    if key.startswith("startup_"):
        return f"{value:.2f} s"
    return f"{value:g}"


def tables(results: dict[str, Any]) -> list[str]:
    lines = []
    repeats = results.get("config", {}).get("repeat", 1)
    lines.append(f"medians of {repeats} samples; ok/s and p99 also as min-max of the samples")
    header = (
        f"{'scenario':<40} {'req/s':>9} {'ok/s':>9} {'ok/s min-max':>17} {'p50 ms':>8}"
        f" {'p99 ms':>8} {'p99 min-max':>13} {'errors':>7}  {'vs FastAPI':>10} {'vs ASGI':>8}"
    )
    lines += [header, "-" * len(header)]
    for key, (label, _baseline) in SCENARIOS.items():
        scenario = results["scenarios"].get(key)
        if scenario is None:
            continue
        fastapi, asgi = ratio(results, key, "fastapi"), ratio(results, key, "asgi")
        ok_low, ok_high = _spread(scenario, "ok_rps")
        p99_low, p99_high = _spread(scenario, "p99_ms")
        lines.append(
            f"{label:<40} {scenario['rps']:>9.1f} {scenario['ok_rps']:>9.1f}"
            f" {f'{ok_low:.0f}-{ok_high:.0f}':>17} {scenario['p50_ms']:>8.2f}"
            f" {scenario['p99_ms']:>8.2f} {f'{p99_low:.1f}-{p99_high:.1f}':>13}"
            f" {scenario['errors']:>7d}"
            f"  {'-' if fastapi is None else f'{fastapi:.1%}':>10}"
            f" {'-' if asgi is None else f'{asgi:.1%}':>8}"
        )
    offload = results.get("content_offload")
    if offload and not offload.get("available"):
        lines.append(f"{SCENARIOS['6_content_offload'][0]:<40} {offload.get('reason')}")
    for kind, started in results.get("startup", {}).items():
        samples = started.get("samples_s", [])
        shown = ", ".join(f"{v:.2f}" for v in samples) if samples else started.get("not_measured")
        lines.append(f"7. start to first 200, {kind}: {shown} s")
    lines.append("")
    lines.append(
        f"{'CPU while it ran, in cores':<36} {'workers':>9} {'MariaDB':>9} {'wrk':>8}"
        f" {'irq':>8} {'others':>8} {'steal':>6}"
    )
    for key, (label, _kind) in SCENARIOS.items():
        cpu = results["scenarios"].get(key, {}).get("extra", {}).get("cpu")
        if cpu:
            lines.append(
                f"{label:<36} {cpu['workers_cores']:>9.2f} {cpu['mariadb_cores']:>9.2f}"
                f" {cpu['load_generator_cores']:>8.2f} {cpu['interrupt_cores']:>8.2f}"
                f" {cpu['other_cores']:>8.2f} {cpu['steal_cores']:>6.2f}"
            )
    lines.append("")
    lines.append(f"{'worker (peak RSS, VmHWM)':<36} {'MB':>9}")
    for server, workers in results["rss"].items():
        for worker in workers:
            lines.append(f"{server + ' pid ' + str(worker['pid']):<36} {worker['peak_mb']:>9.1f}")
    lines.append("")
    kind = "minimal FastAPI" if target_baseline(results) == "fastapi" else "bare ASGI"
    lines.append(f"targets: ratios to the {kind} baseline of this run")
    header = f"{'target':<42} {'wanted':>10} {'measured':>10}  result"
    lines += [header, "-" * len(header)]
    for target in results["targets"]:
        met = target["met"]
        verdict = "not measured" if met is None else ("met" if met else "NOT MET")
        lines.append(
            f"{target['description']:<42} {target['wanted']:>10}"
            f" {format_value(target['key'], target['value']):>10}  {verdict}"
        )
    return lines
