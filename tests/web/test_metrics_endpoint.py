"""``/metrics`` in one process: request metrics by route template, health and metrics left
out, our ``pixyproxy_`` series. (Several gunicorn workers: tests/e2e.)"""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import ServeApi

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: httpx.Client) -> Samples:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, where: Callable[[dict[str, str]], bool]) -> float:
    return sum(v for (n, labels), v in samples.items() if n == name and where(dict(labels)))


def test_requests_are_counted_by_template_method_and_status_class(serve_api: ServeApi) -> None:
    api = serve_api(anonymous_generation=True)
    before = scrape(api)
    guid = api.post("/image", json={"prompt": "a fox"}).json()["guid"]
    for _ in range(3):
        assert api.get(f"/image/{guid}").status_code == 200
    assert api.get(f"/image/{uuid4()}").status_code == 404
    assert api.get("/image/not-a-guid").status_code == 422
    assert api.get(f"/nothing/here/{uuid4()}").status_code == 404
    assert api.get(f"/image/{guid}/content").status_code == 200
    for path in ("/healthz", "/readyz", "/metrics", "/healthz/", "/readyz/", "/metrics/"):
        assert api.get(path).status_code == 200, path
    after = scrape(api)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "http_requests_total"
    assert delta(requests, handler="/image", method="POST", status="2xx") == 1
    assert delta(requests, handler="/image/{guid}", method="GET", status="2xx") == 3
    assert delta(requests, handler="/image/{guid}", method="GET", status="4xx") == 2
    assert delta(requests, handler="/image/{guid}/content", method="GET", status="2xx") == 1
    assert delta(requests, handler="none", method="GET", status="4xx") == 1
    assert total(after, requests, lambda _: True) - total(before, requests, lambda _: True) == 8
    # never raw paths, never the probes or the scrape itself
    handlers = {dict(labels).get("handler") for (name, labels) in after if name == requests}
    assert not [h for h in handlers if h and (guid in h or "nothing" in h)]
    assert not handlers & {"/healthz", "/readyz", "/metrics", "/healthz/", "/readyz/", "/metrics/"}
    duration = "http_request_duration_seconds_count"
    assert delta(duration, handler="/image/{guid}", method="GET") == 5
    assert (
        value(
            after, "http_request_duration_seconds_bucket", handler="/image", method="POST", le="1.0"
        )
        >= 0
    )
    highr = "http_request_duration_highr_seconds_count"
    assert value(after, highr) - value(before, highr) == 8

    assert delta("pixyproxy_generations_total", outcome="ok") == 1
    assert delta("pixyproxy_stored_bytes_total") > 0
    assert delta("pixyproxy_upstream_latency_seconds_count", provider="placeholder") == 1


def test_every_app_in_a_process_is_instrumented(serve_api: ServeApi) -> None:
    """Tests build many apps per process; the second one must count requests too."""
    first = serve_api()
    second = serve_api()
    before = scrape(second)
    first.get("/image")
    second.get("/image")
    second.get("/image")
    after = scrape(second)
    labels = {"handler": "/image", "method": "GET", "status": "2xx"}
    assert (
        value(after, "http_requests_total", **labels)
        - value(before, "http_requests_total", **labels)
        == 3
    )
