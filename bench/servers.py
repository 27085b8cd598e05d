"""The processes a bench run starts, and the worker memory it watches.

Every server listens on a free 127.0.0.1 port, writes its output to a log file under the
bench's work directory, runs in a session of its own, and is stopped (SIGTERM, then SIGKILL
of that session) when the run ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from tests.support.mock_server import mock_command
from tests.support.ports import free_port
from tests.support.procs import children, memory
from tests.support.servers import serve_command

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
_START_ATTEMPTS = 3


class ServerError(RuntimeError):
    """A server did not start, or died."""


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without PIXY_*/OPENAI_* settings, plus ``extra``."""
    keep = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIXY_", "OPENAI_", "PROMETHEUS_MULTIPROC"))
    }
    keep["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    keep.update(extra)
    return keep


class Server:
    """One started process (a gunicorn master, or the mock) and its log."""

    def __init__(
        self, name: str, process: subprocess.Popen[bytes], url: str, log_path: Path, log: IO[bytes]
    ) -> None:
        self.name = name
        self.process = process
        self.url = url
        self.log_path = log_path
        self._log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def workers(self) -> list[int]:
        return children(self.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # the session we started
                self.process.wait(timeout=10)
        self._log.close()


def _wait_ready(server: Server, path: str, timeout_s: float, workers: int) -> bool:
    """True once ``path`` answers 200 (and ``workers`` workers exist); False if it died."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=3) as client:
        while time.monotonic() < deadline:
            if not server.alive():
                return False
            with contextlib.suppress(httpx.HTTPError):
                answered = client.get(server.url + path).status_code == 200
                if answered and len(server.workers()) >= workers:
                    return True
            time.sleep(0.1)
    raise ServerError(f"{server.name} was not ready in {timeout_s:g}s:\n{server.log_tail()}")


def start_server(
    name: str,
    command: list[str],
    env: Mapping[str, str],
    log_dir: Path,
    *,
    ready_path: str,
    workers: int = 0,
) -> Server:
    """Start ``command`` (``{port}`` in it is filled in) and wait until ``ready_path`` is 200."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    tail = ""
    for _attempt in range(_START_ATTEMPTS):  # a free port can be taken before the child binds
        port = free_port()
        log = log_path.open("ab")
        process = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=REPO,
            start_new_session=True,
        )
        server = Server(name, process, f"http://127.0.0.1:{port}", log_path, log)
        try:
            if _wait_ready(server, ready_path, START_TIMEOUT_S, workers):
                return server
        except BaseException:
            server.stop()
            raise
        tail = server.log_tail()
        server.stop()
    raise ServerError(f"{name} exited during start:\n{tail}")


def start_mock(env: Mapping[str, str], log_dir: Path, *, delay_s: float) -> Server:
    command = mock_command("{port}", delay_s=delay_s, access_log=False)
    return start_server("openai-mock", command, env, log_dir, ready_path="/healthz")


def start_pixyproxy(env: Mapping[str, str], log_dir: Path, *, workers: int) -> Server:
    command = serve_command("{port}", workers=workers)
    return start_server("pixyproxy", command, env, log_dir, ready_path="/readyz", workers=workers)


def start_baseline(
    env: Mapping[str, str], log_dir: Path, *, workers: int, factory: str = "create_fastapi_app"
) -> Server:
    """A baseline app of ``bench/baseline.py`` under the same gunicorn options and workers."""
    command = [
        sys.executable,
        "-m",
        "bench.baseline",
        factory,
        "--port",
        "{port}",
        "--workers",
        str(workers),
    ]
    name = f"baseline-{factory}"
    return start_server(name, command, env, log_dir, ready_path="/healthz", workers=workers)


# --- processes and memory ---------------------------------------------------------------------


@dataclass
class WorkerMemory:
    pid: int
    peak_rss_kb: int = 0  # the largest VmRSS sampled
    hwm_kb: int = 0  # the kernel's own high-water mark, VmHWM
    samples: int = 0

    @property
    def peak_mb(self) -> float:
        return round(max(self.peak_rss_kb, self.hwm_kb) / 1024, 1)


@dataclass
class MemoryWatch:
    """Samples the workers of watched gunicorn masters every ``interval_s`` in a thread."""

    interval_s: float = 0.5
    workers: dict[str, dict[int, WorkerMemory]] = field(default_factory=dict)
    _masters: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def watch(self, label: str, master_pid: int) -> None:
        with self._lock:
            self._masters[label] = master_pid
            self.workers.setdefault(label, {})
        self.sample()

    def unwatch(self, label: str) -> None:
        self.sample()
        with self._lock:
            self._masters.pop(label, None)

    def sample(self) -> None:
        with self._lock:
            masters = dict(self._masters)
        for label, master in masters.items():
            for pid in children(master):
                resident = memory(pid)
                if resident is None:
                    continue
                with self._lock:
                    entry = self.workers[label].setdefault(pid, WorkerMemory(pid))
                    entry.peak_rss_kb = max(entry.peak_rss_kb, resident.rss_kib)
                    entry.hwm_kb = max(entry.hwm_kb, resident.hwm_kib)
                    entry.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    @contextlib.contextmanager
    def running(self) -> Iterator[MemoryWatch]:
        self._thread = threading.Thread(target=self._loop, name="bench-memory", daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=5)
