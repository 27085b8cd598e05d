"""Policies every rendered workload must follow, for every values file."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from tests.support.chart import (
    CASES,
    FULLNAME,
    NAMESPACE,
    RELEASE,
    api_config,
    api_container,
    api_deployment,
    containers,
    find,
    load_values,
    merged_values,
    one,
    pod_template,
    render_case,
    workloads,
)

pytest.importorskip("helm_python")

# A path inside the containers (an emptyDir mount), not a temporary file of this process.
CONTAINER_TMP = "/tmp"  # noqa: S108
SECRET_ENV_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN", re.IGNORECASE)
SECRET_VALUE_KEYS = {"password", "rootPassword", "secret", "apiKey", "publicKey"}


def _pods(case: str) -> list[tuple[str, dict[str, Any]]]:
    """(kind/name, pod template) of every workload, the helm test pod included."""
    return [
        (f"{d['kind']}/{d['metadata']['name']}", pod_template(d))
        for d in workloads(render_case(case))
    ]


@pytest.mark.parametrize("case", CASES)
def test_workloads_exist(case: str) -> None:
    names = {name for name, _ in _pods(case)}
    assert f"Deployment/{FULLNAME}" in names
    if merged_values(case)["tests"]["enabled"]:
        assert f"Pod/{FULLNAME}-test" in names


@pytest.mark.parametrize("case", CASES)
def test_non_root_read_only_no_capabilities(case: str) -> None:
    for name, pod in _pods(case):
        spec = pod["spec"]
        pod_sc = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, name
        for c in containers(spec):
            where = f"{name} container {c['name']}"
            sc = c.get("securityContext", {})
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            assert isinstance(uid, int) and uid > 0, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("privileged", False) is False, where
            assert "ALL" in sc.get("capabilities", {}).get("drop", []), where
            assert not sc.get("capabilities", {}).get("add"), where
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", where


@pytest.mark.parametrize("case", CASES)
def test_resources_set(case: str) -> None:
    for name, pod in _pods(case):
        for c in containers(pod["spec"]):
            res = c.get("resources", {})
            assert {"cpu", "memory"} <= set(res.get("requests", {})), f"{name}/{c['name']}"
            assert "memory" in res.get("limits", {}), f"{name}/{c['name']}"


@pytest.mark.parametrize("case", CASES)
def test_images_pinned(case: str) -> None:
    for name, pod in _pods(case):
        for c in containers(pod["spec"]):
            image = c["image"].split("@")[0]
            last = image.rsplit("/", 1)[-1]
            assert ":" in last, f"{name}/{c['name']}: {c['image']} has no tag"
            tag = last.split(":", 1)[1]
            assert tag and tag != "latest", f"{name}/{c['name']}: {c['image']}"


@pytest.mark.parametrize("case", CASES)
def test_writable_paths_are_volumes(case: str) -> None:
    """Read-only root: every path the long-running containers write is a mounted volume.
    The migration is a one-off command and needs none (the container test runs it so)."""
    for name, pod in _pods(case):
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for c in containers(pod["spec"]):
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            if c["name"] == "migrate":
                assert mounts == {}, f"{name}/migrate mounts {sorted(mounts)}"
                continue
            assert CONTAINER_TMP in mounts, f"{name}/{c['name']} has no writable /tmp"
            for volume in mounts.values():
                assert volume in volumes or volume in _claim_templates(case, name), volume


def _claim_templates(case: str, name: str) -> set[str]:
    kind, _, obj = name.partition("/")
    if kind != "StatefulSet":
        return set()
    sts = one(render_case(case), "StatefulSet", obj)
    return {t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])}


@pytest.mark.parametrize("case", CASES)
def test_api_probes_and_shutdown(case: str) -> None:
    docs = render_case(case)
    api = api_container(docs)
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"  # never the database
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert api[probe]["httpGet"]["port"] == "http"
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in api["ports"]

    pre_stop = api["lifecycle"]["preStop"]
    if "sleep" in pre_stop:
        sleep = pre_stop["sleep"]["seconds"]
    else:
        command = pre_stop["exec"]["command"]
        assert command[0] == "python"  # no "sleep" binary needed in the image
        sleep = int(re.search(r"time\.sleep\((\d+)\)", command[-1]).group(1))
    graceful = int(api_config(docs)["PIXY_GRACEFUL_TIMEOUT_S"])
    openai_timeout = int(api_config(docs)["PIXY_OPENAI_TIMEOUT_S"])
    spec = pod_template(api_deployment(docs))["spec"]
    assert spec["terminationGracePeriodSeconds"] > sleep + graceful
    assert graceful > openai_timeout


@pytest.mark.parametrize("case", CASES)
def test_api_volumes(case: str) -> None:
    docs = render_case(case)
    mounts = {m["mountPath"]: m["name"] for m in api_container(docs)["volumeMounts"]}
    assert {CONTAINER_TMP, "/var/run/pixyproxy/metrics"} <= set(mounts)
    volumes = {v["name"]: v for v in pod_template(api_deployment(docs))["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts[CONTAINER_TMP]]
    assert "emptyDir" in volumes[mounts["/var/run/pixyproxy/metrics"]]
    config = api_config(docs)
    assert config["PIXY_METRICS_DIR"] == "/var/run/pixyproxy/metrics"
    assert "PROMETHEUS_MULTIPROC_DIR" not in config
    values = merged_values(case)
    assert config["PIXY_STORAGE_BACKEND"] == values["storage"]["backend"]
    if values["storage"]["backend"] == "s3":
        # A bucket: no volume, no claim, the bucket's settings instead.
        assert "/data/images" not in mounts and "images" not in volumes
        assert find(docs, "PersistentVolumeClaim") == []
        assert "PIXY_STORAGE_DIR" not in config
        assert config["PIXY_S3_BUCKET"] == values["storage"]["s3"]["bucket"]
        return
    assert config["PIXY_STORAGE_DIR"] == "/data/images"
    assert not [name for name in config if name.startswith("PIXY_S3_")]
    persistence = values["persistence"]
    images = volumes[mounts["/data/images"]]
    if persistence["enabled"]:
        claim = images["persistentVolumeClaim"]["claimName"]
        if not persistence["existingClaim"]:
            pvc = one(docs, "PersistentVolumeClaim", claim)
            assert pvc["spec"]["accessModes"] == persistence["accessModes"]
    else:
        assert "emptyDir" in images


@pytest.mark.parametrize("case", CASES)
def test_strategy_follows_access_mode(case: str) -> None:
    docs = render_case(case)
    values = merged_values(case)
    deployment = api_deployment(docs)
    shared = values["storage"]["backend"] == "s3" or (
        values["persistence"]["enabled"] and "ReadWriteMany" in values["persistence"]["accessModes"]
    )
    assert deployment["spec"]["strategy"]["type"] == ("RollingUpdate" if shared else "Recreate")
    if values["autoscaling"]["enabled"]:
        assert "replicas" not in deployment["spec"]
        hpa = one(docs, "HorizontalPodAutoscaler", FULLNAME)
        assert hpa["spec"]["scaleTargetRef"]["name"] == FULLNAME
    else:
        assert deployment["spec"]["replicas"] == values["replicaCount"]


@pytest.mark.parametrize("case", CASES)
def test_checksum_annotations(case: str) -> None:
    annotations = pod_template(api_deployment(render_case(case)))["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"])
    assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/secret"])


@pytest.mark.parametrize("case", CASES)
def test_topology_spread(case: str) -> None:
    values = merged_values(case)
    spec = pod_template(api_deployment(render_case(case)))["spec"]
    if not values["topologySpread"]["enabled"]:
        assert "topologySpreadConstraints" not in spec
        return
    constraints = spec["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in constraints] == values["topologySpread"]["topologyKeys"]
    for c in constraints:
        assert c["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"


# ---------------------------------------------------------------------------- secrets


def _secret_literals(values: Any) -> set[str]:
    """Values the test values files set as secrets (passwords, keys)."""
    found: set[str] = set()
    if isinstance(values, dict):
        for key, value in values.items():
            if key in SECRET_VALUE_KEYS and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= _secret_literals(value)
    elif isinstance(values, list):
        for item in values:
            found |= _secret_literals(item)
    return found


def _secret_data(docs: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    out = {}
    for secret in find(docs, "Secret"):
        for key, value in (secret.get("data") or {}).items():
            out[(secret["metadata"]["name"], key)] = base64.b64decode(value).decode()
        for key, value in (secret.get("stringData") or {}).items():
            out[(secret["metadata"]["name"], key)] = value
    return out


def test_secret_scan_has_something_to_find() -> None:
    """The scan below is only meaningful if some values files set literal secrets."""
    literals = set()
    for case in CASES:
        literals |= _secret_literals(load_values(case))
    assert len(literals) >= 4


@pytest.mark.parametrize("case", CASES)
def test_no_secret_outside_secrets(case: str) -> None:
    docs = render_case(case)
    literals = _secret_literals(load_values(case))
    stored = set(_secret_data(docs).values())
    # Every literal secret from the values ends up in a chart-made Secret ...
    assert literals <= stored
    # ... and nowhere else: not in a ConfigMap, an env value, a command, an annotation.
    for doc in docs:
        if doc["kind"] == "Secret":
            continue
        text = repr(doc)
        for literal in literals | {s for s in stored if len(s) >= 8}:
            assert literal not in text, f"secret value leaked into {doc['kind']}"
    for cm in find(docs, "ConfigMap"):
        if cm["metadata"]["name"].endswith("-dashboard"):
            continue
        for key in cm["data"]:
            assert not SECRET_ENV_NAME.search(key), f"ConfigMap key {key} looks secret"


@pytest.mark.parametrize("case", CASES)
def test_secret_env_only_from_secret_refs(case: str) -> None:
    docs = render_case(case)
    rendered = _secret_data(docs)
    values = merged_values(case)
    existing = {
        values["auth"]["jwt"]["existingSecret"],
        values["openai"]["existingSecret"],
        values["externalDatabase"]["existingSecret"],
        values["mysql"]["auth"]["existingSecret"],
        values["storage"]["s3"]["existingSecret"],
    } - {""}
    for name, pod in _pods(case):
        for c in containers(pod["spec"]):
            for env in c.get("env", []):
                if SECRET_ENV_NAME.search(env["name"]):
                    assert "value" not in env, f"{name}/{c['name']}: literal {env['name']}"
                    ref = env["valueFrom"]["secretKeyRef"]
                    if ref["name"] in existing:
                        continue
                    assert (ref["name"], ref["key"]) in rendered, (
                        f"{name}/{c['name']}: {env['name']} refers to a missing "
                        f"Secret key {ref['name']}/{ref['key']}"
                    )


@pytest.mark.parametrize("case", CASES)
def test_database_url_has_no_password(case: str) -> None:
    docs = render_case(case)
    url = api_config(docs)["PIXY_DATABASE_URL"]
    assert re.fullmatch(r"mysql://[^:@/]+@[^:@/]+:\d+/\w+", url), url
    env = {e["name"]: e for e in api_container(docs)["env"]}
    assert "secretKeyRef" in env["PIXY_DATABASE_PASSWORD"]["valueFrom"]


@pytest.mark.parametrize("case", CASES)
def test_production_has_a_jwt_key(case: str) -> None:
    docs = render_case(case)
    config = api_config(docs)
    if config["PIXY_ENV"] != "production":
        return
    env = {e["name"] for e in api_container(docs)["env"]}
    assert env & {"PIXY_JWT_SECRET", "PIXY_JWT_PUBLIC_KEY"} or "PIXY_JWT_JWKS_URL" in config


# --------------------------------------------------------------------------- services


@pytest.mark.parametrize("case", CASES)
def test_services_select_pods(case: str) -> None:
    docs = render_case(case)
    templates = [pod_template(d) for d in workloads(docs) if d["kind"] != "Pod"]
    for service in find(docs, "Service"):
        selector = service["spec"]["selector"]
        assert selector, service["metadata"]["name"]
        matching = [t for t in templates if selector.items() <= t["metadata"]["labels"].items()]
        assert matching, f"Service {service['metadata']['name']} selects no pod"
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            names = {
                p.get("name")
                for t in matching
                for c in t["spec"]["containers"]
                for p in c.get("ports", [])
            }
            assert target in names, f"{service['metadata']['name']}: no port {target}"


@pytest.mark.parametrize("case", CASES)
def test_openai_mock_wiring(case: str) -> None:
    docs = render_case(case)
    config = api_config(docs)
    mock_name = f"{RELEASE}-pixyproxy-openai-mock"
    if not merged_values(case)["openaiMock"]["enabled"]:
        assert not find(docs, "Deployment", mock_name)
        return
    assert config["OPENAI_BASE_URL"] == f"http://{mock_name}:8080/v1"
    service = one(docs, "Service", mock_name)
    assert service["spec"]["ports"][0]["port"] == 8080
    env = {e["name"]: e for e in api_container(docs)["env"]}
    assert "secretKeyRef" in env["OPENAI_API_KEY"]["valueFrom"]


@pytest.mark.parametrize("case", CASES)
def test_migration_init_container(case: str) -> None:
    spec = pod_template(api_deployment(render_case(case)))["spec"]
    init = {c["name"]: c for c in spec.get("initContainers", [])}
    assert "pixyproxy db init" in init["migrate"]["command"][-1]
    assert init["migrate"]["image"] == spec["containers"][0]["image"]
    assert init["migrate"]["envFrom"] == spec["containers"][0]["envFrom"]


def test_bundled_mysql() -> None:
    docs = render_case("kind-values")
    sts = one(docs, "StatefulSet", f"{FULLNAME}-mysql")
    assert sts["spec"]["serviceName"] == f"{FULLNAME}-mysql"
    headless = one(docs, "Service", f"{FULLNAME}-mysql")
    assert headless["spec"]["clusterIP"] == "None"
    container = pod_template(sts)["spec"]["containers"][0]
    assert container["image"].startswith("docker.io/mysql:8.4")
    assert "mysqladmin ping" in " ".join(container["readinessProbe"]["exec"]["command"])
    secret = one(docs, "Secret", f"{FULLNAME}-mysql")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert set(secret["data"]) == {"mysql-password", "mysql-root-password"}
    assert (
        api_config(docs)["PIXY_DATABASE_URL"]
        == f"mysql://pixyproxy@{FULLNAME}-mysql:3306/pixyproxy"
    )


def test_network_policy_rules() -> None:
    docs = render_case("networkpolicy-values")
    api = one(docs, "NetworkPolicy", FULLNAME)
    egress_ports = {
        (p["port"], p["protocol"]) for rule in api["spec"]["egress"] for p in rule.get("ports", [])
    }
    assert {(53, "UDP"), (53, "TCP"), (443, "TCP"), (3306, "TCP"), (8080, "TCP")} <= egress_ports
    sources = api["spec"]["ingress"][0]["from"]
    namespaces = {
        s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for s in sources
        if "namespaceSelector" in s
    }
    assert namespaces == {"ingress-nginx", "monitoring"}
    assert one(docs, "NetworkPolicy", f"{FULLNAME}-mysql")
    assert one(docs, "NetworkPolicy", f"{FULLNAME}-openai-mock")


def test_helm_test_pod() -> None:
    docs = render_case("default")
    pod = one(docs, "Pod", f"{FULLNAME}-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    container = pod["spec"]["containers"][0]
    assert container["command"][0] == "python"
    script = container["command"][-1]
    assert "/readyz" in script and '"/image"' in script
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["BASE_URL"] == f"http://{FULLNAME}.{NAMESPACE}.svc:80"
