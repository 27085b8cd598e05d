"""The benchmark harness (``make bench``) must not rot: run it end to end in a tiny mode
against the real MariaDB and real server processes, and check what it writes.

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
from pixyproxy.data.png import png_dimensions

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/pixyproxy_test"
GET_SCENARIOS = (
    "baseline_fastapi_json",
    "baseline_fastapi_file",
    "1_detail",
    "2_list",
    "3_content",
)
ALL_SCENARIOS = (*GET_SCENARIOS, "4_generate", "5_detail_during_generate")
FIGURES = ("rps", "ok_rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors", "requests")


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


@pytest.mark.mysql
@pytest.mark.e2e
def test_bench_runs_end_to_end_in_tiny_mode(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (Debian package wrk): the bench harness drives it")
    url = _bench_mysql_url()
    output = tmp_path / "results.json"
    command = [
        sys.executable,
        "-m",
        "bench.run",
        "--images=60",
        "--duration=1",
        "--warmup=0",
        "--gen-duration=3",
        "--gen-clients=8",
        "--connections=8",
        "--busy-sample=0.2",
        f"--mysql-url={url}",
        f"--work-dir={tmp_path / 'work'}",
        f"--output={output}",
        "--no-history",
        "--only-target-baseline",  # the bare ASGI app is checked in-process below
    ]
    try:
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=240, check=False
        )
    finally:
        drop_database(MySQLTarget.from_url(url))
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "target" in done.stdout
    assert "vs baseline" in done.stdout

    results: dict[str, Any] = json.loads(output.read_text())
    assert set(results["scenarios"]) == set(ALL_SCENARIOS)
    for name, scenario in results["scenarios"].items():
        for figure in FIGURES:
            assert isinstance(scenario[figure], int | float), (name, figure, scenario)
    for name in GET_SCENARIOS:
        assert results["scenarios"][name]["ok_requests"] > 0, (name, results["scenarios"][name])
    for name in ("1_detail", "2_list", "3_content", "5_detail_during_generate"):
        assert isinstance(results["scenarios"][name]["ratio_to_fastapi"], float), name
    for name, scenario in results["scenarios"].items():
        if name != "5_detail_during_generate":  # it shares the CPU figures of 4
            assert scenario["extra"]["cpu"]["workers_cores"] >= 0, name
            assert len(scenario["extra"]["workers_each_cores"]) == 2, name
    generate = results["scenarios"]["4_generate"]
    assert generate["extra"]["mock_generations"] >= generate["ok_requests"]
    assert results["seed"]["images"] == 60
    assert results["seed"]["public"] + results["seed"]["private"] == 60
    assert len(results["rss"]["pixyproxy"]) == 2
    assert all(worker["peak_mb"] > 0 for worker in results["rss"]["pixyproxy"])
    assert len(results["rss"]["baseline_fastapi"]) == 2
    assert [t["key"] for t in results["targets"]] == [t.key for t in report.TARGETS]
    assert all(isinstance(t["met"], bool) for t in results["targets"]), results["targets"]
    assert results["machine"]["cpus"] >= 1


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


def _scenario(ok_rps: float, p99_ms: float = 10.0, errors: int = 0) -> dict[str, Any]:
    return {"rps": ok_rps, "ok_rps": ok_rps, "p50_ms": 1.0, "p99_ms": p99_ms, "errors": errors}


def test_targets_are_ratios_to_the_baselines_of_the_same_run() -> None:
    results: dict[str, Any] = {
        "scenarios": {
            "baseline_fastapi_json": _scenario(1000),
            "baseline_fastapi_file": _scenario(100),
            "baseline_asgi_json": _scenario(8000),
            "baseline_asgi_file": _scenario(110),
            "1_detail": _scenario(500, p99_ms=10),
            "2_list": _scenario(240),
            "3_content": _scenario(95),
            "4_generate": _scenario(61),
            "5_detail_during_generate": _scenario(400, p99_ms=21),
        },
        "rss": {"pixyproxy": [{"pid": 1, "peak_mb": 150.0}, {"pid": 2, "peak_mb": 201.0}]},
    }
    met = {t["key"]: t["met"] for t in report.evaluate(results)}
    assert met == {
        "detail_ratio": True,
        "list_ratio": False,
        "content_ratio": True,
        "generations_per_s": True,
        "p99_during_generation": False,
        "worker_rss": False,
        "errors": True,
    }
    assert report.ratio(results, "1_detail", "asgi") == 0.0625
    results["config"] = {"baseline": "asgi"}
    against_asgi = {t["key"]: t["met"] for t in report.evaluate(results)}
    assert against_asgi["detail_ratio"] is False
    assert against_asgi["content_ratio"] is False

    del results["scenarios"]["baseline_asgi_json"]
    unmeasured = {t["key"]: t["met"] for t in report.evaluate(results)}
    assert unmeasured["detail_ratio"] is None
    assert unmeasured["list_ratio"] is None


def test_seed_pngs_are_real_pngs_of_about_a_megabyte() -> None:
    png = noise_png()
    assert png_dimensions(png, max_bytes=2_000_000) == (1024, 1024)
    assert 900_000 < len(png) < 1_200_000
    assert noise_png() != png


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
