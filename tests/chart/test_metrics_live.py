"""Every series the Grafana dashboard and the alert rules query is really exported: the
service runs under gunicorn against MariaDB and the OpenAI mock, gets traffic, is scraped."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from tests.support.chart import PROMETHEUS_SERIES, all_exprs, metric_names
from tests.support.servers import ServerProcess
from tests.support.tokens import bearer

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", re.MULTILINE)


def exported_series(exposition: str) -> set[str]:
    return set(_SAMPLE.findall(exposition))


def test_exported_series_parser() -> None:
    text = '# HELP x_total X\n# TYPE x_total counter\nx_total{a="b"} 1.0\ny_bucket{le="1"} 2\nz 3\n'
    assert exported_series(text) == {"x_total", "y_bucket", "z"}


def test_dashboard_and_alerts_use_only_exported_series(
    mysql_server: Callable[..., ServerProcess],
) -> None:
    server = mysql_server(openai_max_retries=0, log_level="warning")
    with httpx.Client(base_url=server.url, headers=bearer("grafana"), timeout=30) as api:
        created = api.post("/image", json={"prompt": "a dashboard"})
        assert created.status_code == 200
        assert api.post("/image", json={"prompt": "[mock:server_error] x"}).status_code == 502
        assert api.get(created.json()["content_url"]).status_code == 200
        assert api.get("/image").status_code == 200
        assert api.get("/image/00000000-0000-4000-8000-000000000000").status_code == 404
        exported = exported_series(api.get("/metrics").text)

    used = set().union(*(metric_names(expr) for expr in all_exprs())) - PROMETHEUS_SERIES
    assert used, "the dashboard and rules query nothing?"
    assert used - exported == set(), f"queried but not exported: {sorted(used - exported)}"


def test_alerted_series_exist_at_zero_before_any_request(
    mysql_server: Callable[..., ServerProcess],
) -> None:
    """The first scrape after a start shows every outcome and error kind at 0, summed over
    the workers, so the alerts' increase() sees the first failure; /readyz, which the wait
    for the server uses, is not a metered request."""
    from pixyproxy.core.metrics import GENERATION_OUTCOMES, UPSTREAM_ERROR_KINDS

    server = mysql_server(log_level="warning")

    exposition = httpx.get(f"{server.url}/metrics", timeout=30).text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith(("pixyproxy_generations_total{", "pixyproxy_upstream_errors_total{"))
    }
    expected = {f'pixyproxy_generations_total{{outcome="{o}"}}' for o in GENERATION_OUTCOMES}
    expected |= {f'pixyproxy_upstream_errors_total{{kind="{k}"}}' for k in UPSTREAM_ERROR_KINDS}
    assert set(samples) == expected
    assert set(samples.values()) == {0.0}
