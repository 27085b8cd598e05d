"""The dashboard and the alerts use only series the service (or Prometheus) exports."""

from __future__ import annotations

import json

import pytest

from tests.support.chart import (
    ALLOWED_METRICS,
    FULLNAME,
    GENERATION_OUTCOMES,
    HTTP_DURATION_BUCKETS,
    NAMESPACE,
    SERVICE_METRICS,
    UPSTREAM_ERROR_KINDS,
    all_exprs,
    dashboard,
    dashboard_exprs,
    label_matchers,
    merged_values,
    metric_names,
    one,
    render,
    render_case,
    rule_exprs,
)

pytest.importorskip("helm_python")


# ----------------------------------------------------------------- the extraction helper


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('sum(rate(http_requests_total{job="a",status="5xx"}[5m]))', {"http_requests_total"}),
        (
            "histogram_quantile(0.95, sum by (le, handler) "
            '(rate(http_request_duration_seconds_bucket{namespace=~"$namespace"}[$__rate_interval])))',
            {"http_request_duration_seconds_bucket"},
        ),
        (
            "sum(rate(a_total[1h])) / sum(rate(b_total[1h])) > 14.4 * 0.005 and on (job) c > 1e-9",
            {"a_total", "b_total", "c"},
        ),
        ('absent(up{job="x"} == 1)', {"up"}),
        ("label_values(pixyproxy_stored_bytes_total, namespace)", {"pixyproxy_stored_bytes_total"}),
        ('label_values(foo{namespace=~"$namespace"}, job)', {"foo"}),
        (
            "sum without (pid) (rate(x:recorded:rate5m[5m] offset 1h)) unless bar",
            {"x:recorded:rate5m", "bar"},
        ),
    ],
)
def test_metric_names(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


def test_label_matchers() -> None:
    assert label_matchers('x{a="1",b=~"2|3"} / y{c!="4"}') == [
        ("a", "=", "1"),
        ("b", "=~", "2|3"),
        ("c", "!=", "4"),
    ]


# ---------------------------------------------------------------------------- the check


def test_dashboard_and_rules_have_expressions() -> None:
    assert len(dashboard_exprs(dashboard())) >= 15
    assert len(rule_exprs(render_case("monitoring-values"))) >= 8


def test_only_exported_metrics_are_used() -> None:
    used = set().union(*(metric_names(e) for e in all_exprs()))
    assert used - ALLOWED_METRICS == set()


def test_key_series_are_shown() -> None:
    """The dashboard covers every family the service exports, and pods up."""
    used = set().union(*(metric_names(e) for e in dashboard_exprs(dashboard())))
    families = {
        name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        for name in SERVICE_METRICS
    }
    for family in families:
        assert any(u.startswith(family) for u in used), family
    assert "up" in used


def test_label_values_are_real() -> None:
    for expr in all_exprs():
        for label, op, value in label_matchers(expr):
            if "$" in value:
                continue  # Grafana variable
            options = set(value.split("|")) if op in ("=~", "!~") else {value}
            if label == "outcome":
                assert options <= GENERATION_OUTCOMES, expr
            elif label == "kind":
                assert options <= UPSTREAM_ERROR_KINDS, expr
            elif label == "status":
                assert options <= {"1xx", "2xx", "3xx", "4xx", "5xx"}, expr
            elif label == "le" and "http_request_duration_seconds_bucket" in expr:
                assert options <= HTTP_DURATION_BUCKETS, expr


@pytest.mark.parametrize("threshold", ["0.1", "0.5", "1.0"])
def test_latency_alert_uses_an_exported_bucket(threshold: str) -> None:
    docs = render(
        {"metrics": {"prometheusRule": {"enabled": True, "latencyThresholdSeconds": threshold}}}
    )
    exprs = [e for e in rule_exprs(docs) if "http_request_duration_seconds_bucket" in e]
    assert exprs
    for expr in exprs:
        assert f'le="{threshold}"' in expr


def test_alerts_select_the_release() -> None:
    for expr in rule_exprs(render_case("monitoring-values")):
        matchers = label_matchers(expr)
        assert ("job", "=", FULLNAME) in matchers, expr
        assert ("namespace", "=", NAMESPACE) in matchers, expr


def test_burn_rate_thresholds() -> None:
    """99.9% availability: 14.4x and 6x of a 0.1% budget."""
    rule = one(render_case("monitoring-values"), "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    fast = alerts["PixyProxyErrorBudgetBurnFast"]["expr"]
    slow = alerts["PixyProxyErrorBudgetBurnSlow"]["expr"]
    assert "[1h]" in fast and "[5m]" in fast and "> 0.0144" in fast
    assert "[6h]" in slow and "[30m]" in slow and "> 0.006" in slow


# ------------------------------------------------------------------------ the dashboard


def test_route_latency_buckets_cover_generations() -> None:
    """The by-route latency panel reads a histogram whose buckets reach past the longest
    generation (config.openaiTimeoutSeconds), not one that tops out at 1 s."""
    from pixyproxy.web.metrics import LATENCY_BUCKETS

    panel = next(
        p for p in dashboard()["panels"] if p["title"] == "Latency by route (p50 / p95 / p99)"
    )
    assert all("http_request_duration_seconds_bucket" in t["expr"] for t in panel["targets"])
    timeout = merged_values("default")["config"]["openaiTimeoutSeconds"]
    assert max(LATENCY_BUCKETS) > timeout
    assert {0.1, 0.5, 1} <= set(LATENCY_BUCKETS)  # the SLO alerts' thresholds


def test_dashboard_structure() -> None:
    dash = dashboard()
    assert dash["uid"] == "pixyproxy"
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"namespace", "job"} <= set(variables)
    titles = set()
    for panel in dash["panels"]:
        titles.add(panel["title"])
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert "$namespace" in target["expr"] and "$job" in target["expr"]
    for wanted in (
        "Request rate by route",
        "Errors by route",
        "Latency by route (p50 / p95 / p99)",
        "Generations by outcome",
        "Upstream latency (p50 / p95 / p99)",
        "Upstream errors by kind",
        "DB pool: connections in use vs size",
        "DB pool: waits and timeouts",
        "Bytes stored",
        "Thumbnails made by width",
        "Thumbnail making time (p50 / p95 / p99)",
        "Pods up",
    ):
        assert wanted in titles
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_configmap() -> None:
    cm = one(render_case("monitoring-values"), "ConfigMap", f"{FULLNAME}-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"]["grafana_folder"] == "PixyProxy"
    assert json.loads(cm["data"]["pixyproxy.json"]) == dashboard()


def test_dashboard_label_is_configurable() -> None:
    docs = render(
        {
            "metrics": {
                "dashboard": {
                    "enabled": True,
                    "label": "dash",
                    "labelValue": "yes",
                    "namespace": "grafana",
                }
            }
        }
    )
    cm = one(docs, "ConfigMap", f"{FULLNAME}-dashboard")
    assert cm["metadata"]["labels"]["dash"] == "yes"
    assert cm["metadata"]["namespace"] == "grafana"


def test_service_metrics_match_the_code() -> None:
    """Our pixyproxy_* series in SERVICE_METRICS are exactly those the code defines."""
    metrics = pytest.importorskip("pixyproxy.core.metrics")
    from prometheus_client.metrics import MetricWrapperBase

    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_sum", "_count"]}
    defined = set()
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            for family in collector.describe():
                defined |= {family.name + suffix for suffix in suffixes[family.type]}
    ours = {name for name in SERVICE_METRICS if name.startswith("pixyproxy_")}
    assert defined == ours
