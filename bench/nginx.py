"""Debian's nginx, started by the bench on free loopback ports with a config of its own
(``bench/nginx/nginx.conf.in``): the store's files alone, and PixyProxy behind it with the
content offload (``X-Accel-Redirect``). Non-root friendly: all it writes is under its prefix.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.servers import Server, ServerError
from tests.support.nginx import nginx_path
from tests.support.ports import free_port

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "nginx.conf.in"
DEFAULT_OFFLOAD_PREFIX = "/_protected/"
START_TIMEOUT_S = 15.0


def render(
    *,
    prefix: Path,
    store: Path,
    app: str,
    static_port: int,
    offload_port: int,
    workers: int,
    offload_prefix: str = DEFAULT_OFFLOAD_PREFIX,
    as_root: bool | None = None,
) -> str:
    """The config for these values. As root, nginx's workers would run as ``nobody``: they
    stay root here so that they read the store as the bench wrote it."""
    if not (offload_prefix.startswith("/") and offload_prefix.endswith("/")):
        raise ValueError(f"the offload prefix must start and end with '/': {offload_prefix!r}")
    root = os.geteuid() == 0 if as_root is None else as_root
    values = {
        "USER": "user root;" if root else "# not root: nginx runs as this user",
        "WORKERS": str(workers),
        "PREFIX": str(prefix),
        "STORE": str(store).rstrip("/"),
        "APP": app,
        "STATIC_PORT": str(static_port),
        "OFFLOAD_PORT": str(offload_port),
        "OFFLOAD_PREFIX": offload_prefix,
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    if left := re.findall(r"@[A-Z_]+@", text):
        raise ValueError(f"the nginx template has values this function does not fill in: {left}")
    return text


@dataclass
class Nginx:
    server: Server
    static_url: str
    offload_url: str

    def stop(self) -> None:
        self.server.stop()


def start_nginx(
    prefix: Path, store: Path, app_url: str, *, workers: int, offload_prefix: str
) -> Nginx:
    """nginx on two free ports in front of ``store`` and the app at ``app_url``."""
    binary = nginx_path()
    if binary is None:
        raise ServerError("nginx is not installed (Debian: apt-get install nginx)")
    prefix.mkdir(parents=True, exist_ok=True)
    static_port, offload_port = free_port(), free_port()
    config = prefix / "nginx.conf"
    config.write_text(
        render(
            prefix=prefix,
            store=store,
            app=app_url.removeprefix("http://"),
            static_port=static_port,
            offload_port=offload_port,
            workers=workers,
            offload_prefix=offload_prefix,
        )
    )
    log_path = prefix / "nginx.log"
    log = log_path.open("ab")
    command = [binary, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")]
    process = subprocess.Popen(
        [*command, "-g", "daemon off;"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    static_url = f"http://127.0.0.1:{static_port}"
    server = Server("nginx", process, static_url, log_path, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if not server.alive():
                break
            with contextlib.suppress(httpx.HTTPError):
                client.get(f"{static_url}/")  # any answer: it listens
                return Nginx(server, static_url, f"http://127.0.0.1:{offload_port}")
            time.sleep(0.05)
    error = (
        (prefix / "error.log").read_text(errors="replace")[-2000:]
        if (prefix / "error.log").exists()
        else ""
    )
    server.stop()
    raise ServerError(f"nginx did not start:\n{server.log_tail()}\n{error}")
