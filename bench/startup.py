"""Start to first 200: how long ``pixyproxy serve`` and the container image take from being
started to answering ``GET /readyz`` with 200 (the readiness probe's question: database
reached, image store writable), each measured ``repeat`` times from a cold process.

The container runs as the chart runs it (the pod spec rendered from ``charts/pixyproxy``
and turned into ``podman run`` arguments by ``tests/support/podman.py``: user, read-only
root, dropped capabilities, its emptyDirs, the image claim); it is skipped, with a line
saying why, when podman or the image is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from bench.mysql import MySQLTarget
from bench.servers import REPO
from tests.support.ports import free_port
from tests.support.servers import serve_command

API_IMAGE = "localhost/pixyproxy/api:dev"
HOST_FROM_POD = "10.0.2.2"  # slirp4netns with allow_host_loopback: the host's 127.0.0.1
DB_SECRET = "bench-startup-db"  # noqa: S105 - the name of a Secret object
POLL_S = 0.02
TIMEOUT_S = 60.0


def first_200(url: str, started: float, alive: Callable[[], bool]) -> float:
    """Seconds from ``started`` (a ``time.monotonic()``) to the first 200 of ``url``."""
    deadline = started + TIMEOUT_S
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError(f"the server exited before {url} answered 200")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return round(time.monotonic() - started, 3)
            time.sleep(POLL_S)
    raise RuntimeError(f"{url} did not answer 200 within {TIMEOUT_S:g} s")


def serve_once(env: Mapping[str, str], log_dir: Path, *, workers: int) -> float:
    """One cold ``pixyproxy serve``: seconds to its first 200."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "startup-serve.log").open("ab") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            serve_command(port, workers=workers),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=REPO,
            start_new_session=True,
        )
        try:
            return first_200(
                f"http://127.0.0.1:{port}/readyz", started, lambda: process.poll() is None
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)  # the session this function started
                process.wait(timeout=10)


def container_missing(image: str = API_IMAGE) -> str | None:
    """Why the container cannot be measured here, or None."""
    from tests.support.podman import podman

    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install podman runc)"
    if podman("image", "exists", image, check=False).returncode != 0:
        return f"the image {image} is missing (make images)"
    return None


def _chart_values(target: MySQLTarget) -> dict[str, Any]:
    repository, tag = API_IMAGE.removeprefix("localhost/").split(":")
    database: dict[str, Any] = {
        "host": HOST_FROM_POD,
        "port": target.port,
        "database": target.database,
        "user": target.user,
    }
    database |= (
        {"password": target.password}
        if target.password
        else {"existingSecret": DB_SECRET, "passwordKey": "password"}
    )
    return {
        "env": "production",
        "mysql": {"enabled": False},
        "externalDatabase": database,
        "image": {"registry": "localhost", "repository": repository, "tag": tag},
    }


def container_once(target: MySQLTarget) -> float:
    """One cold API container of the chart's pod spec: seconds to its first 200."""
    from tests.support.chart import api_deployment, one, pod_template, render
    from tests.support.podman import PodRunner, podman

    docs = render(_chart_values(target))
    spec = pod_template(api_deployment(docs))["spec"]
    api = next(c for c in spec["containers"] if c["name"] == "api")
    existing = {"kind": "Secret", "metadata": {"name": DB_SECRET}, "data": {"password": ""}}
    claim = one(docs, "PersistentVolumeClaim")["metadata"]["name"]
    name = f"pixyproxy-bench-{uuid.uuid4().hex[:8]}"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-volume-") as volume:
        fs_group = spec["securityContext"]["fsGroup"]
        os.chown(volume, fs_group, fs_group)  # what the kubelet's fsGroup does to the volume
        Path(volume).chmod(0o2775)
        podman(
            "pod", "create", "--name", name,
            "--network", "slirp4netns:allow_host_loopback=true",
            "--publish", f"127.0.0.1:{port}:8000",
        )  # fmt: skip
        try:
            runner = PodRunner(pod=name, objects=[*docs, existing], claims={claim: Path(volume)})
            args = runner.run_args(spec, api, f"{name}-api")
            started = time.monotonic()
            run = podman("run", "--detach", *args, api["image"], *api.get("args", []), check=False)
            if run.returncode != 0:
                raise RuntimeError(f"podman run failed: {run.stderr[-2000:]}")
            return first_200(f"http://127.0.0.1:{port}/readyz", started, lambda: True)
        finally:
            podman("pod", "rm", "--force", "--time", "5", name, check=False)


def measure(
    repeat: int,
    serve_env: Mapping[str, str],
    log_dir: Path,
    *,
    workers: int,
    target: MySQLTarget,
    note: Callable[[str], None],
    container: bool = True,
) -> dict[str, Any]:
    """Both start times, ``repeat`` samples each (seconds), or why one was not measured."""
    results: dict[str, Any] = {
        "serve": {
            "samples_s": [serve_once(serve_env, log_dir, workers=workers) for _ in range(repeat)]
        }
    }
    missing = container_missing() if container else "skipped (--skip-container)"
    if missing is not None:
        note(f"container start-up not measured: {missing}")
        results["container"] = {"samples_s": [], "not_measured": missing}
    else:
        results["container"] = {"samples_s": [container_once(target) for _ in range(repeat)]}
    return results
