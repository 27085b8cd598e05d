"""Request metrics, and ``/metrics`` through prometheus-fastapi-instrumentator.

Under gunicorn every worker is a process with its own counters. ``pixyproxy serve`` puts
them in a multiprocess directory (``PIXY_METRICS_DIR``, the chart's emptyDir, or a private
one; ``serving/startup.py``): prometheus_client writes every value to files there and a
scrape sums them: the instrumentator's ``/metrics`` builds a fresh ``CollectorRegistry``
with a ``MultiProcessCollector`` per scrape, whichever worker answers. The gunicorn master
empties the directory at start and marks dead workers so their live gauges drop out
(``serving/gunicorn_conf.py``).

The request series keep the instrumentator's names, labels and buckets (the chart's
dashboard and alerts use them):

- ``http_requests_total{handler,method,status}``: handler is the route template
  (``/image/{guid}``), ``none`` for requests that matched no route; status is grouped
  (``2xx``, ``4xx``, ...);
- ``http_request_duration_seconds{handler,method}``: histogram, the instrumentator's 0.1,
  0.5 and 1 s buckets (the chart's SLO alerts read them) and longer ones up to 180 s, so
  the latency of a generation (up to ``PIXY_OPENAI_TIMEOUT_S``) shows by route as it is;
- ``http_request_duration_highr_seconds``: histogram without labels, many buckets.

They are recorded by the request middleware (``requestlog.py``), which already knows the
route, status and duration of every request; the instrumentator's own middleware would
match the route a second time and build a request and a response object for it, a
quarter of what a cached detail costs to serve. Liveness, readiness and the metrics route
itself are left out.

Installing the endpoint also creates, in the serving process, every labelled child of
PixyProxy's own counters that an alert selects on (``metrics.precreate_children``).
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from prometheus_fastapi_instrumentator import Instrumentator

from pixyproxy.core import metrics

EXCLUDED_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "none"
# Generations wait on the upstream for up to two minutes: both histograms reach that far.
# The labelled one starts with the instrumentator's 0.1/0.5/1 s (the chart's SLO alerts
# read le="1.0") and stays coarse beyond, since it has a series per route and method.
LATENCY_HIGHR_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60,
    90, 120, 180,
)  # fmt: skip
LATENCY_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180)

REQUESTS = Counter(
    "http_requests",
    "Total number of requests by method, status and handler.",
    ["handler", "method", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Duration of HTTP requests in seconds",
    ["handler", "method"],
    buckets=LATENCY_BUCKETS,
)
LATENCY_HIGHR = Histogram(
    "http_request_duration_highr_seconds",
    "Latency with many buckets but no API specific labels.",
    buckets=LATENCY_HIGHR_BUCKETS,
)

_Key = tuple[str, str, str]


class RequestMetrics:
    """Records one finished request; the labelled children are looked up once per label set."""

    def __init__(self) -> None:
        self._children: dict[_Key, tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str | None, status: int, duration_s: float) -> None:
        if route in EXCLUDED_ROUTES:
            return
        handler = route or UNMATCHED
        key = (handler, method, f"{status // 100}xx")
        children = self._children.get(key)
        if children is None:
            children = (REQUESTS.labels(*key), LATENCY.labels(handler, method))
            self._children[key] = children
        requests, latency = children
        requests.inc()
        latency.observe(duration_s)
        LATENCY_HIGHR.observe(duration_s)


def install_metrics_endpoint(app: FastAPI) -> None:
    """Serve ``/metrics`` (left out of the OpenAPI document: it is for scrapers), and create
    the alerted series of this process at 0."""
    metrics.precreate_children()
    Instrumentator().expose(app, endpoint="/metrics", include_in_schema=False)
