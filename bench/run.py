"""``make bench``: seed MariaDB, start PixyProxy and two baselines under the same gunicorn
settings, load them with wrk, and check the targets of issue 7.

    .venv/bin/python -m bench.run                 # the full run, about 4-5 minutes
    .venv/bin/python -m bench.run --strict        # exit 1 unless every target is met
    .venv/bin/python -m bench.run --scenarios 1,2 --profile   # py-spy while 1 and 2 run

Exit codes: 0 after a run whatever the targets (1 with ``--strict`` when one is not met),
2 when the harness itself failed (no wrk, no MariaDB, a server that does not start...).
See ``bench/README.md`` for how to read the output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import report
from bench.loadgen import LoadError, LoadResult, WrkRun, wrk_path
from bench.profile import Recording, summarize
from bench.seed import DEFAULT_MYSQL_URL, MySQLTarget, Seeded, SeedError, remove_generated, seed
from bench.servers import (
    REPO,
    MemoryWatch,
    Server,
    ServerError,
    clean_environment,
    start_baseline,
    start_mock,
    start_pixyproxy,
)
from tests.support import tokens
from tests.support.procs import CpuTimes, busy_share, cpu_seconds, pids_named

ALL_SCENARIOS = (1, 2, 3, 4, 5)
LIST_LIMIT = 50
QUIET_PCT = 15.0  # busier than this before the run: the figures carry other people's load
# A GET scenario in which a worker used less than this share of the busiest worker's CPU is
# measured once more (see Runner.load).
UNBALANCED_SHARE = 0.5
BENCH_SUBJECT = "bench"
JWT_AUDIENCE = "pixyproxy"


class HarnessError(RuntimeError):
    """Something the bench needs is missing or broken: exit 2."""


@dataclass
class Options:
    images: int
    duration_s: float
    warmup_s: float
    gen_duration_s: float
    gen_clients: int
    mock_delay_s: float
    connections: int
    threads: int
    workers: int
    mysql_url: str
    work_dir: Path
    output: Path
    history_dir: Path | None
    skip_baseline: bool
    baseline: str
    baseline_kinds: tuple[str, ...]
    scenarios: tuple[int, ...]
    profile: bool
    strict: bool
    busy_sample_s: float
    wait_quiet_s: float
    server_env: dict[str, str] = field(default_factory=dict)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--images", type=int, default=10_000, help="images to seed (10000)")
    parser.add_argument("--duration", type=float, default=20, help="seconds per GET scenario")
    parser.add_argument(
        "--warmup",
        type=float,
        default=8,
        help="unmeasured seconds before each GET scenario (default %(default)s: long enough "
        "for each worker's image cache to fill, as in a server that has run a while)",
    )
    parser.add_argument(
        "--gen-duration", type=float, default=25, help="seconds of scenario 4 (5 runs inside it)"
    )
    parser.add_argument("--gen-clients", type=int, default=100, help="concurrent POST clients")
    parser.add_argument("--mock-delay", type=float, default=1.0, help="mock answer delay, s")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections for GETs")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads per wrk process")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both servers")
    parser.add_argument(
        "--mysql-url",
        default=os.environ.get("PIXY_BENCH_MYSQL_URL", DEFAULT_MYSQL_URL),
        help="the bench's own database (env PIXY_BENCH_MYSQL_URL); it is dropped and reseeded",
    )
    parser.add_argument("--work-dir", type=Path, default=REPO / "var" / "bench")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results.json")
    parser.add_argument(
        "--history-dir",
        type=Path,
        default=REPO / "bench" / "results",
        help="a dated copy of every run's results goes here",
    )
    parser.add_argument("--no-history", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true", help="no baseline, no ratios")
    parser.add_argument(
        "--baseline",
        choices=report.BASELINE_KINDS,
        default="fastapi",
        help="what the target ratios compare with: the minimal FastAPI app (default) or the\n"
        "bare ASGI callable; both are measured unless --only-target-baseline",
    )
    parser.add_argument(
        "--only-target-baseline",
        action="store_true",
        help="measure only the baseline the targets use (saves ~50 s)",
    )
    parser.add_argument(
        "--scenarios", default="1,2,3,4,5", help="which of 1-5 to run (comma-separated)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the workers during 1, 2 and 3 (slows them)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 unless all targets met")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be under 15 %% busy",
    )
    parser.add_argument(
        "--busy-sample", type=float, default=2.0, help="seconds to sample CPU use before the run"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra server setting, e.g. PIXY_THREADS=8 (both servers; repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        scenarios = tuple(sorted({int(part) for part in args.scenarios.split(",") if part}))
    except ValueError:
        parser.error("--scenarios: numbers from 1 to 5, comma-separated")
    if not scenarios or not set(scenarios) <= set(ALL_SCENARIOS):
        parser.error("--scenarios: numbers from 1 to 5, comma-separated")
    if 5 in scenarios and 4 not in scenarios:
        parser.error("--scenarios: 5 runs inside 4")
    server_env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--env {item!r}: expected KEY=VALUE")
        server_env[key] = value
    if args.images < 1 or args.duration < 1 or args.gen_duration < 1 or args.gen_clients < 1:
        parser.error("--images, --duration, --gen-duration and --gen-clients must be >= 1")
    return Options(
        images=args.images,
        duration_s=args.duration,
        warmup_s=max(0.0, args.warmup),
        gen_duration_s=args.gen_duration,
        gen_clients=args.gen_clients,
        mock_delay_s=args.mock_delay,
        connections=args.connections,
        threads=args.threads,
        workers=args.workers,
        mysql_url=args.mysql_url,
        work_dir=args.work_dir.resolve(),
        output=args.output.resolve(),
        history_dir=None if args.no_history else args.history_dir.resolve(),
        skip_baseline=args.skip_baseline,
        baseline=args.baseline,
        baseline_kinds=()
        if args.skip_baseline
        else (args.baseline,)
        if args.only_target_baseline
        else report.BASELINE_KINDS,
        scenarios=scenarios,
        profile=args.profile,
        strict=args.strict,
        busy_sample_s=max(0.1, args.busy_sample),
        wait_quiet_s=max(0.0, args.wait_quiet),
        server_env=server_env,
    )


# --- the machine -----------------------------------------------------------------------------


def cpu_busy_pct(seconds: float = 2.0) -> float:
    """How busy the whole machine is, sampled over ``seconds`` (before the bench loads it)."""
    return round(100 * busy_share(seconds), 1)


def _loadavg() -> list[float]:
    with open("/proc/loadavg") as loadavg:
        return [float(v) for v in loadavg.read().split()[:3]]


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_mb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_mb = int(line.split()[1]) // 1024
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_total_mb": mem_mb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "hostname": platform.node(),
    }


def _git() -> dict[str, Any]:
    def run(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip()

    return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}


def _cores(pids: list[int], before_s: float, elapsed_s: float) -> float:
    """Cores used on average by ``pids`` since ``before_s`` CPU seconds (0 if they are gone)."""
    return max(0.0, round((sum(cpu_seconds(p) for p in pids) - before_s) / elapsed_s, 2))


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def cpu_split(workers: list[int], into: dict[str, Any]) -> Iterator[None]:
    """CPU use during the block, in cores: the server's workers, MariaDB, the load generators
    this process started and reaped in the block (wrk, py-spy), interrupt work (loopback
    networking), and what is left: other processes on the machine (other people's work,
    which skews the figures); plus what the hypervisor took (steal).
    """
    database = pids_named("mariadbd", "mysqld")
    before = CpuTimes.now()
    workers_each0 = [cpu_seconds(pid) for pid in workers]
    workers0 = sum(workers_each0)
    database0 = sum(cpu_seconds(pid) for pid in database)
    children0 = _children_cpu_s()
    started = time.monotonic()
    yield
    elapsed = max(time.monotonic() - started, 1e-9)
    after = CpuTimes.now()
    cpus = os.cpu_count() or 1
    total = max(1, after.total - before.total)

    def share(jiffies: int) -> float:
        return jiffies / total * cpus  # in cores

    busy = share(after.busy - before.busy)
    into["workers_each_cores"] = [
        _cores([pid], before_s, elapsed)
        for pid, before_s in zip(workers, workers_each0, strict=True)
    ]
    split = {
        "workers_cores": _cores(workers, workers0, elapsed),
        "mariadb_cores": _cores(database, database0, elapsed),
        "load_generator_cores": max(0.0, round((_children_cpu_s() - children0) / elapsed, 2)),
        "interrupt_cores": round(share(after.interrupts - before.interrupts), 2),
    }
    into["cpu"] = {
        "machine_busy_pct": round(100 * busy / cpus, 1),
        **split,
        "other_cores": max(0.0, round(busy - sum(split.values()), 2)),
        "steal_cores": round(share(after.steal - before.steal), 2),
        "cores": cpus,
    }


# --- helpers -----------------------------------------------------------------------------


def unbalanced(cores_each: list[float]) -> bool:
    """Whether one worker did most of a scenario's work while another stood by."""
    return len(cores_each) > 1 and min(cores_each) < UNBALANCED_SHARE * max(cores_each)


def write_paths(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def collect_list_paths(url: str, max_pages: int) -> tuple[list[str], int]:
    """Page once through ``GET /image?limit=50`` by its Link headers: the cursor pages' paths."""
    first = f"/image?limit={LIST_LIMIT}"
    cursors: list[str] = []
    path: str | None = first
    with httpx.Client(base_url=url, timeout=30) as client:
        for _page in range(max_pages):
            if path is None:
                break
            response = client.get(path)
            if response.status_code != 200:
                raise HarnessError(f"GET {path} answered {response.status_code}: {response.text}")
            link = response.headers.get("link")
            path = None
            if link and 'rel="next"' in link:
                path = link[link.index("<") + 1 : link.index(">")]
                cursors.append(path)
    return cursors, len(cursors) + 1


def _smoke(url: str, guid: str, size_bytes: int | None) -> None:
    """One detail and one content request answer as they should, or the run stops."""
    with httpx.Client(base_url=url, timeout=30) as client:
        detail = client.get(f"/image/{guid}")
        if detail.status_code != 200:
            raise HarnessError(f"GET /image/{guid} answered {detail.status_code}: {detail.text}")
        content = client.get(f"/image/{guid}/content")
        if content.status_code != 200 or not content.content.startswith(b"\x89PNG"):
            raise HarnessError(f"GET /image/{guid}/content answered {content.status_code}")
        if size_bytes is not None and len(content.content) != size_bytes:
            raise HarnessError(f"content of {guid}: {len(content.content)} bytes, not {size_bytes}")


def _smoke_generate(url: str, token: str) -> str | None:
    """None when one POST /image succeeds; else what it answered (scenario 4 still runs)."""
    body = {"prompt": "bench smoke test: a lighthouse", "tags": ["bench"]}
    with httpx.Client(base_url=url, timeout=60) as client:
        answer = client.post("/image", json=body, headers={"Authorization": f"Bearer {token}"})
    if answer.status_code == 200:
        return None
    return f"POST /image answered {answer.status_code}: {answer.text[:300]}"


class Runner:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.paths_dir = options.work_dir / "paths"
        self.results: dict[str, Any] = {"scenarios": {}, "notes": []}

    def note(self, text: str) -> None:
        print(f"bench: {text}", flush=True)
        self.results["notes"].append(text)

    def load(
        self,
        name: str,
        server: Server,
        paths: Path,
        *,
        profile: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> LoadResult:
        options = self.options
        if options.warmup_s >= 1:
            self._get_load(server, paths, options.warmup_s).finish()
        print(f"bench: {name}: {options.duration_s:g} s against {server.name}", flush=True)
        result, cpu, recording = self._measure(name, server, paths, profile=profile)
        if unbalanced(cpu["workers_each_cores"]):
            # wrk opens every connection at once and the first worker to wake up may accept
            # nearly all of them: that measures gunicorn's accept race, not the server.
            self.note(
                f"{name}: the connections landed on one worker (cores per worker "
                f"{cpu['workers_each_cores']}); measuring once more with new connections"
            )
            first = {"ok_rps": result.ok_rps, "workers_each_cores": cpu["workers_each_cores"]}
            if recording is not None:
                recording.wait()
            result, cpu, recording = self._measure(name, server, paths, profile=profile)
            result.extra["unbalanced_attempt"] = first
        result.extra.update(cpu)
        result.extra.update(extra or {})
        if recording is not None:
            files = recording.wait()
            summary = summarize(files)
            print("\n".join(summary.lines(f"profile of {name}")), flush=True)
            result.extra["profile"] = {
                "files": [str(f) for f in files],
                **summary.as_dict(),
            }
        self.results["scenarios"][name] = result.as_dict()
        return result

    def _get_load(self, server: Server, paths: Path, duration_s: float) -> WrkRun:
        """wrk sending GETs of the paths in ``paths`` with the run's connections."""
        options = self.options
        return WrkRun(
            server.url,
            "get.lua",
            [str(paths)],
            duration_s=duration_s,
            connections=options.connections,
            threads=options.threads,
            timeout_s=10,
            work_dir=options.work_dir,
        )

    def _measure(
        self, name: str, server: Server, paths: Path, *, profile: bool
    ) -> tuple[LoadResult, dict[str, Any], Recording | None]:
        options = self.options
        cpu: dict[str, Any] = {}
        recording = None
        run: WrkRun | None = None
        try:
            with cpu_split(server.workers(), cpu):
                run = self._get_load(server, paths, options.duration_s)
                if profile:
                    recording = Recording(
                        server.workers(),
                        name,
                        options.work_dir / "profile",
                        max(1.0, options.duration_s - 2),
                    )
                result = run.wait()
        finally:
            if run is not None:
                run.stop()
        return result, cpu, recording

    def run(self) -> dict[str, Any]:
        options = self.options
        started = datetime.now(UTC)
        if wrk_path() is None:
            raise HarnessError("wrk is not installed (Debian: apt-get install wrk)")
        print(f"bench: how busy is the machine ({options.busy_sample_s:g} s)", flush=True)
        busy = cpu_busy_pct(options.busy_sample_s)
        deadline = time.monotonic() + options.wait_quiet_s
        while busy > QUIET_PCT and time.monotonic() < deadline:
            print(f"bench: {busy:g} % busy; waiting for under {QUIET_PCT:g} %", flush=True)
            busy = cpu_busy_pct(max(2.0, options.busy_sample_s))
        load_start = _loadavg()
        if busy > QUIET_PCT:
            self.note(f"the machine was already {busy:g} % busy before the run: figures are noisy")
        target = MySQLTarget.from_url(options.mysql_url)
        print(f"bench: seeding {options.images} images into {target.database}", flush=True)
        try:
            seeded = seed(target, options.work_dir, options.images)
        except (SeedError, OSError) as exc:
            raise HarnessError(f"seeding failed: {exc}") from exc
        except Exception as exc:
            raise HarnessError(f"seeding failed ({type(exc).__name__}): {exc}") from exc
        print(
            f"bench: seed {'reused' if seeded.reused else 'built'} in {seeded.seconds:g} s",
            flush=True,
        )
        self.results.update(
            {
                "version": 1,
                "started_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
                "machine": {
                    **machine(),
                    "cpu_busy_pct_before": busy,
                    "loadavg_start": load_start,
                },
                "git": _git(),
                "config": {
                    "images": options.images,
                    "duration_s": options.duration_s,
                    "warmup_s": options.warmup_s,
                    "gen_duration_s": options.gen_duration_s,
                    "gen_clients": options.gen_clients,
                    "mock_delay_s": options.mock_delay_s,
                    "connections": options.connections,
                    "wrk_threads": options.threads,
                    "workers": options.workers,
                    "scenarios": list(options.scenarios),
                    "baseline": options.baseline,
                    "baselines_measured": list(options.baseline_kinds),
                    "profile": options.profile,
                    "server_env": options.server_env,
                },
                "seed": seeded.summary(),
                "rss": {},
            }
        )
        guids = seeded.public_guids
        detail_paths = write_paths(self.paths_dir / "detail.txt", [f"/image/{g}" for g in guids])
        content_paths = write_paths(
            self.paths_dir / "content.txt", [f"/image/{g}/content" for g in guids]
        )
        secret = secrets.token_urlsafe(32)
        token = tokens.token(BENCH_SUBJECT, secret, ttl_s=3600)
        base_env = {
            "PIXY_ENV": "dev",
            "PIXY_WORKERS": str(options.workers),
            "PIXY_LOG_LEVEL": "warning",
            "PIXY_LOG_FORMAT": "json",
            "PIXY_GRACEFUL_TIMEOUT_S": "10",
        }
        memory = MemoryWatch()
        with memory.running():
            for kind in options.baseline_kinds:
                self._baseline(kind, base_env, memory, guids[0], detail_paths, content_paths)
            self._pixyproxy(seeded, target, base_env, secret, token, memory, detail_paths)
        self.results["rss"] = {
            label: [
                {
                    "pid": worker.pid,
                    "peak_mb": worker.peak_mb,
                    "peak_rss_sampled_mb": round(worker.peak_rss_kb / 1024, 1),
                    "vm_hwm_mb": round(worker.hwm_kb / 1024, 1),
                    "samples": worker.samples,
                }
                for worker in sorted(workers.values(), key=lambda w: w.pid)
            ]
            for label, workers in memory.workers.items()
        }
        for key, scenario in self.results["scenarios"].items():
            for kind in report.BASELINE_KINDS:
                ratio = report.ratio(self.results, key, kind)
                if ratio is not None:
                    scenario[f"ratio_to_{kind}"] = ratio
        self.results["targets"] = report.evaluate(self.results)
        measured = [t["met"] for t in self.results["targets"] if t["met"] is not None]
        self.results["all_targets_met"] = (
            bool(measured) and all(measured) and len(measured) == len(self.results["targets"])
        )
        self.results["machine"]["loadavg_end"] = _loadavg()
        finished = datetime.now(UTC)
        self.results["finished_at"] = finished.isoformat(timespec="seconds").replace("+00:00", "Z")
        self.results["wall_s"] = round((finished - started).total_seconds(), 1)
        return self.results

    def _baseline(
        self,
        kind: str,
        base_env: dict[str, str],
        memory: MemoryWatch,
        guid: str,
        detail_paths: Path,
        content_paths: Path,
    ) -> None:
        options = self.options
        env = clean_environment(
            {
                **base_env,
                "BENCH_BASELINE_FILE": str(options.work_dir / "sources" / "source-0.png"),
                **options.server_env,
            }
        )
        factory = "create_fastapi_app" if kind == "fastapi" else "create_asgi_app"
        baseline = start_baseline(
            env, options.work_dir / "logs", workers=options.workers, factory=factory
        )
        label = f"baseline_{kind}"
        try:
            memory.watch(label, baseline.pid)
            _smoke(baseline.url, guid, None)
            self.load(f"{label}_json", baseline, detail_paths)
            if 3 in options.scenarios:
                self.load(f"{label}_file", baseline, content_paths)
        finally:
            memory.unwatch(label)
            baseline.stop()

    def _pixyproxy(
        self,
        seeded: Seeded,
        target: MySQLTarget,
        base_env: dict[str, str],
        secret: str,
        token: str,
        memory: MemoryWatch,
        detail_paths: Path,
    ) -> None:
        options = self.options
        storage = options.work_dir / "images"
        logs = options.work_dir / "logs"
        env_mock = clean_environment({})
        mock = start_mock(env_mock, logs, delay_s=options.mock_delay_s)
        server = None
        try:
            env = clean_environment(
                {
                    **base_env,
                    "PIXY_DATABASE_URL": target.url,
                    "PIXY_STORAGE_DIR": str(storage),
                    "PIXY_DB_AUTO_MIGRATE": "true",
                    "PIXY_IMAGE_PROVIDER": "openai",
                    "OPENAI_API_KEY": "sk-bench",
                    "OPENAI_BASE_URL": f"{mock.url}/v1",
                    "PIXY_ANONYMOUS_GENERATION": "true",
                    "PIXY_JWT_SECRET": secret,
                    "PIXY_JWT_ALGORITHMS": '["HS256"]',
                    # The kernel hands the POST clients' connections to whichever worker
                    # accepts first, so one worker may hold most of them: let each run them
                    # all, rather than measure the per-worker limit's 503s.
                    "PIXY_MAX_IN_FLIGHT_GENERATIONS": str(max(64, options.gen_clients)),
                    **options.server_env,
                }
            )
            server = start_pixyproxy(env, logs, workers=options.workers)
            memory.watch("pixyproxy", server.pid)
            guid = seeded.public_guids[0]
            _smoke(server.url, guid, None)
            if 1 in options.scenarios:
                self.load("1_detail", server, detail_paths, profile=options.profile)
            if 2 in options.scenarios:
                cursors, pages = collect_list_paths(
                    server.url, max_pages=options.images // LIST_LIMIT + 5
                )
                self.note(f"scenario 2: {pages} pages; half the requests ask for the first")
                first = [f"/image?limit={LIST_LIMIT}"] * max(1, len(cursors))
                list_paths = write_paths(self.paths_dir / "list.txt", first + cursors)
                self.load(
                    "2_list",
                    server,
                    list_paths,
                    profile=options.profile,
                    extra={"pages": pages, "cursor_pages": len(cursors)},
                )
            if 3 in options.scenarios:
                content_paths = self.paths_dir / "content.txt"
                self.load("3_content", server, content_paths, profile=options.profile)
            if 4 in options.scenarios:
                self._generation(server, mock, token, detail_paths)
        finally:
            if server is not None:
                memory.unwatch("pixyproxy")
                server.stop()
            mock.stop()
            with contextlib.suppress(Exception):
                removed = remove_generated(target, storage, seeded.max_seed_id)
                self.results["seed"]["generated_removed_after"] = removed

    def _generation(self, server: Server, mock: Server, token: str, detail_paths: Path) -> None:
        options = self.options
        with httpx.Client(base_url=mock.url, timeout=10) as client:
            client.put("/_mock/config", json={"behavior": "ok", "delay_s": options.mock_delay_s})
        problem = _smoke_generate(server.url, token)
        if problem is not None:
            self.note(f"generation smoke test failed, scenario 4 runs anyway: {problem}")
        with httpx.Client(base_url=mock.url, timeout=10) as client:
            client.post("/_mock/reset")
            client.put("/_mock/config", json={"behavior": "ok", "delay_s": options.mock_delay_s})
        duration = options.gen_duration_s
        lead = min(2.0, duration / 4)
        during = max(1.0, duration - 2 * lead)
        print(
            f"bench: 4_generate: {duration:g} s, {options.gen_clients} clients"
            + (
                f"; 5_detail_during_generate: {during:g} s inside it"
                if 5 in options.scenarios
                else ""
            ),
            flush=True,
        )
        generate = WrkRun(
            server.url,
            "generate.lua",
            [token],
            duration_s=duration,
            connections=options.gen_clients,
            threads=min(options.gen_clients, max(1, options.threads)),
            timeout_s=max(30.0, options.mock_delay_s * 10),
            work_dir=options.work_dir,
        )
        detail: WrkRun | None = None
        cpu: dict[str, Any] = {}
        try:
            with cpu_split(server.workers(), cpu):
                if 5 in options.scenarios:
                    time.sleep(lead)
                    detail = self._get_load(server, detail_paths, during)
                detail_result = detail.wait() if detail is not None else None
                generate_result = generate.wait()
        finally:
            generate.stop()
            if detail is not None:
                detail.stop()
        with httpx.Client(base_url=mock.url, timeout=10) as client:
            stats = client.get("/_mock/stats").json()
        generate_result.extra.update(cpu)
        generate_result.extra["mock_generations"] = stats.get("generations")
        generate_result.extra["completed_generations_per_s"] = generate_result.ok_rps
        self.results["scenarios"]["4_generate"] = generate_result.as_dict()
        if detail_result is not None:
            self.results["scenarios"]["5_detail_during_generate"] = detail_result.as_dict()


def _save(options: Options, results: dict[str, Any]) -> list[Path]:
    text = json.dumps(results, indent=2) + "\n"
    written = []
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text)
    written.append(options.output)
    if options.history_dir is not None:
        options.history_dir.mkdir(parents=True, exist_ok=True)
        stamp = results["started_at"].replace(":", "").replace("-", "")
        path = options.history_dir / f"{stamp}.json"
        path.write_text(text)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        results = Runner(options).run()
    except (HarnessError, ServerError, LoadError, SeedError) as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 2
    except Exception as exc:  # any other failure is the harness's, not a missed target
        print(f"bench: error ({type(exc).__name__}): {exc}", file=sys.stderr)
        return 2
    print()
    print("\n".join(report.tables(results)))
    machine_info = results["machine"]
    print(
        f"\nmachine: {machine_info['cpus']} x {machine_info['cpu_model']},"
        f" {machine_info['cpu_busy_pct_before']:g} % busy before the run,"
        f" load average {machine_info['loadavg_start']} -> {machine_info['loadavg_end']};"
        f" wall time {results['wall_s']:g} s"
    )
    for path in _save(options, results):
        print(f"bench: wrote {path}")
    if options.strict and not results["all_targets_met"]:
        print("bench: --strict: not every target is met", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
