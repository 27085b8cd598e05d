"""Generated and hand-written deployment files agree with the chart."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.support.chart import CHART, CI_DIR, ROOT, merged_values

pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

MANIFESTS = ROOT / "k8s" / "pixyproxy.yaml"


def test_manifests_are_up_to_date() -> None:
    """k8s/pixyproxy.yaml and the README values table equal a fresh render."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_manifests.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_manifests_check_detects_drift(tmp_path: Any) -> None:
    """--check really compares: a stale file fails it (run on a copy of the repo files)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "render_manifests", ROOT / "scripts" / "render_manifests.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stale = tmp_path / "pixyproxy.yaml"
    stale.write_text(MANIFESTS.read_text().replace("replicas: 1", "replicas: 2", 1))
    readme = tmp_path / "README.md"
    readme.write_text(module.CHART_README.read_text())
    module.MANIFESTS, module.CHART_README, module.ROOT = stale, readme, tmp_path
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0
    assert stale.read_text() == MANIFESTS.read_text()


def _manifest_docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFESTS.read_text()) if d]


def test_manifests_are_kubectl_ready() -> None:
    docs = _manifest_docs()
    kinds = [d["kind"] for d in docs]
    assert "Deployment" in kinds and "StatefulSet" in kinds
    # No Secret values in git and no Helm hooks; Secrets come first in apply order.
    assert "Secret" not in kinds
    for doc in docs:
        assert "helm.sh/hook" not in (doc["metadata"].get("annotations") or {})
        assert doc["metadata"]["namespace"] == "pixyproxy"
    assert kinds.index("ConfigMap") < kinds.index("Deployment")
    for version in ("1.29.0", "1.33.0"):
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


def test_manifests_reference_the_documented_secrets() -> None:
    refs = set()
    for doc in _manifest_docs():
        for match in re.finditer(
            r"'secretKeyRef': \{'name': '([^']+)', 'key': '([^']+)'", repr(doc)
        ):
            refs.add(match.groups())
    assert refs == {
        ("pixyproxy-jwt", "jwt-secret"),
        ("pixyproxy-mysql", "mysql-password"),
        ("pixyproxy-mysql", "mysql-root-password"),
        ("pixyproxy-openai", "openai-api-key"),
    }
    readme = (ROOT / "k8s" / "README.md").read_text()
    for name, key in refs:
        assert name in readme and f"--from-literal={key}=" in readme


def test_kind_config() -> None:
    config = yaml.safe_load((ROOT / "k8s" / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [n["role"] for n in config["nodes"]] == ["control-plane"]


# ------------------------------------------------------------------------------ skaffold


def _skaffold() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "skaffold.yaml").read_text())


def _template_name(image: str) -> str:
    return re.sub(r"[/\-.]", "_", image)


def _has_path(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, f"values.yaml has no {dotted}"
        node = node[part]
    return node


def test_skaffold_builds_both_images() -> None:
    config = _skaffold()
    assert config["apiVersion"] == "skaffold/v4beta13"
    assert config["kind"] == "Config"
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    assert set(artifacts) == {"pixyproxy/api", "pixyproxy/openai-mock"}
    for artifact in artifacts.values():
        assert artifact.get("context", ".") == "."
        assert (ROOT / artifact["docker"]["dockerfile"]).is_file()
    assert artifacts["pixyproxy/api"]["docker"]["dockerfile"] == "services/api/Dockerfile"


def test_skaffold_sets_the_chart_image_values() -> None:
    config = _skaffold()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    (release,) = config["deploy"]["helm"]["releases"]
    assert (ROOT / release["chartPath"]) == CHART
    templates = release["setValueTemplates"]
    wanted = {"image": "pixyproxy/api", "openaiMock.image": "pixyproxy/openai-mock"}
    for prefix, image in wanted.items():
        name = _template_name(image)
        assert templates[f"{prefix}.repository"] == f"{{{{.IMAGE_REPO_{name}}}}}"
        assert templates[f"{prefix}.tag"] == f"{{{{.IMAGE_TAG_{name}}}}}"
        # The chart's default repository is the image skaffold builds.
        assert _has_path(values, f"{prefix}.repository") == image
    for key in templates:
        _has_path(values, key)


def test_skaffold_kind_profile_and_port_forward() -> None:
    config = _skaffold()
    (profile,) = [p for p in config["profiles"] if p["name"] == "kind"]
    files = [v for patch in profile["patches"] for v in patch["value"]]
    for path in files:
        assert (ROOT / path).is_file()
    assert CI_DIR / "kind-values.yaml" in [ROOT / f for f in files]
    kind = merged_values("kind-values")
    assert kind["mysql"]["enabled"] and kind["openaiMock"]["enabled"]
    assert kind["replicaCount"] == 1
    assert kind["persistence"]["accessModes"] == ["ReadWriteOnce"]
    assert (
        kind["env"] == "dev"
        or kind["auth"]["jwt"]["generateSecret"]
        or kind["auth"]["jwt"]["secret"]
    )
    (forward,) = config["portForward"]
    release = config["deploy"]["helm"]["releases"][0]
    # Release "pixyproxy" contains the chart name, so the Service is called "pixyproxy".
    assert release["name"] == "pixyproxy" == forward["resourceName"]
    assert forward["resourceType"] == "service"
    assert forward["namespace"] == release["namespace"]
    assert forward["port"] == merged_values("default")["service"]["port"] == 80
    assert forward["localPort"] == 8080


# -------------------------------------------------------------------- schema and README


def _leaf_paths(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        sub = schema.get("properties", {}).get(key)
        assert sub is not None, f"values.schema.json does not describe {prefix}{key}"
        assert sub.get("description") or prefix, f"{prefix}{key} has no description"
        if (
            isinstance(value, dict)
            and sub.get("additionalProperties") is False
            and key != "resources"
        ):
            out += _leaf_paths(value, sub, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def test_schema_covers_every_value_and_refuses_unknown_keys() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert schema["additionalProperties"] is False
    paths = _leaf_paths(values, schema)
    assert len(paths) > 100

    def closed(node: dict[str, Any], where: str) -> None:
        # Every object the chart defines lists its keys and refuses others.
        for key, sub in node.get("properties", {}).items():
            if (
                sub.get("type") == "object"
                and "properties" in sub
                and key not in ("podSecurityContext", "securityContext", "capabilities")
            ):
                assert sub.get("additionalProperties") is False, f"{where}{key}"
                closed(sub, f"{where}{key}.")

    closed(schema, "")


def test_readme_values_table_lists_every_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    for path in _leaf_paths(values, schema):
        assert f"| `{path}` |" in readme, path
    assert "Schema migration: an init container" in readme
