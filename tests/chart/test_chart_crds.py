"""The chart's custom resources are valid for their APIs, checked offline.

ServiceMonitor and PrometheusRule (monitoring.coreos.com/v1) and HTTPRoute
(gateway.networking.k8s.io/v1) have no schema in kubernetes-validate. Their schemas come
pinned from npm (tools/crd-validate: @kubernetes-models/prometheus-operator 6.0.0 and
@kubernetes-models/gateway-api 2.0.0, generated from the Go API types those projects make
their CRDs from): types, enums, patterns (durations, path match types) and required fields.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.chart import CASES, CRD_KINDS, ROOT, render_case
from tests.support.tools import executable

pytest.importorskip("helm_python")

TOOL = ROOT / "tools" / "crd-validate"


@pytest.fixture(scope="module")
def validator() -> list[str]:
    """`npm ci` once (serialised across xdist workers), then the node command."""
    node = executable("node", package="nodejs")
    npm = executable("npm", package="npm")
    with (Path(tempfile.gettempdir()) / "pixyproxy-crd-validate-npm.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (TOOL / "node_modules" / "@kubernetes-models").is_dir():
            subprocess.run(
                [npm, "ci", "--silent", "--no-audit", "--no-fund", "--prefix", str(TOOL)],
                check=True,
                timeout=300,
            )
    return [node, str(TOOL / "validate.mjs")]


def _validate(command: list[str], docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, input=json.dumps(docs), capture_output=True, text=True, timeout=120, check=False
    )


def test_every_custom_resource_kind_is_rendered_somewhere() -> None:
    rendered = {d["kind"] for case in CASES for d in render_case(case)}
    assert rendered >= CRD_KINDS


def test_custom_resources_match_their_schemas(validator: list[str]) -> None:
    """Every ServiceMonitor, PrometheusRule and HTTPRoute of every values file."""
    docs = [d for case in CASES for d in render_case(case) if d["kind"] in CRD_KINDS]
    result = _validate(validator, docs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(docs)} object(s), 0 invalid" in result.stdout


def test_the_validator_rejects_what_the_api_server_would(validator: list[str]) -> None:
    docs = {d["kind"]: d for d in render_case("monitoring-values") if d["kind"] in CRD_KINDS}
    docs |= {d["kind"]: d for d in render_case("httproute-values") if d["kind"] in CRD_KINDS}
    monitor, rule, route = docs["ServiceMonitor"], docs["PrometheusRule"], docs["HTTPRoute"]
    monitor["spec"]["endpoints"][0]["interval"] = "every 30 seconds"
    rule["spec"]["groups"][0]["rules"][0]["for"] = "two minutes"
    route["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Prefix"  # Ingress's word
    result = _validate(validator, [monitor, rule, route])
    assert result.returncode == 1, result.stdout + result.stderr
    for kind in ("ServiceMonitor", "PrometheusRule", "HTTPRoute"):
        assert f"{kind}/" in result.stdout
    assert "3 invalid" in result.stdout
