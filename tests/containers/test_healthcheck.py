"""services/healthcheck.py, the images' HEALTHCHECK, against real listening processes: it
finds the address in /proc, whatever host and port the server was told to use."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "services" / "healthcheck.py"


@contextmanager
def http_server(bind: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m http.server`` on a free port of ``bind``, serving ``tmp_path``."""
    (tmp_path / "healthz").write_text("ok")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            bind,
            "--directory",
            str(tmp_path),
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    host = f"[{bind}]" if ":" in bind else bind
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"http://{host}:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the test server did not start"
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def check(pid: int, path: str) -> int:
    return subprocess.run(
        [sys.executable, str(CHECK), path, "--pid", str(pid)],
        capture_output=True,
        timeout=30,
        check=False,
    ).returncode


@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0", "::1"])
def test_healthy_wherever_the_server_listens(bind: str, tmp_path: Path) -> None:
    with http_server(bind, tmp_path) as server:
        assert check(server.pid, "/healthz") == 0


def test_unhealthy_on_an_error_status(tmp_path: Path) -> None:
    with http_server("127.0.0.1", tmp_path) as server:
        assert check(server.pid, "/no-such-path") == 1


def test_unhealthy_without_a_listening_socket() -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert check(idle.pid, "/healthz") == 1
    finally:
        idle.kill()
        idle.wait(timeout=10)
