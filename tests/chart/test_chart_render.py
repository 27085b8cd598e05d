"""The chart renders for every values file, lints clean and produces valid Kubernetes objects."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.chart import (
    CASES,
    CRD_KINDS,
    FULLNAME,
    KUBE_VERSIONS,
    NAMESPACE,
    find,
    load_values,
    merged_values,
    one,
    render_case,
)

kubernetes_validate = pytest.importorskip("kubernetes_validate")
helm_python = pytest.importorskip("helm_python")


@pytest.mark.parametrize("case", CASES)
def test_renders(case: str) -> None:
    docs = render_case(case)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap"} <= kinds
    for doc in docs:
        assert doc["metadata"]["name"], doc
        assert doc["metadata"].get("namespace") == NAMESPACE, (doc["kind"], doc["metadata"])
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo"


@pytest.mark.parametrize("case", CASES)
def test_lint_strict(case: str) -> None:
    from tests.support.chart import CHART

    report = helm_python.lint(str(CHART), load_values(case), strict=True, namespace=NAMESPACE)
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("case", CASES)
def test_valid_kubernetes_objects(case: str, version: str) -> None:
    """Strict OpenAPI validation; CRDs (no schema there) get the structural checks below."""
    for doc in render_case(case):
        if doc["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(
                f"{doc['kind']}/{doc['metadata']['name']} invalid for {version}: "
                f"{path}: {exc.message}"
            )


def test_every_kind_is_covered() -> None:
    """A kind that is neither in the Kubernetes schemas nor checked here would slip through."""
    for case in CASES:
        for doc in render_case(case):
            if doc["kind"] in CRD_KINDS:
                continue
            kubernetes_validate.validate(doc, KUBE_VERSIONS[0], strict=True)  # raises if unknown


# ------------------------------------------------------------------------ CRD structure

DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def _balanced(expr: str) -> bool:
    stack, pairs = [], {")": "(", "]": "[", "}": "{"}
    in_string = False
    for ch in expr:
        if ch == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return False
    return not stack and not in_string


def _crds(kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(case, d) for case in CASES for d in find(render_case(case), kind)]


def test_crd_cases_exist() -> None:
    for kind in CRD_KINDS:
        assert _crds(kind), f"no values file renders a {kind}"


def test_servicemonitor_shape() -> None:
    for case, sm in _crds("ServiceMonitor"):
        assert sm["apiVersion"] == "monitoring.coreos.com/v1"
        service = one(render_case(case), "Service", FULLNAME)
        labels = service["metadata"]["labels"]
        assert sm["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        port_names = {p["name"] for p in service["spec"]["ports"]}
        for endpoint in sm["spec"]["endpoints"]:
            assert endpoint["port"] in port_names
            assert endpoint["path"] == "/metrics"
            assert DURATION.match(endpoint["interval"])
            assert DURATION.match(endpoint["scrapeTimeout"])
        extra = merged_values(case)["metrics"]["serviceMonitor"]["labels"]
        assert extra.items() <= sm["metadata"]["labels"].items()


def test_prometheusrule_shape() -> None:
    for case, rule in _crds("PrometheusRule"):
        assert rule["apiVersion"] == "monitoring.coreos.com/v1"
        extra = merged_values(case)["metrics"]["prometheusRule"]
        assert extra["labels"].items() <= rule["metadata"]["labels"].items()
        names = set()
        for group in rule["spec"]["groups"]:
            assert group["name"] and group["rules"]
            for r in group["rules"]:
                assert set(r) <= {
                    "alert",
                    "record",
                    "expr",
                    "for",
                    "labels",
                    "annotations",
                    "keep_firing_for",
                }, r
                assert ("alert" in r) != ("record" in r)
                assert _balanced(r["expr"]), r["expr"]
                if "for" in r:
                    assert DURATION.match(r["for"]), r["for"]
                if "alert" in r:
                    assert r["alert"] not in names, f"duplicate alert {r['alert']}"
                    names.add(r["alert"])
                    assert r["labels"]["severity"] in {"critical", "warning", "info"}
                    assert extra["alertLabels"].items() <= r["labels"].items()
                    assert r["annotations"]["summary"] and r["annotations"]["description"]
        assert {
            "PixyProxyErrorBudgetBurnFast",
            "PixyProxyErrorBudgetBurnSlow",
            "PixyProxyLatencyBudgetBurnFast",
            "PixyProxyLatencyBudgetBurnSlow",
            "PixyProxyTargetDown",
            "PixyProxyUpstreamErrors",
        } <= names


def test_httproute_shape() -> None:
    for case, route in _crds("HTTPRoute"):
        assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
        spec = route["spec"]
        assert set(spec) <= {"parentRefs", "hostnames", "rules"}
        assert spec["parentRefs"] and all(p["name"] for p in spec["parentRefs"])
        service = one(render_case(case), "Service", FULLNAME)
        port = service["spec"]["ports"][0]["port"]
        for r in spec["rules"]:
            assert set(r) <= {"matches", "backendRefs", "timeouts", "filters"}
            for m in r["matches"]:
                assert m["path"]["type"] in {"PathPrefix", "Exact", "RegularExpression"}
                assert m["path"]["value"].startswith("/")
            assert r["backendRefs"] == [{"name": FULLNAME, "port": port}]
            for value in r.get("timeouts", {}).values():
                assert DURATION.match(value)
