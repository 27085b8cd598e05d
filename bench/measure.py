"""Measuring one GET scenario: an unmeasured warm-up, then ``repeat`` wrk runs back to back,
each a sample; the scenario's figures are their medians (``bench/stats.py``).

Shared by ``make bench`` (``bench/run.py``) and ``make bench-scale`` (``bench/scale.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import stats
from bench.loadgen import LoadResult, WrkRun
from bench.machine import cpu_split
from bench.profile import Recording, summarize
from bench.servers import Server

# A GET sample in which a worker used less than this share of the busiest worker's CPU is
# measured once more (see Measurer.sample).
UNBALANCED_SHARE = 0.5
# Warm-up: reads of each path per worker wanted before a scenario is measured, and the
# most it may add to ``--warmup`` for that (a million details never fit the caches).
WARM_READS = 7
MAX_EXTRA_WARMUP_S = 30.0


def unbalanced(cores_each: list[float]) -> bool:
    """Whether one worker did most of a scenario's work while another stood by."""
    return len(cores_each) > 1 and min(cores_each) < UNBALANCED_SHARE * max(cores_each)


def write_paths(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Load:
    """How every GET scenario of a run is driven."""

    duration_s: float
    warmup_s: float
    connections: int
    threads: int
    repeat: int
    work_dir: Path


class Measurer:
    def __init__(self, load: Load, note: Callable[[str], None]) -> None:
        self.load = load
        self.note = note

    def scenario(
        self,
        name: str,
        server: Server,
        paths: Path,
        *,
        profile: bool = False,
        workers: list[int] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Warm up, then ``repeat`` samples of ``paths`` against ``server``, combined.

        ``workers``: the processes whose CPU counts as the server's (default: the children
        of its master)."""
        load = self.load
        if load.warmup_s >= 1:
            self.warm_up(server, paths)
        print(
            f"bench: {name}: {load.repeat} x {load.duration_s:g} s against {server.name}",
            flush=True,
        )
        samples = []
        for index in range(load.repeat):
            sample = self.sample(
                name, server, paths, profile=profile and index == 0, workers=workers
            )
            samples.append(sample.as_dict())
        combined = stats.combine(samples)
        combined["extra"].update(extra or {})
        return combined

    def warm_up(self, server: Server, paths: Path) -> None:
        """At least ``warmup_s`` of the scenario, and long enough for every worker to have
        been asked for each path about ``WARM_READS`` times. wrk picks paths at random and
        the workers share the connections, so a worker has not yet read a given path
        with odds e^-reads: 7 reads leave about 0.1 % of the paths out of its caches, where
        8 s left 4 % of 10,000 details out at 8,000 req/s, and those misses, ten times
        the cost of a hit, made the first sample of the detail scenario half as fast."""
        load = self.load
        warm = self.wrk(server, paths, load.warmup_s).finish()
        needed = WARM_READS * (len(server.workers()) or 1) * _count_lines(paths)
        if warm.requests < needed and warm.rps > 0:
            more_s = min(MAX_EXTRA_WARMUP_S, (needed - warm.requests) / warm.rps)
            if more_s >= 1:
                self.wrk(server, paths, more_s).finish()

    def sample(
        self,
        name: str,
        server: Server,
        paths: Path,
        *,
        profile: bool = False,
        workers: list[int] | None = None,
    ) -> LoadResult:
        result, cpu, recording = self._measure(name, server, paths, profile, workers)
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
            result, cpu, recording = self._measure(name, server, paths, profile, workers)
            result.extra["unbalanced_attempt"] = first
        result.extra.update(cpu)
        if recording is not None:
            files = recording.wait()
            summary = summarize(files)
            print("\n".join(summary.lines(f"profile of {name}")), flush=True)
            result.extra["profile"] = {"files": [str(f) for f in files], **summary.as_dict()}
        return result

    def wrk(self, server: Server, paths: Path, duration_s: float) -> WrkRun:
        """wrk sending GETs of the paths in ``paths`` with the run's connections."""
        load = self.load
        return WrkRun(
            server.url,
            "get.lua",
            [str(paths)],
            duration_s=duration_s,
            connections=load.connections,
            threads=load.threads,
            timeout_s=10,
            work_dir=load.work_dir,
        )

    def _measure(
        self,
        name: str,
        server: Server,
        paths: Path,
        profile: bool,
        workers: list[int] | None,
    ) -> tuple[LoadResult, dict[str, Any], Recording | None]:
        load = self.load
        cpu: dict[str, Any] = {}
        recording = None
        run: WrkRun | None = None
        pids = server.workers() if workers is None else workers
        try:
            with cpu_split(pids, cpu):
                run = self.wrk(server, paths, load.duration_s)
                if profile:
                    recording = Recording(
                        pids, name, load.work_dir / "profile", max(1.0, load.duration_s - 2)
                    )
                result = run.wait()
        finally:
            if run is not None:
                run.stop()
        return result, cpu, recording


def _count_lines(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for _ in lines)
