"""The built images run exactly as the chart's pod spec runs them (``make container-test``).

Every value comes from the chart rendered with helm-python-sdk, not from this file: user and
group, read-only root, dropped capabilities, the emptyDirs and the image claim, the
environment from the ConfigMap and Secrets, the migration init container's command, the
termination grace period and the preStop hook. The API pod runs in a podman pod against the
local MariaDB (reached from the pod's network at 10.0.2.2, the host's loopback) with the
OpenAI mock from its own image in the same network namespace: the one liberty taken is
that the mock Service's name resolves to the pod's loopback.

Then: scripts/smoke.py passes against it; the HEALTHCHECKs pass and follow a moved port; a
SIGTERM during a generation lets it finish and the container exits 0 within the grace
period; the restarted container serves the same images.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from jose import jwt

from tests.support.chart import FULLNAME, ROOT, api_deployment, one, pod_template, render
from tests.support.podman import PodRunner, podman, require_podman
from tests.support.ports import free_port

pytestmark = [pytest.mark.containers, pytest.mark.mysql]

TAG = os.environ.get("PIXY_IMAGE_TAG", "dev")
API_IMAGE = f"localhost/pixyproxy/api:{TAG}"
MOCK_IMAGE = f"localhost/pixyproxy/openai-mock:{TAG}"
HOST_FROM_POD = "10.0.2.2"  # slirp4netns with allow_host_loopback: the host's 127.0.0.1
DB_SECRET = "container-test-db"  # the "existing Secret" holding the database password
GENERATION_DELAY_S = 4


@dataclass
class Pod:
    name: str
    api: str
    mock: str
    url: str
    mock_url: str
    docs: list[dict[str, Any]]
    runner: PodRunner
    migration: subprocess.CompletedProcess[str]
    secret: str

    @property
    def spec(self) -> dict[str, Any]:
        return pod_template(api_deployment(self.docs))["spec"]

    def container(self, name: str) -> dict[str, Any]:
        spec = self.spec
        return next(
            c for c in [*spec.get("initContainers", []), *spec["containers"]] if c["name"] == name
        )

    def token(self, subject: str = "containers") -> str:
        claims = {"sub": subject, "aud": "pixyproxy", "exp": int(time.time()) + 900}
        return str(jwt.encode(claims, self.secret, algorithm="HS256"))


def _values(database: str, user: str, password: str | None, port: int) -> dict[str, Any]:
    db: dict[str, Any] = {"host": HOST_FROM_POD, "port": port, "database": database, "user": user}
    db |= (
        {"password": password}
        if password
        else {"existingSecret": DB_SECRET, "passwordKey": "password"}
    )
    return {
        "env": "production",
        "mysql": {"enabled": False},
        "externalDatabase": db,
        "image": {"registry": "localhost", "repository": "pixyproxy/api", "tag": TAG},
        "openaiMock": {
            "enabled": True,
            "image": {"registry": "localhost", "repository": "pixyproxy/openai-mock", "tag": TAG},
        },
        "lifecycle": {"preStopSleepSeconds": 1},
    }


def _wait_ready(url: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url}/readyz never answered 200")


def _logs(name: str) -> str:
    result = podman("logs", name, check=False)
    return (result.stdout + result.stderr)[-4000:]


@pytest.fixture(scope="module")
def pod(mysql_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pod]:
    require_podman([API_IMAGE, MOCK_IMAGE])
    url = urlsplit(mysql_url)
    docs = render(
        _values(url.path.lstrip("/"), url.username or "root", url.password, url.port or 3306)
    )
    images = tmp_path_factory.mktemp("image-volume")
    fs_group = pod_template(api_deployment(docs))["spec"]["securityContext"]["fsGroup"]
    os.chown(images, fs_group, fs_group)  # what the kubelet's fsGroup does to the volume
    images.chmod(0o2775)
    existing = {"kind": "Secret", "metadata": {"name": DB_SECRET}, "data": {"password": ""}}
    pvc = one(docs, "PersistentVolumeClaim")["metadata"]["name"]

    name = f"pixyproxy-test-{uuid.uuid4().hex[:8]}"
    api_port, mock_port = free_port(), free_port()
    podman(
        "pod", "create", "--name", name,
        "--network", "slirp4netns:allow_host_loopback=true",
        "--publish", f"127.0.0.1:{api_port}:8000", "--publish", f"127.0.0.1:{mock_port}:8080",
        "--add-host", f"{FULLNAME}-openai-mock:127.0.0.1",
    )  # fmt: skip
    runner = PodRunner(pod=name, objects=[*docs, existing], claims={pvc: images})
    try:
        mock_spec = pod_template(one(docs, "Deployment", f"{FULLNAME}-openai-mock"))["spec"]
        started = runner.run(mock_spec, mock_spec["containers"][0], f"{name}-mock", detach=True)
        assert started.returncode == 0, started.stderr
        api_spec = pod_template(api_deployment(docs))["spec"]
        migrate = next(c for c in api_spec["initContainers"] if c["name"] == "migrate")
        migration = runner.run(api_spec, migrate, f"{name}-migrate", detach=False)
        api = next(c for c in api_spec["containers"] if c["name"] == "api")
        started = runner.run(api_spec, api, f"{name}-api", detach=True)
        assert started.returncode == 0, started.stderr
        secret = runner.environment(api)["PIXY_JWT_SECRET"]
        result = Pod(
            name=name, api=f"{name}-api", mock=f"{name}-mock",
            url=f"http://127.0.0.1:{api_port}", mock_url=f"http://127.0.0.1:{mock_port}",
            docs=docs, runner=runner, migration=migration, secret=secret,
        )  # fmt: skip
        try:
            _wait_ready(result.url)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_logs(result.api)}") from None
        yield result
    finally:
        podman("pod", "rm", "--force", "--time", "5", name, check=False)


def test_the_init_container_migrates_in_a_read_only_container_without_mounts(pod: Pod) -> None:
    migrate = pod.container("migrate")
    assert "volumeMounts" not in migrate
    assert migrate["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod.migration.returncode == 0, pod.migration.stdout + pod.migration.stderr
    assert "schema at version" in pod.migration.stdout
    assert "Traceback" not in pod.migration.stderr


def test_the_api_runs_as_the_pod_spec_says(pod: Pod) -> None:
    api = pod.container("api")
    user = api["securityContext"]["runAsUser"]
    probe = podman("exec", pod.api, "sh", "-c", "id -u; touch /app/x 2>&1 || echo read-only")
    assert probe.stdout.split()[0] == str(user)
    assert "read-only" in probe.stdout
    # The image's own start command: `pixyproxy serve` runs gunicorn in-process, so the
    # master and every worker it forks carry that command line.
    assert "command" not in api
    workers = int(pod.runner.environment(api)["PIXY_WORKERS"])
    processes = podman("top", pod.api, "args").stdout.splitlines()[1:]
    assert len(processes) == workers + 1, processes
    assert all("pixyproxy serve" in line for line in processes), processes


def test_smoke_passes(pod: Pod) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "smoke.py"),
         "--url", pod.url, "--token", pod.token()],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr + _logs(pod.api)
    assert "RESULT: PASS" in result.stdout


def test_healthchecks_pass(pod: Pod) -> None:
    for name in (pod.api, pod.mock):
        result = podman("healthcheck", "run", name, check=False)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_healthchecks_follow_a_moved_port(pod: Pod) -> None:
    """--port and OPENAI_MOCK_PORT move the servers; the HEALTHCHECKs move with them."""
    name = f"{pod.name}-moved"
    runs = {
        f"{name}-mock": ["--env", "OPENAI_MOCK_PORT=18081", MOCK_IMAGE],
        f"{name}-api": [
            "--env", "PIXY_DATABASE_URL=sqlite:////tmp/moved.db",
            "--env", "PIXY_STORAGE_DIR=/tmp/images",
            "--tmpfs", "/tmp:rw,mode=1777",  # noqa: S108 - the container's own tmpfs
            API_IMAGE, "pixyproxy", "serve", "--host", "0.0.0.0", "--port", "18001",
        ],
    }  # fmt: skip
    try:
        for container, args in runs.items():
            podman(
                "run",
                "--detach",
                "--name",
                container,
                "--read-only",
                "--user",
                "10001:10001",
                *args,
            )
        for container in runs:
            deadline = time.monotonic() + 60
            while (result := podman("healthcheck", "run", container, check=False)).returncode != 0:
                assert time.monotonic() < deadline, (
                    f"{container}: {result.stderr}\n{_logs(container)}"
                )
                time.sleep(1)
        # The same check on a path that is not healthy fails.
        check = ["python", "/usr/local/lib/pixyproxy/healthcheck.py", "/no-such-path"]
        assert podman("exec", f"{name}-mock", *check, check=False).returncode == 1
    finally:
        for container in runs:
            podman("rm", "--force", "--time", "0", container, check=False)


def _png_hash(url: str, guid: str) -> str:
    response = httpx.get(f"{url}/image/{guid}/content", timeout=30)
    assert response.status_code == 200
    return hashlib.sha256(response.content).hexdigest()


def test_sigterm_lets_a_generation_finish_then_a_restart_serves_the_same_data(pod: Pod) -> None:
    headers = {"Authorization": f"Bearer {pod.token()}"}
    first = httpx.post(
        f"{pod.url}/image", json={"prompt": "kept across restarts"}, headers=headers, timeout=60
    )
    assert first.status_code == 200, first.text
    before = _png_hash(pod.url, first.json()["guid"])

    answers: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                f"{pod.url}/image",
                json={"prompt": f"[mock-delay:{GENERATION_DELAY_S}] finishing while stopping"},
                headers=headers,
                timeout=120,
            )
        )
    )
    generations = httpx.get(f"{pod.mock_url}/_mock/stats", timeout=5).json()["generations"]
    slow.start()
    deadline = time.monotonic() + 30
    while httpx.get(f"{pod.mock_url}/_mock/stats", timeout=5).json()["generations"] <= generations:
        assert time.monotonic() < deadline, "the generation never reached the mock"
        time.sleep(0.1)

    # What the kubelet does: the preStop hook, then SIGTERM, SIGKILL after the grace period.
    api = pod.container("api")
    pre_stop = api["lifecycle"]["preStop"]
    if "exec" in pre_stop:
        podman("exec", pod.api, *pre_stop["exec"]["command"])
    grace = pod.spec["terminationGracePeriodSeconds"]
    podman("stop", "--time", str(grace), pod.api, timeout=grace + 60)
    slow.join(timeout=60)
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    state = podman(
        "inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", pod.api
    ).stdout.split()
    assert state == ["0", "false"], f"exit code {state}: killed, not finished\n{_logs(pod.api)}"

    podman("start", pod.api)
    _wait_ready(pod.url)
    assert _png_hash(pod.url, first.json()["guid"]) == before
    finished = answers[0].json()
    assert httpx.get(f"{pod.url}/image/{finished['guid']}", timeout=30).json() == finished
    _png_hash(pod.url, finished["guid"])
