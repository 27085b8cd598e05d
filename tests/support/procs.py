"""Processes and CPUs as /proc shows them: a gunicorn master's workers, their resident
memory and CPU time, how busy the machine is; for the fault tests, the bench and the soak
test."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (a gunicorn master's workers), in pid order."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return sorted(found)


def wait_for_workers(master_pid: int, count: int, timeout_s: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = children(master_pid)
        if len(pids) == count:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"gunicorn {master_pid} has workers {children(master_pid)}, not {count}")


@dataclass(frozen=True)
class Memory:
    rss_kib: int  # resident now (VmRSS)
    hwm_kib: int  # resident at its peak (VmHWM)


def memory(pid: int) -> Memory | None:
    """The resident memory of ``pid``; None once it is gone."""
    values = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    if len(values) < 2:
        return None
    return Memory(rss_kib=values["VmRSS"], hwm_kib=values["VmHWM"])


def cpu_jiffies(pid: int) -> int:
    """User and system CPU time of ``pid`` so far, in clock ticks (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pid: int) -> float:
    return cpu_jiffies(pid) / os.sysconf("SC_CLK_TCK")


def pids_named(*names: str) -> list[int]:
    """Processes whose command name is one of ``names`` (``mariadbd``, ``mysqld``)."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() in names:
                found.append(int(comm.parent.name))
    return sorted(found)


@dataclass(frozen=True)
class CpuTimes:
    """Jiffies of all CPUs from /proc/stat (guest time is already inside user time)."""

    busy: int  # user, nice, system, irq, softirq
    interrupts: int  # irq and softirq: loopback networking is mostly softirq
    steal: int  # taken by the hypervisor
    total: int

    @classmethod
    def now(cls) -> CpuTimes:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
        values += [0] * (8 - len(values))
        user, nice, system, idle, iowait, irq, softirq, steal = values
        busy = user + nice + system + irq + softirq
        return cls(busy, irq + softirq, steal, busy + idle + iowait + steal)


def busy_share(seconds: float = 2.0) -> float:
    """The share of all CPUs that was busy over the next ``seconds``."""
    before = CpuTimes.now()
    time.sleep(seconds)
    after = CpuTimes.now()
    return (after.busy - before.busy) / max(1, after.total - before.total)
