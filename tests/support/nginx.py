"""Debian's nginx, run by the tests and the bench with a config they give it: on its own
prefix, in the foreground, its pid file in that prefix. As root, its workers stay root
(``user root``) so they read the files the tests wrote, as the pod's nginx reads them
through its group."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

START_TIMEOUT_S = 15.0


def nginx_path() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def nginx_command(binary: str, prefix: Path, config: Path) -> list[str]:
    """nginx in the foreground with ``config``, its pid (and, as root, its user) given on
    the command line, as the chart's sidecar starts it."""
    globals_ = f"daemon off; pid {prefix / 'nginx.pid'};"
    if os.geteuid() == 0:
        globals_ += " user root;"
    return [binary, "-p", str(prefix), "-c", str(config), "-e", "stderr", "-g", globals_]


@contextlib.contextmanager
def run_nginx(config_text: str, prefix: Path, url: str) -> Iterator[subprocess.Popen[bytes]]:
    """nginx with ``config_text`` until the block ends; ready once ``url`` answers."""
    binary = nginx_path()
    if binary is None:
        raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
    prefix.mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(config_text)
    log = (prefix / "nginx.log").open("ab")
    process = subprocess.Popen(
        nginx_command(binary, prefix, config), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "nginx did not start:\n" + (prefix / "nginx.log").read_text(errors="replace")
                )
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(url, timeout=2)
                break
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
