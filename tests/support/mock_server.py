"""Run the OpenAI mock (``services/openai-mock``) as a real subprocess for tests.

with run_mock_server() as mock:
    client = openai.AsyncOpenAI(api_key="test", base_url=mock.base_url)
    mock.set_behavior("rate_limit")
    ...
    assert mock.stats()["generations"] == 1
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.ports import free_port

_SOURCE_DIR = Path(__file__).resolve().parents[2] / "services" / "openai-mock"
_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 5.0


def mock_command(
    port: int | str, *, behavior: str = "ok", delay_s: float = 0.0, access_log: bool = True
) -> list[str]:
    """The command line of ``python -m openai_mock`` on 127.0.0.1:``port``."""
    return [
        sys.executable,
        "-m",
        "openai_mock",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--behavior",
        behavior,
        "--delay",
        str(delay_s),
        "--log-level",
        "warning",
        *([] if access_log else ["--no-access-log"]),
    ]


def openai_settings(mock: MockServer, **overrides: object) -> dict[str, object]:
    """Settings (by field name) that make PixyProxy generate through ``mock``."""
    return {
        "image_provider": "openai",
        "openai_api_key": "sk-test",
        "openai_base_url": mock.base_url,
        **overrides,
    }


class MockServer:
    """A running mock process and its control API."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
        self.process = process
        self.port = port
        self.root_url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root_url}/v1"  # what OPENAI_BASE_URL should be
        self._log = log
        self._http = httpx.Client(base_url=self.root_url, timeout=10.0)

    def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._http.request(method, path, json=json)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def config(self) -> dict[str, Any]:
        return self._call("GET", "/_mock/config")

    def set_behavior(self, behavior: str, delay_s: float = 0.0) -> None:
        """Change the runtime default behaviour and delay (headers and prompts still win)."""
        self._call("PUT", "/_mock/config", {"behavior": behavior, "delay_s": delay_s})

    def reset(self) -> None:
        """Back to the start-up behaviour and delay; zero the stats."""
        self._call("POST", "/_mock/reset")

    def stats(self) -> dict[str, Any]:
        """``{"generations": int, "by_behavior": {name: int}}``."""
        return self._call("GET", "/_mock/stats")

    def logs(self) -> str:
        """What the process wrote to stdout and stderr so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        """Terminate the process (kill it if it does not stop within a few seconds)."""
        self._http.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=_STOP_TIMEOUT_S)
        self._log.close()


def _wait_healthy(server: MockServer, deadline: float) -> bool:
    """True once /healthz answers 200; False if the process died first or time ran out."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.root_url}/healthz", timeout=1.0).status_code == 200:
                return True
        time.sleep(0.05)
    return False


def start_mock_server(behavior: str = "ok", delay_s: float = 0.0) -> MockServer:
    """Start ``python -m openai_mock`` on a free port and wait (bounded) until it answers."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_SOURCE_DIR), env.get("PYTHONPATH", "")) if p
    )
    deadline = time.monotonic() + _START_TIMEOUT_S
    last_logs = ""
    for _attempt in range(3):  # the free port can be taken before the child binds it
        port = free_port()
        # append mode: the child shares the file offset, and logs() seeks to read
        log = tempfile.TemporaryFile(mode="a+b")  # noqa: SIM115 - closed by MockServer.stop
        process = subprocess.Popen(
            mock_command(port, behavior=behavior, delay_s=delay_s),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        server = MockServer(process, port, log)
        if _wait_healthy(server, deadline):
            return server
        last_logs = server.logs()
        server.stop()
        if time.monotonic() >= deadline:
            break
    raise RuntimeError(f"openai-mock did not become healthy in {_START_TIMEOUT_S:g}s:\n{last_logs}")


@contextlib.contextmanager
def run_mock_server(behavior: str = "ok", delay_s: float = 0.0) -> Iterator[MockServer]:
    """Run the mock for the duration of a ``with`` block; always stops it."""
    server = start_mock_server(behavior, delay_s)
    try:
        yield server
    finally:
        server.stop()
