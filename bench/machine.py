"""The machine a run measured on, how busy it was, and where the CPU went while it ran."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from bench.servers import REPO
from tests.support.procs import CpuTimes, busy_share, cpu_seconds, pids_named


def cpu_busy_pct(seconds: float = 2.0) -> float:
    """How busy the whole machine is, sampled over ``seconds`` (before the bench loads it)."""
    return round(100 * busy_share(seconds), 1)


def loadavg() -> list[float]:
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
        "date": time.strftime("%Y-%m-%d"),
        "cpu_model": model,
        "mem_total_mb": mem_mb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "hostname": platform.node(),
    }


def git_state() -> dict[str, Any]:
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


QUIET_PCT = 15.0  # busier than this before the run: the figures carry other people's load


def wait_for_quiet(sample_s: float, wait_s: float) -> float:
    """How busy the machine is (per cent), after waiting up to ``wait_s`` for it to be
    under ``QUIET_PCT``."""
    print(f"bench: how busy is the machine ({sample_s:g} s)", flush=True)
    busy = cpu_busy_pct(sample_s)
    deadline = time.monotonic() + wait_s
    while busy > QUIET_PCT and time.monotonic() < deadline:
        print(f"bench: {busy:g} % busy; waiting for under {QUIET_PCT:g} %", flush=True)
        busy = cpu_busy_pct(max(2.0, sample_s))
    return busy


def utc_now_text() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
