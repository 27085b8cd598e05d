"""``make bench``: seed MariaDB, start PixyProxy and two baselines under the same gunicorn
settings, load them with wrk (each scenario ``--repeat`` times), and check the targets.

    .venv/bin/python -m bench.run                 # the full run, about 9 minutes
    .venv/bin/python -m bench.run --strict        # exit 1 unless every target is met
    .venv/bin/python -m bench.run --scenarios 1,2 --profile   # py-spy while 1 and 2 run

Exit codes: 0 after a run whatever the targets (1 with ``--strict`` when one is not met),
2 when the harness itself failed (no wrk, no MariaDB, a server that does not start...).
See ``bench/README.md`` for how to read the output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import report, startup, stats
from bench.content import (
    OffloadError,
    check_offload,
    offload_env,
    offload_support,
    store_url_path,
)
from bench.lists import LIST_LIMIT, ListError, walk_list
from bench.loadgen import LoadError, WrkRun, wrk_path
from bench.machine import (
    QUIET_PCT,
    cpu_split,
    git_state,
    loadavg,
    machine,
    utc_now_text,
    wait_for_quiet,
)
from bench.measure import Load, Measurer, write_paths
from bench.mysql import DEFAULT_MYSQL_URL
from bench.nginx import DEFAULT_OFFLOAD_PREFIX, start_nginx
from bench.seed import MySQLTarget, Seeded, SeedError, remove_generated, seed
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

ALL_SCENARIOS = (1, 2, 3, 4, 5, 6, 7)
BENCH_SUBJECT = "bench"


class HarnessError(RuntimeError):
    """Something the bench needs is missing or broken: exit 2."""


@dataclass
class Options:
    images: int
    load: Load
    gen_duration_s: float
    gen_clients: int
    mock_delay_s: float
    workers: int
    mysql_url: str
    seed_method: str
    output: Path
    history_dir: Path | None
    baseline: str
    baseline_kinds: tuple[str, ...]
    scenarios: tuple[int, ...]
    profile: bool
    strict: bool
    skip_container: bool
    busy_sample_s: float
    wait_quiet_s: float
    server_env: dict[str, str] = field(default_factory=dict)

    @property
    def work_dir(self) -> Path:
        return self.load.work_dir


def add_common_arguments(parser: argparse.ArgumentParser, *, duration: float) -> None:
    """The options ``make bench`` and ``make bench-scale`` share."""
    parser.add_argument(
        "--duration", type=float, default=duration, help="seconds of each sample of a scenario"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="samples of each scenario (medians are judged)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=8,
        help="unmeasured seconds before each GET scenario, at least (default %(default)s); "
        "longer until each worker has read each path about 7 times, so its caches hold what "
        "a server that has run a while holds (bench/measure.py)",
    )
    parser.add_argument("--connections", type=int, default=50, help="wrk connections for GETs")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads per wrk process")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, every server")
    parser.add_argument(
        "--mysql-url",
        default=os.environ.get("PIXY_BENCH_MYSQL_URL", DEFAULT_MYSQL_URL),
        help="the bench's own database (env PIXY_BENCH_MYSQL_URL); it is dropped and reseeded",
    )
    parser.add_argument(
        "--seed-method",
        choices=("load-data", "insert"),
        default="load-data",
        help="how rows are written: LOAD DATA LOCAL INFILE (default, faster here) or\n"
        "multi-row INSERTs",
    )
    parser.add_argument("--work-dir", type=Path, default=REPO / "var" / "bench")
    parser.add_argument(
        "--history-dir",
        type=Path,
        default=REPO / "bench" / "results",
        help="a dated copy of every run's results goes here",
    )
    parser.add_argument("--no-history", action="store_true")
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
        help="extra server setting, e.g. PIXY_THREADS=8 (every server; repeatable)",
    )


def parse_env(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, str]:
    server_env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--env {item!r}: expected KEY=VALUE")
        server_env[key] = value
    return server_env


def load_of(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Load:
    if args.duration < 1 or args.repeat < 1:
        parser.error("--duration and --repeat must be >= 1")
    return Load(
        duration_s=args.duration,
        warmup_s=max(0.0, args.warmup),
        connections=args.connections,
        threads=args.threads,
        repeat=args.repeat,
        work_dir=args.work_dir.resolve(),
    )


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    add_common_arguments(parser, duration=10)
    parser.add_argument("--images", type=int, default=10_000, help="images to seed (10000)")
    parser.add_argument(
        "--gen-duration", type=float, default=25, help="seconds of scenario 4 (5 runs inside it)"
    )
    parser.add_argument("--gen-clients", type=int, default=100, help="concurrent POST clients")
    parser.add_argument("--mock-delay", type=float, default=1.0, help="mock answer delay, s")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results.json")
    parser.add_argument(
        "--baseline",
        choices=report.BASELINE_KINDS,
        default="fastapi",
        help="what the target ratios compare with: the minimal FastAPI app (default) or the\n"
        "bare ASGI callable; both are measured unless --only-target-baseline",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="no baseline, no ratios")
    parser.add_argument(
        "--only-target-baseline",
        action="store_true",
        help="measure only the baseline the targets use",
    )
    parser.add_argument(
        "--scenarios", default="1,2,3,4,5,6,7", help="which of 1-7 to run (comma-separated)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the workers during 1, 2 and 3 (slows them)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 unless all targets met")
    parser.add_argument(
        "--skip-container", action="store_true", help="scenario 7 without the container image"
    )
    args = parser.parse_args(argv)
    try:
        scenarios = tuple(sorted({int(part) for part in args.scenarios.split(",") if part}))
    except ValueError:
        parser.error("--scenarios: numbers from 1 to 7, comma-separated")
    if not scenarios or not set(scenarios) <= set(ALL_SCENARIOS):
        parser.error("--scenarios: numbers from 1 to 7, comma-separated")
    if 5 in scenarios and 4 not in scenarios:
        parser.error("--scenarios: 5 runs inside 4")
    if args.images < 1 or args.gen_duration < 1 or args.gen_clients < 1:
        parser.error("--images, --gen-duration and --gen-clients must be >= 1")
    kinds: tuple[str, ...] = report.BASELINE_KINDS
    if args.skip_baseline:
        kinds = ()
    elif args.only_target_baseline:
        kinds = (args.baseline,)
    return Options(
        images=args.images,
        load=load_of(args, parser),
        gen_duration_s=args.gen_duration,
        gen_clients=args.gen_clients,
        mock_delay_s=args.mock_delay,
        workers=args.workers,
        mysql_url=args.mysql_url,
        seed_method=args.seed_method,
        output=args.output.resolve(),
        history_dir=None if args.no_history else args.history_dir.resolve(),
        baseline=args.baseline,
        baseline_kinds=kinds,
        scenarios=scenarios,
        profile=args.profile,
        strict=args.strict,
        skip_container=args.skip_container,
        busy_sample_s=max(0.1, args.busy_sample),
        wait_quiet_s=max(0.0, args.wait_quiet),
        server_env=parse_env(parser, args.env),
    )


# --- helpers -----------------------------------------------------------------------------


def smoke(url: str, guid: str) -> None:
    """One detail and one content request answer as they should, or the run stops."""
    with httpx.Client(base_url=url, timeout=30) as client:
        detail = client.get(f"/image/{guid}")
        if detail.status_code != 200:
            raise HarnessError(f"GET /image/{guid} answered {detail.status_code}: {detail.text}")
        content = client.get(f"/image/{guid}/content")
        if content.status_code != 200 or not content.content.startswith(b"\x89PNG"):
            raise HarnessError(f"GET /image/{guid}/content answered {content.status_code}")


def _smoke_generate(url: str, token: str) -> str | None:
    """None when one POST /image succeeds; else what it answered (scenario 4 still runs)."""
    body = {"prompt": "bench smoke test: a lighthouse", "tags": ["bench"]}
    with httpx.Client(base_url=url, timeout=60) as client:
        answer = client.post("/image", json=body, headers={"Authorization": f"Bearer {token}"})
    if answer.status_code == 200:
        return None
    return f"POST /image answered {answer.status_code}: {answer.text[:300]}"


def base_env(workers: int) -> dict[str, str]:
    """What every server of a run is started with."""
    return {
        "PIXY_ENV": "dev",
        "PIXY_WORKERS": str(workers),
        "PIXY_LOG_LEVEL": "warning",
        "PIXY_LOG_FORMAT": "json",
        "PIXY_GRACEFUL_TIMEOUT_S": "10",
    }


def pixyproxy_env(
    target: MySQLTarget, storage: Path, workers: int, extra: dict[str, str]
) -> dict[str, str]:
    """PixyProxy on the bench's database and store (the mock, a secret, ... in ``extra``)."""
    return clean_environment(
        {
            **base_env(workers),
            "PIXY_DATABASE_URL": target.url,
            "PIXY_STORAGE_DIR": str(storage),
            "PIXY_DB_AUTO_MIGRATE": "true",
            **extra,
        }
    )


def rss_summary(memory: MemoryWatch) -> dict[str, Any]:
    return {
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


def run_seed(target: MySQLTarget, options_work_dir: Path, count: int, **kwargs: Any) -> Seeded:
    print(f"bench: seeding {count} images into {target.database}", flush=True)
    try:
        seeded = seed(target, options_work_dir, count, **kwargs)
    except (SeedError, OSError) as exc:
        raise HarnessError(f"seeding failed: {exc}") from exc
    except Exception as exc:
        raise HarnessError(f"seeding failed ({type(exc).__name__}): {exc}") from exc
    state = "reused" if seeded.reused else f"built ({seeded.added} rows added)"
    print(f"bench: seed {state} in {seeded.seconds:g} s", flush=True)
    return seeded


class Runner:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.paths_dir = options.work_dir / "paths"
        self.results: dict[str, Any] = {"scenarios": {}, "notes": []}
        self.measurer = Measurer(options.load, self.note)

    def note(self, text: str) -> None:
        print(f"bench: {text}", flush=True)
        self.results["notes"].append(text)

    def load(self, name: str, server: Any, paths: Path, **kwargs: Any) -> None:
        self.results["scenarios"][name] = self.measurer.scenario(name, server, paths, **kwargs)

    def run(self) -> dict[str, Any]:
        options = self.options
        started = utc_now_text()
        if wrk_path() is None:
            raise HarnessError("wrk is not installed (Debian: apt-get install wrk)")
        busy = wait_for_quiet(options.busy_sample_s, options.wait_quiet_s)
        load_start = loadavg()
        if busy > QUIET_PCT:
            self.note(f"the machine was already {busy:g} % busy before the run: figures are noisy")
        target = MySQLTarget.from_url(options.mysql_url)
        seeded = run_seed(target, options.work_dir, options.images, method=options.seed_method)
        self.results.update(
            {
                "version": 2,
                "started_at": started,
                "machine": {**machine(), "cpu_busy_pct_before": busy, "loadavg_start": load_start},
                "git": git_state(),
                "config": {
                    "images": options.images,
                    "duration_s": options.load.duration_s,
                    "repeat": options.load.repeat,
                    "spread": "min-max",
                    "warmup_s": options.load.warmup_s,
                    "gen_duration_s": options.gen_duration_s,
                    "gen_clients": options.gen_clients,
                    "mock_delay_s": options.mock_delay_s,
                    "connections": options.load.connections,
                    "wrk_threads": options.load.threads,
                    "workers": options.workers,
                    "scenarios": list(options.scenarios),
                    "baseline": options.baseline,
                    "baselines_measured": list(options.baseline_kinds),
                    "profile": options.profile,
                    "seed_method": options.seed_method,
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
        memory = MemoryWatch()
        with memory.running():
            for kind in options.baseline_kinds:
                self._baseline(kind, memory, guids[0], detail_paths, content_paths)
            self._pixyproxy(seeded, target, memory, detail_paths)
        self.results["rss"] = rss_summary(memory)
        if 7 in options.scenarios:
            self._startup(seeded, target)
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
        self.results["machine"]["loadavg_end"] = loadavg()
        self.results["finished_at"] = utc_now_text()
        return self.results

    def _baseline(
        self,
        kind: str,
        memory: MemoryWatch,
        guid: str,
        detail_paths: Path,
        content_paths: Path,
    ) -> None:
        options = self.options
        env = clean_environment(
            {
                **base_env(options.workers),
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
            smoke(baseline.url, guid)
            self.load(f"{label}_json", baseline, detail_paths)
            if 3 in options.scenarios:
                self.load(f"{label}_file", baseline, content_paths)
        finally:
            memory.unwatch(label)
            baseline.stop()

    def _pixyproxy(
        self, seeded: Seeded, target: MySQLTarget, memory: MemoryWatch, detail_paths: Path
    ) -> None:
        options = self.options
        logs = options.work_dir / "logs"
        mock = start_mock(clean_environment({}), logs, delay_s=options.mock_delay_s)
        secret = secrets.token_urlsafe(32)
        server = None
        try:
            env = pixyproxy_env(
                target,
                seeded.storage,
                options.workers,
                {
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
                },
            )
            server = start_pixyproxy(env, logs, workers=options.workers)
            memory.watch("pixyproxy", server.pid)
            smoke(server.url, seeded.public_guids[0])
            if 1 in options.scenarios:
                self.load("1_detail", server, detail_paths, profile=options.profile)
            if 2 in options.scenarios:
                self._list(server)
            if 3 in options.scenarios:
                content_paths = self.paths_dir / "content.txt"
                self.load("3_content", server, content_paths, profile=options.profile)
            if 4 in options.scenarios:
                token = tokens.token(BENCH_SUBJECT, secret, ttl_s=3600)
                self._generation(server, mock, token, detail_paths)
            if 6 in options.scenarios:
                self._content_inprocess_and_nginx(server, seeded)
        finally:
            if server is not None:
                memory.unwatch("pixyproxy")
                server.stop()
            mock.stop()
            try:
                removed = remove_generated(target, seeded.storage, seeded.max_seed_id)
                self.results["seed"]["generated_removed_after"] = removed
            except Exception as exc:  # the next run removes them too
                self.note(f"could not remove the generated images: {exc}")
        if 6 in options.scenarios:
            self._content_offload(seeded, target)

    def _list(self, server: Server) -> None:
        walk = walk_list(server.url, limit=LIST_LIMIT, max_pages=self.options.images)
        self.note(f"scenario 2: {walk.pages} pages; half the requests ask for the first")
        first = [f"/image?limit={LIST_LIMIT}"] * max(1, len(walk.next_paths))
        list_paths = write_paths(self.paths_dir / "list.txt", first + walk.next_paths)
        extra = {"pages": walk.pages, "cursor_pages": len(walk.next_paths)}
        self.load("2_list", server, list_paths, profile=self.options.profile, extra=extra)

    def _content_paths(self, seeded: Seeded) -> tuple[str, Path, Path]:
        """The one guid of the comparison, and its paths for the app and for nginx alone."""
        guid = seeded.public_guids[0]
        app = write_paths(self.paths_dir / "one-content.txt", [f"/image/{guid}/content"])
        direct = write_paths(self.paths_dir / "one-file.txt", [store_url_path(guid)])
        return guid, app, direct

    def _content_inprocess_and_nginx(self, server: Server, seeded: Seeded) -> None:
        _guid, app_paths, file_paths = self._content_paths(seeded)
        nginx = start_nginx(
            self.options.work_dir / "nginx",
            seeded.storage,
            server.url,
            workers=self.options.workers,
            offload_prefix=DEFAULT_OFFLOAD_PREFIX,
        )
        try:
            self.load("6_content_nginx", nginx.server, file_paths)
        finally:
            nginx.stop()
        self.load("6_content_inprocess", server, app_paths)

    def _content_offload(self, seeded: Seeded, target: MySQLTarget) -> None:
        support = offload_support()
        self.results["content_offload"] = {"available": support.available}
        if not support.available:
            self.note(f"6_content_offload: {support.reason}")
            self.results["content_offload"]["reason"] = support.reason
            return
        options = self.options
        guid, app_paths, _file_paths = self._content_paths(seeded)
        env = pixyproxy_env(
            target, seeded.storage, options.workers, {**offload_env(), **options.server_env}
        )
        server = start_pixyproxy(env, options.work_dir / "logs", workers=options.workers)
        nginx = None
        try:
            nginx = start_nginx(
                options.work_dir / "nginx",
                seeded.storage,
                server.url,
                workers=options.workers,
                offload_prefix=DEFAULT_OFFLOAD_PREFIX,
            )
            sha256 = seeded_sha256(seeded, guid)
            try:
                check_offload(server.url, nginx.offload_url, guid, sha256)
            except OffloadError as exc:
                raise HarnessError(f"6_content_offload: {exc}") from exc
            front = Front("pixyproxy behind nginx", nginx.offload_url, server)
            self.load("6_content_offload", front, app_paths)
        finally:
            if nginx is not None:
                nginx.stop()
            server.stop()

    def _startup(self, seeded: Seeded, target: MySQLTarget) -> None:
        options = self.options
        env = pixyproxy_env(target, seeded.storage, options.workers, dict(options.server_env))
        print(f"bench: start to first 200, {options.load.repeat} times each", flush=True)
        self.results["startup"] = startup.measure(
            options.load.repeat,
            env,
            options.work_dir / "logs",
            workers=options.workers,
            target=target,
            note=self.note,
            container=not options.skip_container,
        )

    def _generation(self, server: Server, mock: Server, token: str, detail_paths: Path) -> None:
        problem = _smoke_generate(server.url, token)
        if problem is not None:
            self.note(f"generation smoke test failed, scenario 4 runs anyway: {problem}")
        generate, during = [], []
        for index in range(self.options.load.repeat):
            if index:
                # The requests wrk left when it stopped still finish on the server (a
                # generation is not cut off by its client going): their slots would refuse
                # the next sample's first requests with 503 generation_capacity_exceeded.
                time.sleep(DRAIN_MOCK_DELAYS * self.options.mock_delay_s + 1.0)
            one, other = self._generation_sample(server, mock, token, detail_paths)
            generate.append(one)
            if other is not None:
                during.append(other)
        self.results["scenarios"]["4_generate"] = stats.combine(generate)
        extra = self.results["scenarios"]["4_generate"]["extra"]
        extra["completed_generations_per_s"] = self.results["scenarios"]["4_generate"]["ok_rps"]
        if during:
            self.results["scenarios"]["5_detail_during_generate"] = stats.combine(during)

    def _generation_sample(
        self, server: Server, mock: Server, token: str, detail_paths: Path
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        options = self.options
        with httpx.Client(base_url=mock.url, timeout=10) as client:
            client.post("/_mock/reset")
            client.put("/_mock/config", json={"behavior": "ok", "delay_s": options.mock_delay_s})
        duration = options.gen_duration_s
        lead = min(2.0, duration / 4)
        during = max(1.0, duration - 2 * lead)
        print(
            f"bench: 4_generate: {duration:g} s, {options.gen_clients} clients"
            + (f"; 5 inside it: {during:g} s" if 5 in options.scenarios else ""),
            flush=True,
        )
        generate = WrkRun(
            server.url,
            "generate.lua",
            [token],
            duration_s=duration,
            connections=options.gen_clients,
            threads=min(options.gen_clients, max(1, options.load.threads)),
            timeout_s=max(30.0, options.mock_delay_s * 10),
            work_dir=options.work_dir,
        )
        detail: WrkRun | None = None
        cpu: dict[str, Any] = {}
        try:
            with cpu_split(server.workers(), cpu):
                if 5 in options.scenarios:
                    time.sleep(lead)
                    detail = self.measurer.wrk(server, detail_paths, during)
                detail_result = detail.wait() if detail is not None else None
                generate_result = generate.wait()
        finally:
            generate.stop()
            if detail is not None:
                detail.stop()
        with httpx.Client(base_url=mock.url, timeout=10) as client:
            generated = client.get("/_mock/stats").json().get("generations")
        generate_result.extra.update(cpu)
        generate_result.extra["mock_generations"] = generated
        return (
            generate_result.as_dict(),
            None if detail_result is None else detail_result.as_dict(),
        )


@dataclass
class Front:
    """nginx in front of a PixyProxy server: load goes to nginx, CPU counts the app's."""

    name: str
    url: str
    app: Server

    def workers(self) -> list[int]:
        return self.app.workers()


def seeded_sha256(seeded: Seeded, guid: str) -> str:
    """The hash of ``guid``'s file (the seed stored the same in its row)."""
    return hashlib.sha256((seeded.storage / guid[:2] / f"{guid}.png").read_bytes()).hexdigest()


def save(output: Path, history_dir: Path | None, results: dict[str, Any]) -> list[Path]:
    text = json.dumps(results, indent=2) + "\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    written = [output]
    if history_dir is not None:
        history_dir.mkdir(parents=True, exist_ok=True)
        stamp = results["started_at"].replace(":", "").replace("-", "")
        path = history_dir / f"{output.stem}-{stamp}.json"
        path.write_text(text)
        written.append(path)
    return written


# How many mock delays the generations a sample leaves behind take to finish.
DRAIN_MOCK_DELAYS = 3

HARNESS_ERRORS = (HarnessError, ServerError, LoadError, SeedError, OffloadError, ListError)


def run_reported(run: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """The results of ``run``, or None once its failure is printed (exit status 2)."""
    try:
        return run()
    except HARNESS_ERRORS as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
    except Exception as exc:  # any other failure is the harness's, not a missed target
        print(f"bench: error ({type(exc).__name__}): {exc}", file=sys.stderr)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    results = run_reported(Runner(options).run)
    if results is None:
        return 2
    print()
    print("\n".join(report.tables(results)))
    info = results["machine"]
    print(
        f"\nmachine: {info['cpus']} x {info['cpu_model']}, {info['cpu_busy_pct_before']:g} %"
        f" busy before the run, load average {info['loadavg_start']} -> {info['loadavg_end']}"
    )
    for path in save(options.output, options.history_dir, results):
        print(f"bench: wrote {path}")
    if options.strict and not results["all_targets_met"]:
        print("bench: --strict: not every target is met", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
