"""Target judging and rendering of both runs, and of the README section, from results
made here (no server, no timing)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import readme, report, scale_report


def scenario(ok_rps: float, p99_ms: float = 10.0, errors: int = 0) -> dict[str, Any]:
    return {
        "rps": ok_rps,
        "ok_rps": ok_rps,
        "p50_ms": 1.0,
        "p99_ms": p99_ms,
        "errors": errors,
        "spread": {"ok_rps": [ok_rps * 0.9, ok_rps * 1.1], "p99_ms": [p99_ms, p99_ms * 2]},
    }


def bench_results() -> dict[str, Any]:
    return {
        "config": {"images": 10_000, "repeat": 3, "duration_s": 10},
        "started_at": "2026-12-01T20:00:00Z",
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "machine": {
            "cpus": 2,
            "cpu_model": "EPYC",
            "mem_total_mb": 24_000,
            "kernel": "6.1",
            "cpu_busy_pct_before": 3.0,
        },
        "scenarios": {
            "baseline_fastapi_json": scenario(1000),
            "baseline_fastapi_file": scenario(100),
            "baseline_asgi_json": scenario(8000),
            "baseline_asgi_file": scenario(110),
            "1_detail": scenario(500, p99_ms=10),
            "2_list": scenario(240),
            "3_content": scenario(95),
            "4_generate": scenario(61),
            "5_detail_during_generate": scenario(400, p99_ms=21),
            "6_content_nginx": scenario(3000),
            "6_content_inprocess": scenario(900),
            "6_content_offload": scenario(2500),
        },
        "rss": {"pixyproxy": [{"pid": 1, "peak_mb": 140.0}, {"pid": 2, "peak_mb": 151.0}]},
        "startup": {"serve": {"samples_s": [2.0, 3.5, 2.5]}, "container": {"samples_s": []}},
    }


def test_run_targets_are_judged_on_the_medians_of_the_same_run() -> None:
    results = bench_results()
    met = {t["key"]: t["met"] for t in report.evaluate(results)}
    assert met == {
        "detail_ratio": True,
        "list_ratio": False,
        "content_ratio": True,
        "generations_per_s": True,
        "p99_during_generation": False,
        "offload_ratio": True,  # 2500 / 3000 = 83 %
        "worker_rss": False,  # 151 MB > 150 MB
        "startup_serve": True,  # the median, 2.5 s: one slow sample does not decide
        "startup_container": None,  # not measured
        "errors": True,
    }
    assert report.ratio(results, "1_detail", "asgi") == 0.0625
    results["config"]["baseline"] = "asgi"
    assert {t["key"]: t["met"] for t in report.evaluate(results)}["detail_ratio"] is False


def test_offload_below_80_percent_of_nginx_alone_is_not_met_and_absent_is_not_measured() -> None:
    results = bench_results()
    results["scenarios"]["6_content_offload"] = scenario(2399)
    assert {t["key"]: t for t in report.evaluate(results)}["offload_ratio"]["met"] is False
    del results["scenarios"]["6_content_offload"]
    results["content_offload"] = {"available": False, "reason": "not available: no setting"}
    assert {t["key"]: t for t in report.evaluate(results)}["offload_ratio"]["met"] is None
    text = "\n".join(report.tables({**results, "targets": report.evaluate(results)}))
    assert "not available: no setting" in text


def test_the_run_table_shows_medians_and_their_spread() -> None:
    results = bench_results()
    results["targets"] = report.evaluate(results)
    text = "\n".join(report.tables(results))
    assert "medians of 3 samples" in text
    assert "450-550" in text  # ok/s of 1_detail, min-max
    assert "2.00, 3.50, 2.50" in text  # start-up samples


def scale_results(p99: dict[str, dict[int, float]]) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    for name, by_size in p99.items():
        for size, value in by_size.items():
            entry = sizes.setdefault(
                str(size),
                {
                    "scenarios": {},
                    "seed": {"images": size, "reused": False, "seconds": 1.5, "added": size,
                             "copied": 0},
                    "rss": {"pixyproxy": [{"pid": 1, "peak_mb": 120.0}]},
                },
            )  # fmt: skip
            entry["scenarios"][name] = scenario(1000, p99_ms=value)
    results = {
        "sizes": sizes,
        "config": {"repeat": 3, "duration_s": 10},
        "started_at": "2026-12-01T20:00:00Z",
        "git": {"commit": "0123456789abcdef", "dirty": True},
        "machine": bench_results()["machine"],
    }
    results["growth"] = scale_report.growth(results)
    results["targets"] = scale_report.evaluate(results)
    return results


def test_scale_growth_is_p99_over_the_smallest_size_and_judged_at_the_largest() -> None:
    results = scale_results(
        {
            "detail": {10_000: 10.0, 100_000: 30.0, 1_000_000: 15.0},  # 1.5x at 1M: met
            "first_page": {10_000: 10.0, 100_000: 10.0, 1_000_000: 15.1},
            "detail_db": {10_000: 40.0, 1_000_000: 52.0},  # the database path: 1.3x
            "q_common": {10_000: 5.0, 1_000_000: 99.0},
            "q_rare": {10_000: 5.0, 1_000_000: 420.0},
        }
    )
    assert results["growth"]["detail"] == {"10000": 1.0, "100000": 3.0, "1000000": 1.5}
    met = {t["key"]: t["met"] for t in results["targets"]}
    assert met["growth_detail"] is True
    assert met["growth_first_page"] is False
    assert met["growth_deep_page"] is None  # not measured
    assert met["growth_detail_db"] is True
    assert met["growth_deep_page_db"] is None
    assert met["p99_q_common"] is True
    assert met["p99_q_rare"] is False
    text = "\n".join(scale_report.tables(results))
    assert "3.00x" in text and "NOT MET" in text


def test_one_size_has_no_growth_to_judge() -> None:
    results = scale_results({"detail": {10_000: 10.0}})
    assert {t["key"]: t["met"] for t in results["targets"]}["growth_detail"] is None


def test_the_readme_section_names_the_machine_commit_and_every_figure() -> None:
    bench = bench_results()
    bench["targets"] = report.evaluate(bench)
    scale = scale_results({"detail": {10_000: 10.0, 1_000_000: 12.5}})
    text = readme.section(bench, scale)
    assert text.startswith(readme.START) and text.endswith(readme.END)
    assert "2 x EPYC, 23 GiB, Linux 6.1; 2026-12-01, commit 0123456789" in text
    assert "(uncommitted changes)" in text  # the scale results came from a dirty tree
    assert "| 1. GET /image/{guid} | 500 (450-550) | 10.0 (10.0-20.0) |" in text
    assert "| detail | 10.0 (1.00x) | 12.5 (1.25x) |" in text
    assert "NOT MET" in text  # the RSS target of these results
    assert "No results" in readme.section(None, None)


def test_the_section_replaces_only_what_is_between_the_markers() -> None:
    text = f"before\n{readme.START}\nold\n{readme.END}\nafter\n"
    assert readme.replaced(text, "NEW") == "before\nNEW\nafter\n"
    with pytest.raises(ValueError, match=r"no .* section"):
        readme.replaced("no markers", "NEW")
