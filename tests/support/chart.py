"""Offline helpers for the chart tests: render the chart, walk the workloads, read PromQL.

No helm binary and no cluster: ``helm_python`` (PyPI ``helm-python-sdk``) renders the
chart in-process, ``kubernetes_validate`` holds the Kubernetes OpenAPI schemas.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.utils import floatToGoString

from pixyproxy.core import metrics
from pixyproxy.web.metrics import LATENCY_BUCKETS

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "pixyproxy"
CI_DIR = CHART / "ci"
DASHBOARD = CHART / "dashboards" / "pixyproxy.json"

# A release name without "pixyproxy" in it, so resource names get the <release>-pixyproxy
# prefix; a namespace that is not "default", so a forgotten namespace shows up.
RELEASE = "demo"
NAMESPACE = "pixy-ns"
FULLNAME = f"{RELEASE}-pixyproxy"

# "default" (values.yaml alone) and every ci/*.yaml file.
CASES = ["default", *sorted(p.stem for p in CI_DIR.glob("*.yaml"))]

# Kinds kubernetes-validate has no schema for (CRDs): test_chart_render checks their shape,
# test_chart_crds their schemas.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "HTTPRoute"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
KUBE_VERSIONS = ["1.29.0", "1.33.0"]

# --------------------------------------------------------------------------- metric names
# The series PixyProxy exports on /metrics (prometheus-fastapi-instrumentator defaults plus
# our own pixyproxy_*). The dashboard and the alerts may use only these and Prometheus's
# own "up". A live cross-check can compare SERVICE_METRICS with a running server's /metrics.
SERVICE_METRICS = frozenset(
    {
        # prometheus-fastapi-instrumentator
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_sum",
        "http_request_duration_seconds_count",
        "http_request_duration_highr_seconds_bucket",
        "http_request_duration_highr_seconds_sum",
        "http_request_duration_highr_seconds_count",
        # ours
        "pixyproxy_generations_total",
        "pixyproxy_upstream_latency_seconds_bucket",
        "pixyproxy_upstream_latency_seconds_sum",
        "pixyproxy_upstream_latency_seconds_count",
        "pixyproxy_upstream_errors_total",
        "pixyproxy_stored_bytes_total",
        "pixyproxy_image_edits_total",
        "pixyproxy_image_deletions_total",
        "pixyproxy_thumbnails_made_total",
        "pixyproxy_thumbnail_seconds_bucket",
        "pixyproxy_thumbnail_seconds_sum",
        "pixyproxy_thumbnail_seconds_count",
        "pixyproxy_storage_operation_seconds_bucket",
        "pixyproxy_storage_operation_seconds_sum",
        "pixyproxy_storage_operation_seconds_count",
        "pixyproxy_storage_errors_total",
        "pixyproxy_db_pool_connections_in_use",
        "pixyproxy_db_pool_size",
        "pixyproxy_db_pool_waits_total",
        "pixyproxy_db_pool_timeouts_total",
    }
)
PROMETHEUS_SERIES = frozenset({"up"})
ALLOWED_METRICS = SERVICE_METRICS | PROMETHEUS_SERIES

# Label values the service uses (for checking matchers in the alerts and dashboard): the
# package's own lists, which it also pre-creates at start.
GENERATION_OUTCOMES = frozenset(metrics.GENERATION_OUTCOMES)
UPSTREAM_ERROR_KINDS = frozenset(metrics.UPSTREAM_ERROR_KINDS)
# The le values of http_request_duration_seconds, as the Python client renders them.
HTTP_DURATION_BUCKETS = frozenset(
    {floatToGoString(b) for b in LATENCY_BUCKETS} | {"+Inf"}  # type: ignore[no-untyped-call]
)

_PROMQL_WORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "atan2",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or Grafana variable query) reads."""
    names = set(re.findall(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*[,{)]", expr))
    text = re.sub(r"label_values\([^)]*\)", " ", expr)
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', text)  # string literals
    text = re.sub(r"\{[^{}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\[\]]*\]", " ", text)  # range selectors, subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"(?<![\w:.])\d+(\.\d+)?([eE][+-]?\d+)?(?![\w:])", " ", text)  # numbers
    for match in re.finditer(r"(?<![\w:$])([A-Za-z_:][\w:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _PROMQL_WORDS:
            continue
        names.add(word)
    return names


def label_matchers(expr: str) -> list[tuple[str, str, str]]:
    """Every (label, operator, value) in the expression's selectors."""
    found = []
    for body in re.findall(r"\{([^{}]*)\}", expr):
        for m in re.finditer(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:\\.|[^"\\])*)"', body):
            found.append((m.group(1), m.group(2), m.group(3)))
    return found


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression and variable query in a Grafana dashboard."""
    exprs = []

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        exprs += [t["expr"] for t in panel.get("targets", []) if t.get("expr")]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var.get("query")
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def all_exprs() -> list[str]:
    """Every PromQL expression of the dashboard and of the alert rules (monitoring values)."""
    return dashboard_exprs(dashboard()) + rule_exprs(render_case("monitoring-values"))


def rule_exprs(docs: list[dict[str, Any]]) -> list[str]:
    return [
        rule["expr"]
        for doc in docs
        if doc["kind"] == "PrometheusRule"
        for group in doc["spec"]["groups"]
        for rule in group["rules"]
    ]


# ------------------------------------------------------------------------------ rendering


def load_values(case: str) -> dict[str, Any]:
    if case == "default":
        return {}
    return yaml.safe_load((CI_DIR / f"{case}.yaml").read_text()) or {}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render_raw(
    values: dict[str, Any], *, name: str = RELEASE, namespace: str = NAMESPACE
) -> dict[str, str]:
    import helm_python

    with helm_python.Chart.load(str(CHART)) as chart:
        return chart.render(values, name=name, namespace=namespace, is_install=True)


def render(
    values: dict[str, Any], *, name: str = RELEASE, namespace: str = NAMESPACE
) -> list[dict[str, Any]]:
    """Render and parse every document (NOTES.txt left out)."""
    rendered = render_raw(values, name=name, namespace=namespace)
    return [
        doc
        for template, text in sorted(rendered.items())
        if not template.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


@functools.cache
def _render_case(case: str) -> str:
    return json.dumps(render(load_values(case)))


def render_case(case: str) -> list[dict[str, Any]]:
    """Cached render of a named case; each call gets its own copy."""
    docs: list[dict[str, Any]] = json.loads(_render_case(case))
    return docs


def merged_values(case: str) -> dict[str, Any]:
    """values.yaml with the case's overrides applied (what the release would use)."""
    defaults: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return merge(defaults, load_values(case))


# ------------------------------------------------------------------------------ navigation


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_template(doc: dict[str, Any]) -> dict[str, Any]:
    """The pod (metadata + spec) a workload runs."""
    kind = doc["kind"]
    if kind == "Pod":
        return {"metadata": doc["metadata"], "spec": doc["spec"]}
    spec = doc["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else doc["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def api_deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment", FULLNAME)


def api_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec = pod_template(api_deployment(docs))["spec"]
    return next(c for c in spec["containers"] if c["name"] == "api")


def api_config(docs: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = one(docs, "ConfigMap", FULLNAME)["data"]
    return data
