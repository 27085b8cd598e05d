"""Real HTTP servers for tests: an app under uvicorn in a thread, or ``pixyproxy serve`` as a
process (gunicorn with uvicorn workers)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import uvicorn
from fastapi import FastAPI

from tests.support.mock_server import MockServer
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class ServerProcess:
    """``pixyproxy serve`` running as a real process, with its output captured."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log: IO[bytes]) -> None:
        self.process = process
        self.url = url
        self._log = log

    def output(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout_s: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


# Settings the OpenAI SDK reads under its own names.
_SDK_VARIABLES = ("openai_api_key", "openai_base_url")
# Starts the app (with settings overrides by field name) and returns a client bound to it.
ServeApi = Callable[..., httpx.Client]


def server_env(
    *, database_url: str, storage_dir: Path, mock: MockServer | None = None, **settings: object
) -> dict[str, str]:
    """Environment for ``pixyproxy serve``: its database and image store, JSON logs, and
    images from the OpenAI mock (placeholders without one); ``settings`` adds or overrides
    settings by field name (``jwt_secret="..."``, ``anonymous_generation=True``)."""
    env = {
        "PIXY_DATABASE_URL": database_url,
        "PIXY_STORAGE_DIR": str(storage_dir),
        "PIXY_LOG_FORMAT": "json",
        "PIXY_IMAGE_PROVIDER": "placeholder",
    }
    if mock is not None:
        env |= {
            "PIXY_IMAGE_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": mock.base_url,
        }
    for name, value in settings.items():
        variable = name.upper() if name in _SDK_VARIABLES else f"PIXY_{name.upper()}"
        env[variable] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def anonymous_server_env(
    *, database_url: str, storage_dir: Path, mock: MockServer | None = None, **settings: object
) -> dict[str, str]:
    """``server_env`` of a server anyone may generate on, logging warnings and worse only."""
    options: dict[str, object] = {"anonymous_generation": True, "log_level": "warning"}
    return server_env(
        database_url=database_url, storage_dir=storage_dir, mock=mock, **(options | settings)
    )


def serve_command(port: int | str, *, workers: int, host: str = "127.0.0.1") -> list[str]:
    """The command line of ``pixyproxy serve`` on ``host``:``port``."""
    return [
        sys.executable,
        "-m",
        "pixyproxy",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


@contextlib.contextmanager
def run_pixyproxy(
    env: dict[str, str], *, workers: int = 2, cwd: Path = REPO
) -> Iterator[ServerProcess]:
    """Start ``pixyproxy serve`` on a free port and wait until ``/readyz`` answers."""
    port = free_port()
    log = tempfile.TemporaryFile(mode="a+b")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        serve_command(port, workers=workers),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
        cwd=cwd,
    )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        server.stop()
        log.close()


def _wait_until_ready(server: ServerProcess, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"pixyproxy serve exited early:\n{server.output()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"pixyproxy serve was not ready in {timeout_s}s:\n{server.output()}")
