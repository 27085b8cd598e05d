"""The benchmark harnesses (``make bench``, ``make bench-scale``) must not rot: run both end
to end in a tiny mode (tens of images, 1 s samples, 2 repeats) against the real MariaDB,
real server processes and nginx, and check what they write.

Not a performance test: no figure is compared with a target here, only their presence.
Skipped when ``wrk`` is not installed or no MySQL/MariaDB server answers
(``PIXY_REQUIRE_MYSQL=1`` turns the latter into a failure, as in the rest of the suite).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pymysql
import pytest

from bench import report
from bench.baseline import DETAIL, create_asgi_app, create_fastapi_app
from bench.loadgen import parse_output
from bench.measure import unbalanced
from bench.seed import MySQLTarget, drop_database, noise_png

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/pixyproxy_test"
GET_SCENARIOS = (
    "baseline_fastapi_json",
    "baseline_fastapi_file",
    "1_detail",
    "2_list",
    "3_content",
    "6_content_nginx",
    "6_content_inprocess",
    "6_content_offload",
)
ALL_SCENARIOS = (*GET_SCENARIOS, "4_generate", "5_detail_during_generate")
FIGURES = ("rps", "ok_rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors", "requests")
SCALE_SCENARIOS = {
    "detail", "first_page", "deep_page", "tag_common", "tag_rare", "author_common",
    "author_rare", "q_common", "q_rare", "detail_db", "deep_page_db",
}  # fmt: skip
TINY = ["--duration=1", "--warmup=0", "--repeat=2", "--connections=8", "--busy-sample=0.2"]


def _bench_mysql_url() -> str:
    """A database of this test's own on the suite's MySQL server; skip if none answers."""
    base = os.environ.get("PIXY_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)
    parts = urlsplit(base)
    try:
        pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            connect_timeout=3,
        ).close()
    except pymysql.err.MySQLError as exc:
        reason = f"MySQL not reachable at PIXY_TEST_MYSQL_URL ({exc.args[-1] if exc.args else exc})"
        if os.environ.get("PIXY_REQUIRE_MYSQL", "") not in ("", "0", "false"):
            pytest.fail(f"{reason}; PIXY_REQUIRE_MYSQL is set")
        pytest.skip(reason)
    return urlunsplit(parts._replace(path=f"/pixyproxy_bench_t{uuid.uuid4().hex[:8]}"))


def _run(module: str, url: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (Debian package wrk): the bench harness drives it")
    output = tmp_path / "results.json"
    command = [
        sys.executable, "-m", module, *TINY, f"--mysql-url={url}",
        f"--work-dir={tmp_path / 'work'}", f"--output={output}", "--no-history", *args,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "target" in done.stdout
    results: dict[str, Any] = json.loads(output.read_text())
    assert results["machine"]["cpus"] >= 1 and results["machine"]["cpu_model"]
    assert results["git"]["commit"] and results["started_at"]
    return results


def _check_samples(name: str, scenario: dict[str, Any]) -> None:
    assert scenario["repeats"] == 2 == len(scenario["samples"]), name
    for figure in FIGURES:
        assert isinstance(scenario[figure], int | float), (name, figure, scenario)
    low, high = scenario["spread"]["p99_ms"]
    assert low <= scenario["p99_ms"] <= high, name
    assert scenario["ok_requests"] == sum(s["ok_requests"] for s in scenario["samples"])


@pytest.mark.mysql
@pytest.mark.e2e
def test_bench_runs_end_to_end_in_tiny_mode(tmp_path: Path) -> None:
    url = _bench_mysql_url()
    try:
        results = _run(
            "bench.run", url, tmp_path, "--images=60", "--gen-duration=3", "--gen-clients=8",
            "--only-target-baseline", "--skip-container",
        )  # fmt: skip
    finally:
        drop_database(MySQLTarget.from_url(url))
    assert set(results["scenarios"]) == set(ALL_SCENARIOS)
    for name, scenario in results["scenarios"].items():
        _check_samples(name, scenario)
    for name in GET_SCENARIOS:
        assert results["scenarios"][name]["ok_requests"] > 0, (name, results["scenarios"][name])
    for name in ("1_detail", "2_list", "3_content", "5_detail_during_generate"):
        assert isinstance(results["scenarios"][name]["ratio_to_fastapi"], float), name
    for name, scenario in results["scenarios"].items():
        if name != "5_detail_during_generate":  # it shares the CPU figures of 4
            assert scenario["extra"]["cpu"]["workers_cores"] >= 0, name
    generate = results["scenarios"]["4_generate"]
    assert (
        sum(s["extra"]["mock_generations"] for s in generate["samples"])
        >= (generate["ok_requests"])
    )
    assert results["seed"]["images"] == 60
    assert results["seed"]["public"] + results["seed"]["private"] == 60
    assert len(results["rss"]["pixyproxy"]) == 2
    assert all(worker["peak_mb"] > 0 for worker in results["rss"]["pixyproxy"])
    assert len(results["startup"]["serve"]["samples_s"]) == 2
    assert results["startup"]["container"]["not_measured"]
    offload = results["content_offload"]
    assert offload["available"] is True  # PIXY_CONTENT_OFFLOAD, checked end to end
    keys = [t["key"] for t in results["targets"]]
    assert keys == [t.key for t in report.TARGETS]
    measured = {t["key"]: t["met"] for t in results["targets"]}
    assert measured["startup_container"] is None
    assert (measured["offload_ratio"] is None) is not offload["available"]


@pytest.mark.mysql
@pytest.mark.e2e
def test_bench_scale_runs_end_to_end_at_two_tiny_sizes(tmp_path: Path) -> None:
    url = _bench_mysql_url()
    base = MySQLTarget.from_url(url)
    try:
        results = _run("bench.scale", url, tmp_path, "--sizes=120,400")
    finally:
        for size in ("120", "400"):
            drop_database(base.with_suffix(size))
    assert set(results["sizes"]) == {"120", "400"}
    assert results["sizes"]["400"]["seed"]["copied"] == 120
    for size in ("120", "400"):
        scenarios = results["sizes"][size]["scenarios"]
        assert set(scenarios) == SCALE_SCENARIOS, size
        for name, scenario in scenarios.items():
            _check_samples(f"{size} {name}", scenario)
            assert scenario["ok_requests"] > 0 and scenario["errors"] == 0, (size, name)
    assert results["growth"]["detail"]["120"] == 1.0
    assert {t["key"] for t in results["targets"]} >= {"growth_detail", "p99_q_rare"}
    assert all(t["met"] is not None for t in results["targets"])


# --- the parts, without servers -----------------------------------------------------------


def test_wrk_figures_are_read_from_the_done_hook_line() -> None:
    stdout = (
        "Running 1s test @ http://127.0.0.1:1\n"
        'BENCH_JSON {"requests":2000,"duration_us":2000000,"bytes":4000000,'
        '"errors":{"connect":0,"read":1,"write":0,"status":10,"timeout":2},'
        '"latency_us":{"min":100,"mean":1500.5,"p50":1200,"p90":2500,"p99":9000,"max":12000},'
        '"statuses":{"200":1990,"503":10}}\n'
    )
    result = parse_output(stdout, connections=8, threads=1)
    assert result.rps == 1000.0
    assert result.ok_requests == 1990
    assert result.ok_rps == 995.0
    assert result.errors == 13
    assert (result.p50_ms, result.p99_ms) == (1.2, 9.0)
    assert result.statuses == {"200": 1990, "503": 10}
    assert result.mb_per_s == 2.0


@pytest.mark.parametrize("factory", [create_asgi_app, create_fastapi_app])
def test_baselines_answer_the_scenarios_requests(factory: Any, tmp_path: Path) -> None:
    png = tmp_path / "one.png"
    png.write_bytes(noise_png())
    app = factory(png)

    async def exercise() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            detail = await client.get(f"/image/{uuid.uuid4()}")
            assert detail.status_code == 200
            assert detail.json() == DETAIL
            content = await client.get(f"/image/{uuid.uuid4()}/content")
            assert content.status_code == 200
            assert content.headers["content-type"] == "image/png"
            assert content.content == png.read_bytes()
            assert (await client.get("/healthz")).status_code == 200

    asyncio.run(exercise())


def test_a_scenario_is_unbalanced_when_one_worker_stood_by() -> None:
    assert unbalanced([0.95, 0.05])
    assert unbalanced([0.2, 0.9])
    assert not unbalanced([0.73, 0.92])  # a usual run: both workers busy
    assert not unbalanced([0.8])  # one worker cannot be unbalanced
    assert not unbalanced([0.0, 0.0])
