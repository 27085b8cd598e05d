"""``/metrics``: request metrics from prometheus-fastapi-instrumentator plus our own series.

Under gunicorn every worker is a process with its own counters. With
``PROMETHEUS_MULTIPROC_DIR`` set (``pixyproxy serve`` sets a private one when the caller
did not; the chart sets one on an emptyDir), prometheus_client writes every value to
files in that directory and a scrape sums them: a fresh ``CollectorRegistry`` with a
``MultiProcessCollector`` is built per scrape, whichever worker answers. gunicorn's config
empties the directory at start and marks dead workers so their live gauges drop out.

Request metrics (names the chart's dashboard and alerts use):

- ``http_requests_total{handler,method,status}``: handler is the route template
  (``/image/{guid}``), ``none`` for requests that matched no route; status is grouped
  (``2xx``, ``4xx``, ...);
- ``http_request_duration_seconds{handler,method}``: histogram, buckets 0.1, 0.5, 1 s;
- ``http_request_duration_highr_seconds``: histogram without labels, many buckets.

The instrumentator's default set also has request and response size summaries; nothing
reads them and each costs every request a few writes, so they are left out.

Liveness, readiness and the metrics route itself are left out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator, metrics

EXCLUDED_HANDLERS = ["^/healthz/?$", "^/readyz/?$", "^/metrics/?$"]
# Generations wait on the upstream for up to two minutes: the unlabelled histogram reaches
# that far. The labelled one keeps the instrumentator's 0.1/0.5/1 s (the chart's SLO
# alerts read le="1.0").
LATENCY_HIGHR_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60,
    90, 120, 180,
)  # fmt: skip
LATENCY_LOWR_BUCKETS = (0.1, 0.5, 1)


@functools.cache
def _instrumentation() -> tuple[Callable[[metrics.Info], None], ...]:
    """The request metrics, registered once per process however many apps are built (the
    instrumentator would otherwise skip them for every app after the first)."""
    made = (
        metrics.requests(),
        metrics.latency(should_include_status=False, buckets=LATENCY_LOWR_BUCKETS),
        metrics.latency(
            metric_name="http_request_duration_highr_seconds",
            metric_doc="Latency with many buckets but no API specific labels.",
            should_include_handler=False,
            should_include_method=False,
            should_include_status=False,
            buckets=LATENCY_HIGHR_BUCKETS,
        ),
    )
    if any(instrumentation is None for instrumentation in made):  # pragma: no cover
        raise RuntimeError("the request metrics are already registered")
    return made  # type: ignore[return-value]


def install_metrics(app: FastAPI) -> None:
    """Instrument ``app`` and serve ``/metrics``."""
    instrumentator = Instrumentator(
        should_group_status_codes=True,
        should_ignore_untemplated=False,
        should_group_untemplated=True,
        excluded_handlers=EXCLUDED_HANDLERS,
    )
    instrumentator.add(*_instrumentation())
    instrumentator.instrument(app)
    # Left out of the OpenAPI document: it is Prometheus' text format, for scrapers.
    instrumentator.expose(app, endpoint="/metrics", include_in_schema=False)
