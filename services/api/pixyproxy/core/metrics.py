"""PixyProxy's own Prometheus series, all prefixed ``pixyproxy_``.

prometheus_client keeps one registry per process; under gunicorn the multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``) sums the workers when ``/metrics`` is scraped. Gauges say
how to combine workers for that reason. Whether values live in memory or in that
directory is decided by ``pixyproxy serve`` before this module is first imported
(``serving/startup.py``); this module only defines the series.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from pixyproxy.core.models import ThumbnailWidth

# Every label value of the counters the chart's alerts and dashboard select on. A labelled
# child only exists once it is created, and a series that appears at its first value hides
# that first event from increase()/rate(): precreate_children() makes them all at start.
GENERATION_OUTCOMES = (
    "ok",
    "rejected",
    "upstream_error",
    "rate_limited",
    "busy",
    "storage_error",
    "database_error",
    "error",
)
UPSTREAM_ERROR_KINDS = (
    "rejected",
    "rate_limited",
    "overloaded",
    "timeout",
    "connection",
    "server_error",
    "bad_request",
    "auth",
    "bad_response",
)

# Who asked for an edit or a delete (an admin acting on their own image counts as admin),
# and what came of it.
ACTORS = ("user", "admin")
CHANGE_OUTCOMES = ("ok", "not_found", "forbidden", "precondition_failed", "invalid", "error")

GENERATIONS = Counter(
    "pixyproxy_generations",
    "Image generation requests by outcome (ok, rejected, upstream_error, ...).",
    ["outcome"],
)
UPSTREAM_LATENCY = Histogram(
    "pixyproxy_upstream_latency_seconds",
    "Time the image generator took to answer, successful or not.",
    ["provider"],
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 45, 60, 90, 120, 180),
)
UPSTREAM_ERRORS = Counter(
    "pixyproxy_upstream_errors",
    "Failed calls to the image generator by kind (timeout, rate_limited, ...).",
    ["kind"],
)
IMAGE_DELETIONS = Counter(
    "pixyproxy_image_deletions",
    "DELETE /image/{guid} requests by actor (user, admin) and outcome (ok, forbidden, ...).",
    ["actor", "outcome"],
)
IMAGE_EDITS = Counter(
    "pixyproxy_image_edits",
    "PATCH /image/{guid} requests by actor (user, admin) and outcome (ok, forbidden, ...).",
    ["actor", "outcome"],
)
STORED_BYTES = Counter(
    "pixyproxy_stored_bytes",
    "Bytes of PNG written to the image store.",
)
# The `width` label values of the thumbnail series.
THUMBNAIL_WIDTHS = tuple(str(width.value) for width in ThumbnailWidth)
THUMBNAILS_MADE = Counter(
    "pixyproxy_thumbnails_made",
    "Thumbnails made and stored (each is made once, on its first request), by width.",
    ["width"],
)
THUMBNAIL_SECONDS = Histogram(
    "pixyproxy_thumbnail_seconds",
    "Time making one thumbnail took: reading the original, decoding, resizing, encoding.",
    ["width"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# The image store's series: every backend and operation (data/stores.py).
STORAGE_BACKENDS = ("filesystem", "s3")
STORAGE_OPERATIONS = ("put", "delete", "open", "read", "check", "scan", "discard", "stream")
STORAGE_SECONDS = Histogram(
    "pixyproxy_storage_operation_seconds",
    "Time one call to the image store took, successful or not (stream: to its first bytes).",
    ["backend", "operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STORAGE_ERRORS = Counter(
    "pixyproxy_storage_errors",
    "Calls to the image store that failed (unavailable, full), by backend and operation.",
    ["backend", "operation"],
)
DB_POOL_IN_USE = Gauge(
    "pixyproxy_db_pool_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "pixyproxy_db_pool_size",
    "Most database connections the pool opens.",
    multiprocess_mode="livesum",
)
DB_POOL_WAITS = Counter(
    "pixyproxy_db_pool_waits",
    "Times a request had to wait for a free database connection.",
)
DB_POOL_TIMEOUTS = Counter(
    "pixyproxy_db_pool_timeouts",
    "Times a request gave up waiting for a database connection (answered 503).",
)


def precreate_children() -> None:
    """Create every outcome and error-kind child at 0 in this process.

    Call it in each serving process once it runs (a gunicorn worker, after the fork): in
    multiprocess mode the zeros are written to that process's file, so the first scrape
    already shows every series and the first failure after a start is an increase.
    """
    for outcome in GENERATION_OUTCOMES:
        GENERATIONS.labels(outcome)
    for kind in UPSTREAM_ERROR_KINDS:
        UPSTREAM_ERRORS.labels(kind)
    for actor in ACTORS:
        for outcome in CHANGE_OUTCOMES:
            IMAGE_DELETIONS.labels(actor, outcome)
            IMAGE_EDITS.labels(actor, outcome)
    for width in THUMBNAIL_WIDTHS:
        THUMBNAILS_MADE.labels(width)
        THUMBNAIL_SECONDS.labels(width)
    for backend in STORAGE_BACKENDS:
        for operation in STORAGE_OPERATIONS:
            STORAGE_SECONDS.labels(backend, operation)
            STORAGE_ERRORS.labels(backend, operation)
