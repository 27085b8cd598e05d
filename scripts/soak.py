#!/usr/bin/env python3
"""Soak test: a minute of mixed traffic at a fixed rate against a real ``pixyproxy serve``.

Starts the OpenAI mock (0.5 s per generation), ``pixyproxy serve`` (gunicorn, 2 uvicorn
workers) on a throwaway database of the MariaDB/MySQL test server, seeds a few images,
then sends an open-loop schedule: about 200 reads/s spread over detail, list and content,
and 5 generations/s. Everything runs on loopback and stops after the set duration.

Reports the error count, latency percentiles by route and the workers' resident memory
at the start and the end of the measured window. Exits 1 when a bound is broken (any
error, RSS growth of 10 % or more, a p99 over its bound, or a load generator that could
not keep the rate), 2 when the set-up fails.

    python -m scripts.soak                      # the defaults of `make soak`
    python -m scripts.soak --duration 10 --json soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pymysql

from tests.support.mock_server import mock_command
from tests.support.mysql import admin_connection, describe_error
from tests.support.mysql import throwaway_database as database_on
from tests.support.ports import free_port
from tests.support.procs import CpuTimes, busy_share, children, cpu_jiffies, memory, pids_named
from tests.support.servers import serve_command, server_env

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/pixyproxy_soak"
READ_ROUTES = ("GET /image/{guid}", "GET /image", "GET /image/{guid}/content")
WRITE_ROUTE = "POST /image"
MAX_IN_FLIGHT = 1024  # requests due but not answered; more are dropped (and counted)
REQUEST_TIMEOUT_S = 30


class SetupFailed(Exception):
    pass


# --- processes -----------------------------------------------------------------------------


def wait_http(url: str, process: subprocess.Popen[bytes], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupFailed(f"{what} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SetupFailed(f"{what} did not answer {url} within {timeout_s:.0f}s")


def stop(process: subprocess.Popen[bytes] | None, timeout_s: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def rss_kib(pid: int) -> int:
    resident = memory(pid)
    if resident is None:
        raise SetupFailed(f"worker {pid} is gone")
    return resident.rss_kib


def wait_quiet(limit_s: float, threshold: float = 0.15) -> float:
    """Wait up to ``limit_s`` for the CPUs to be under ``threshold`` busy; returns the share."""
    deadline = time.monotonic() + limit_s
    share = busy_share()
    while share >= threshold and time.monotonic() < deadline:
        print(f"waiting for a quiet machine: {share:.0%} busy", file=sys.stderr)
        time.sleep(5)
        share = busy_share()
    return share


@contextlib.contextmanager
def throwaway_database(base_url: str) -> Iterator[str]:
    """A fresh database on the server of ``base_url``; dropped afterwards."""
    try:
        admin = admin_connection(base_url, connect_timeout_s=5)
    except pymysql.err.MySQLError as exc:
        host = urlsplit(base_url).hostname
        raise SetupFailed(f"MySQL/MariaDB not reachable at {host}: {describe_error(exc)}") from None
    try:
        with database_on(admin, base_url) as url:
            yield url
    finally:
        admin.close()


# --- measurements --------------------------------------------------------------------------


@dataclass
class RouteStats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def record(self, took_ms: float, problem: str | None) -> None:
        self.latencies_ms.append(took_ms)
        if problem is not None:
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(problem)

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Run:
    routes: dict[str, RouteStats] = field(
        default_factory=lambda: {name: RouteStats() for name in (*READ_ROUTES, WRITE_ROUTE)}
    )
    warmup_errors: int = 0
    dropped: int = 0
    max_lag_s: float = 0.0
    guids: list[str] = field(default_factory=list)


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection; our server always sends Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: soak\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise HttpError("connection closed")
        status = int(status_line.split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, payload

    def close(self) -> None:
        self.writer.close()

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()


class Pool:
    """A fixed number of connections; requests queue for a free one (that wait counts)."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self.idle: asyncio.Queue[Connection | None] = asyncio.Queue()
        for _ in range(size):
            self.idle.put_nowait(None)  # opened on first use

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        connection = await self.idle.get()
        try:
            if connection is None or connection.closed:
                connection = await Connection.open(self.host, self.port)
            return await connection.request(method, path, body)
        except BaseException:
            if connection is not None:
                connection.close()
            connection = None
            raise
        finally:
            self.idle.put_nowait(connection)

    async def close(self) -> None:
        while not self.idle.empty():
            connection = self.idle.get_nowait()
            if connection is not None:
                connection.close()


async def one_request(
    pool: Pool,
    route: str,
    run: Run,
    *,
    measured: bool,
    counter: Iterator[int],
    scheduled: float,
) -> None:
    """One request; its latency runs from when it was due, so queueing here counts too."""
    body: bytes | None = None
    if route == WRITE_ROUTE:
        method, path = "POST", "/image"
        body = json.dumps({"prompt": f"soak {next(counter)}", "tags": ["soak"]}).encode()
    else:
        guid = secrets.choice(run.guids)
        method, path = (
            "GET",
            {
                "GET /image/{guid}": f"/image/{guid}",
                "GET /image": "/image?limit=20",
                "GET /image/{guid}/content": f"/image/{guid}/content",
            }[route],
        )
    problem: str | None = None
    try:
        status, payload = await asyncio.wait_for(
            pool.request(method, path, body), REQUEST_TIMEOUT_S
        )
        if status != 200:
            problem = f"{route}: {status} {payload[:200]!r}"
        elif route == WRITE_ROUTE:
            run.guids.append(json.loads(payload)["guid"])
    except (OSError, ValueError, HttpError, asyncio.IncompleteReadError, TimeoutError) as exc:
        problem = f"{route}: {exc!r}"
    took_ms = (time.monotonic() - scheduled) * 1000
    if measured:
        run.routes[route].record(took_ms, problem)
    elif problem is not None:
        run.warmup_errors += 1
        print(f"warm-up error: {problem}", file=sys.stderr)


async def schedule(
    pool: Pool,
    run: Run,
    *,
    seconds: float,
    reads_per_s: float,
    writes_per_s: float,
    measured: bool,
) -> None:
    """An open-loop schedule: requests go out at their time whatever earlier ones do."""
    events: list[tuple[float, str]] = []
    reads = itertools.cycle(READ_ROUTES)
    events += [(i / reads_per_s, next(reads)) for i in range(int(seconds * reads_per_s))]
    events += [(i / writes_per_s, WRITE_ROUTE) for i in range(int(seconds * writes_per_s))]
    events.sort()
    counter = itertools.count()
    tasks: set[asyncio.Task[None]] = set()
    start = time.monotonic()
    for at, route in events:
        delay = start + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            run.max_lag_s = max(run.max_lag_s, -delay)
        if len(tasks) >= MAX_IN_FLIGHT:
            run.dropped += 1
            continue
        task = asyncio.create_task(
            one_request(pool, route, run, measured=measured, counter=counter, scheduled=start + at)
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=60)


async def drive(url: str, args: argparse.Namespace, master_pid: int, run: Run) -> dict[str, Any]:
    parts = urlsplit(url)
    pool = Pool(parts.hostname or "127.0.0.1", parts.port or 80, args.connections)
    try:
        seeded = await asyncio.gather(
            *(
                pool.request("POST", "/image", json.dumps({"prompt": f"seed {i}"}).encode())
                for i in range(args.seed)
            )
        )
        bad = [(status, body) for status, body in seeded if status != 200]
        if bad:
            raise SetupFailed(f"seeding failed: {bad[0][0]} {bad[0][1][:200]!r}")
        run.guids.extend(json.loads(body)["guid"] for _, body in seeded)
        rates = {"reads_per_s": args.reads_per_s, "writes_per_s": args.generations_per_s}
        print(f"warm-up: {args.warmup:g}s at the same rates", file=sys.stderr)
        await schedule(pool, run, seconds=args.warmup, measured=False, **rates)
        workers = children(master_pid)
        rss_start = {pid: rss_kib(pid) for pid in workers}
        ours = [os.getpid(), master_pid, *workers, *args.other_pids]
        machine0, ours0 = CpuTimes.now(), sum(map(cpu_jiffies, ours))
        print(f"measuring: {args.duration:g}s", file=sys.stderr)
        started = time.monotonic()
        await schedule(pool, run, seconds=args.duration, measured=True, **rates)
        elapsed = time.monotonic() - started
        workers_end = children(master_pid)
        rss_end = {pid: rss_kib(pid) for pid in workers_end}
        machine1, ours1 = CpuTimes.now(), sum(map(cpu_jiffies, ours))
    finally:
        await pool.close()
    capacity = max(1, machine1.total - machine0.total)
    return {
        "cpu_share_ours": (ours1 - ours0) / capacity,
        "cpu_share_others": max(0, (machine1.busy - machine0.busy) - (ours1 - ours0)) / capacity,
        "elapsed_s": elapsed,
        "workers_start": workers,
        "workers_end": workers_end,
        "rss_start_kib": rss_start,
        "rss_end_kib": rss_end,
    }


# --- report --------------------------------------------------------------------------------


def report(
    run: Run, measured: dict[str, Any], args: argparse.Namespace
) -> tuple[dict[str, Any], list[str]]:
    broken: list[str] = []
    rows = {}
    for route, stats in run.routes.items():
        rows[route] = {
            "requests": len(stats.latencies_ms),
            "errors": stats.errors,
            "p50_ms": round(stats.percentile(50), 1),
            "p95_ms": round(stats.percentile(95), 1),
            "p99_ms": round(stats.percentile(99), 1),
            "max_ms": round(max(stats.latencies_ms, default=0.0), 1),
        }
        bound = args.max_generate_p99_ms if route == WRITE_ROUTE else args.max_read_p99_ms
        if rows[route]["p99_ms"] > bound:
            broken.append(f"p99 of {route} is {rows[route]['p99_ms']} ms (bound {bound} ms)")
    errors = sum(stats.errors for stats in run.routes.values()) + run.warmup_errors + run.dropped
    if errors:
        broken.append(f"{errors} errors")
        for stats in run.routes.values():
            broken += [f"  e.g. {sample}" for sample in stats.error_samples]
    rss_start = sum(measured["rss_start_kib"].values())
    rss_end = sum(measured["rss_end_kib"].values())
    growth = (rss_end - rss_start) / rss_start if rss_start else 0.0
    if measured["workers_start"] != measured["workers_end"]:
        broken.append(f"workers changed: {measured['workers_start']} -> {measured['workers_end']}")
    elif growth >= args.max_rss_growth:
        broken.append(f"worker RSS grew {growth:.1%} (bound {args.max_rss_growth:.0%})")
    reads = sum(rows[route]["requests"] for route in READ_ROUTES)
    writes = rows[WRITE_ROUTE]["requests"]
    if run.max_lag_s > 1.0:
        broken.append(f"the load generator fell {run.max_lag_s:.1f}s behind its schedule")
    summary = {
        "duration_s": round(measured["elapsed_s"], 1),
        "target": {"reads_per_s": args.reads_per_s, "generations_per_s": args.generations_per_s},
        "achieved": {
            "reads_per_s": round(reads / measured["elapsed_s"], 1),
            "generations_per_s": round(writes / measured["elapsed_s"], 2),
        },
        "errors": errors,
        "dropped": run.dropped,
        "max_schedule_lag_ms": round(run.max_lag_s * 1000, 1),
        "cpu_share": {
            "soak": round(measured["cpu_share_ours"], 3),
            "other_processes": round(measured["cpu_share_others"], 3),
        },
        "routes": rows,
        "rss_kib": {
            "start": measured["rss_start_kib"],
            "end": measured["rss_end_kib"],
            "total_start": rss_start,
            "total_end": rss_end,
            "growth": round(growth, 4),
        },
        "broken": broken,
    }
    return summary, broken


def print_report(summary: dict[str, Any]) -> None:
    print(f"soak: {summary['duration_s']}s, target {summary['target']}, got {summary['achieved']}")
    print(f"errors: {summary['errors']} (dropped {summary['dropped']})")
    print(f"{'route':<28}{'requests':>9}{'errors':>8}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    for route, row in summary["routes"].items():
        print(
            f"{route:<28}{row['requests']:>9}{row['errors']:>8}{row['p50_ms']:>9.1f}"
            f"{row['p95_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['max_ms']:>9.1f}"
        )
    rss = summary["rss_kib"]
    per_worker = ", ".join(
        f"{pid}: {rss['start'][pid] // 1024}->{rss['end'].get(pid, 0) // 1024} MiB"
        for pid in rss["start"]
    )
    print(
        f"worker RSS: {rss['total_start'] // 1024} MiB -> {rss['total_end'] // 1024} MiB "
        f"({rss['growth']:+.1%}; {per_worker})"
    )
    print(f"schedule lag (max): {summary['max_schedule_lag_ms']} ms")
    cpu = summary["cpu_share"]
    print(
        f"CPU of the machine: {cpu['soak']:.0%} this soak (service, mock, load), "
        f"{cpu['other_processes']:.0%} other processes"
    )
    if cpu["other_processes"] > 0.2:
        print("warning: other processes used the CPUs meanwhile; the figures may not hold")
    print("PASS" if not summary["broken"] else "FAIL:\n  " + "\n  ".join(summary["broken"]))


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60, help="measured seconds (60)")
    parser.add_argument("--warmup", type=float, default=10, help="seconds before measuring (10)")
    parser.add_argument("--reads-per-s", type=float, default=200)
    parser.add_argument("--generations-per-s", type=float, default=5)
    parser.add_argument("--mock-delay", type=float, default=0.5, help="seconds per generation")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20, help="images made before the load")
    parser.add_argument(
        "--connections", type=int, default=64, help="keep-alive connections to the service (64)"
    )
    parser.add_argument(
        "--mysql-url",
        default=os.environ.get("PIXY_TEST_MYSQL_URL", DEFAULT_MYSQL_URL),
        help="server on which a throwaway database is made (PIXY_TEST_MYSQL_URL)",
    )
    parser.add_argument("--max-rss-growth", type=float, default=0.10)
    parser.add_argument("--max-read-p99-ms", type=float, default=500)
    parser.add_argument("--max-generate-p99-ms", type=float, default=2500)
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for the CPUs to be under 15%% busy",
    )
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--keep-logs", action="store_true", help="print where the logs are")
    args = parser.parse_args(argv)
    if not (0 < args.duration <= 3600 and 0 <= args.warmup <= 600):
        parser.error("--duration must be in (0, 3600] and --warmup in [0, 600]")
    if not (0 < args.reads_per_s <= 5000 and 0 < args.generations_per_s <= 100):
        parser.error("rates must be positive: at most 5000 reads/s and 100 generations/s")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.wait_quiet > 0:
        wait_quiet(args.wait_quiet)
    workdir = Path(tempfile.mkdtemp(prefix="pixyproxy-soak-"))
    mock: subprocess.Popen[bytes] | None = None
    server: subprocess.Popen[bytes] | None = None
    logs = (workdir / "mock.log").open("wb"), (workdir / "server.log").open("wb")
    try:
        with throwaway_database(args.mysql_url) as database_url:
            mock_port, port = free_port(), free_port()
            mock = subprocess.Popen(
                mock_command(mock_port, delay_s=args.mock_delay),
                stdout=logs[0],
                stderr=subprocess.STDOUT,
            )
            wait_http(f"http://127.0.0.1:{mock_port}/healthz", mock, "the OpenAI mock")
            env = server_env(
                database_url=database_url,
                storage_dir=workdir / "images",
                image_provider="openai",
                openai_api_key="sk-soak",
                openai_base_url=f"http://127.0.0.1:{mock_port}/v1",
                anonymous_generation=True,
            )
            server = subprocess.Popen(
                serve_command(port, workers=args.workers),
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                cwd=REPO,
            )
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/readyz", server, "pixyproxy serve")
            run = Run()
            args.other_pids = [mock.pid, *pids_named("mariadbd", "mysqld")]
            measured = asyncio.run(drive(url, args, server.pid, run))
            summary, broken = report(run, measured, args)
    except SetupFailed as exc:
        print(f"soak: set-up failed: {exc} (logs in {workdir})", file=sys.stderr)
        args.keep_logs = True
        return 2
    finally:
        stop(server)
        stop(mock)
        for log in logs:
            log.close()
        if args.keep_logs:
            print(f"logs: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
