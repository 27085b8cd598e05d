"""Run containers with podman the way a Kubernetes pod spec says, from the rendered chart.

``PodRunner`` turns a container of a rendered pod spec into ``podman run`` arguments:
user and group from the securityContexts (pod, then container), the read-only root,
dropped capabilities and no privilege escalation, the environment (values, ConfigMap and
Secret references resolved against the rendered objects), emptyDirs as tmpfs of their
size limit, claims as host directories, and the container's command. Kubernetes adds no
tmpfs of its own, so neither does this (``--read-only-tmpfs=false``); /dev/shm is 64 MiB as
on a kubelet. The containers share a podman pod (one network namespace, like a pod's).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / ".ci" / "containers.conf"
_QUANTITY = re.compile(r"^(\d+)(Ki|Mi|Gi)?$")
_UNITS = {None: 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=podman_env(),
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args[:3])}... failed ({result.returncode}):\n{result.stderr}"
        )
    return result


def require_podman(images: list[str]) -> None:
    """Skip without podman or the images (fail when PIXY_REQUIRE_CONTAINERS is set)."""
    required = os.environ.get("PIXY_REQUIRE_CONTAINERS", "") not in ("", "0", "false")
    missing = []
    if shutil.which("podman") is None:
        missing.append("podman")
    else:
        missing += [i for i in images if podman("image", "exists", i, check=False).returncode != 0]
    if missing:
        reason = f"not available: {', '.join(missing)} (make images; apt-get install podman runc)"
        if required:
            pytest.fail(reason)
        pytest.skip(reason)


def quantity_bytes(value: str) -> int:
    match = _QUANTITY.match(str(value))
    assert match, f"unsupported quantity {value!r}"
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class PodRunner:
    """Containers of one pod. ``objects`` are the rendered ConfigMaps and Secrets (plus any
    Secret the release expects to exist), ``claims`` maps a PVC name to a host directory."""

    pod: str
    objects: list[dict[str, Any]]
    claims: Mapping[str, Path] = field(default_factory=dict)

    def _data(self, kind: str, name: str) -> dict[str, str] | None:
        for doc in self.objects:
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                data = doc.get("data") or {}
                if kind == "Secret":
                    return {k: base64.b64decode(v).decode() for k, v in data.items()}
                return {k: str(v) for k, v in data.items()}
        return None

    def environment(self, container: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef") or source.get("secretRef")
            kind = "ConfigMap" if "configMapRef" in source else "Secret"
            data = self._data(kind, ref["name"])
            assert data is not None or ref.get("optional"), f"no {kind} {ref['name']}"
            env |= data or {}
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = str(var["value"])
                continue
            source = var["valueFrom"]
            ref = source.get("secretKeyRef") or source.get("configMapKeyRef")
            kind = "Secret" if "secretKeyRef" in source else "ConfigMap"
            value = (self._data(kind, ref["name"]) or {}).get(ref["key"])
            if value is None:
                assert ref.get("optional"), f"{var['name']}: no {kind} {ref['name']}/{ref['key']}"
                continue
            env[var["name"]] = value
        return env

    def run_args(self, pod_spec: dict[str, Any], container: dict[str, Any], name: str) -> list[str]:
        pod_sc = pod_spec.get("securityContext", {})
        sc = {**pod_sc, **container.get("securityContext", {})}
        args = ["--pod", self.pod, "--name", name, "--shm-size", "64m"]
        args += ["--user", f"{sc['runAsUser']}:{sc['runAsGroup']}"]
        if "fsGroup" in pod_sc:
            args += ["--group-add", str(pod_sc["fsGroup"])]
        if sc.get("readOnlyRootFilesystem"):
            args += ["--read-only", "--read-only-tmpfs=false"]
        for cap in sc.get("capabilities", {}).get("drop", []):
            args += ["--cap-drop", cap]
        if sc.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        for key, value in sorted(self.environment(container).items()):
            args += ["--env", f"{key}={value}"]
        volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            args += self._mount(volumes[mount["name"]], mount["mountPath"])
        if "command" in container:
            args += ["--entrypoint", json.dumps(container["command"])]
        return args

    def _mount(self, volume: dict[str, Any], path: str) -> list[str]:
        if "emptyDir" in volume:
            size = volume["emptyDir"].get("sizeLimit")
            options = ["rw", "mode=1777", "U"] + ([f"size={quantity_bytes(size)}"] if size else [])
            return ["--tmpfs", f"{path}:{','.join(options)}"]
        if "persistentVolumeClaim" in volume:
            host = self.claims[volume["persistentVolumeClaim"]["claimName"]]
            return ["--volume", f"{host}:{path}:rw"]
        raise AssertionError(f"unsupported volume {volume}")

    def run(
        self,
        pod_spec: dict[str, Any],
        container: dict[str, Any],
        name: str,
        *,
        detach: bool,
        image: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        args = self.run_args(pod_spec, container, name)
        mode = ["--detach"] if detach else ["--rm"]
        command = [*container.get("args", [])]
        return podman(
            "run", *mode, *args, image or container["image"], *command, check=False, timeout=600
        )
