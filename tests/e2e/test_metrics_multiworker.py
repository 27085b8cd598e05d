"""``pixyproxy serve`` with two gunicorn workers as a real process: after N requests of many
kinds, ``/metrics`` adds up to exactly N whichever worker answers the scrape, our
``pixyproxy_*`` series moved as the requests say, and stdout is one JSON object per line
with one ``request.start`` and one ``request.end`` per request."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.logs import assert_one_start_and_end_each, json_lines, request_lines
from tests.support.mock_server import MockServer
from tests.support.servers import ServerProcess, run_pixyproxy, server_env

pytestmark = pytest.mark.e2e

JWT_SECRET = "metrics-e2e-secret-0123456789abcdefghij"
POOL_SIZE = 3
WORKERS = 2
MAX_ROUNDS = 15
PROBES = {"/healthz", "/readyz", "/metrics", "/healthz/", "/readyz/", "/metrics/"}

Samples = list[tuple[str, dict[str, str], float]]


API_KEY = "sk-test-e2e-key"


class Traffic:
    """Sends requests on fresh connections (so both workers get some) and remembers what
    each one should have counted."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.expected: Counter[tuple[str, str, str]] = Counter()
        self.sent: list[tuple[str, httpx.Response, str | None]] = []  # name, response, route
        self.stored_bytes = 0
        self.generated = 0
        self.rejected = 0

    def send(
        self,
        name: str,
        method: str,
        path: str,
        route: str | None,
        status: int,
        **options: Any,
    ) -> httpx.Response:
        headers = {"Connection": "close", **options.pop("headers", {})}
        response = httpx.request(method, self.url + path, headers=headers, timeout=30, **options)
        assert response.status_code == status, (name, response.text)
        handler = route if route is not None else "none"
        self.expected[(handler, method, f"{status // 100}xx")] += 1
        self.sent.append((name, response, route))
        return response

    def round(self, number: int) -> None:
        created = self.send(
            "generate", "POST", "/image", "/image", 200, json={"prompt": f"fox {number}"}
        ).json()
        self.generated += 1
        self.stored_bytes += created["size_bytes"]
        guid = created["guid"]
        self.send(
            "rejected",
            "POST",
            "/image",
            "/image",
            422,
            json={"prompt": "[mock:content_policy] a forbidden fox"},
        )
        self.rejected += 1
        self.send("invalid body", "POST", "/image", "/image", 422, json={"size": "1x1"})
        self.send("detail", "GET", f"/image/{guid}", "/image/{guid}", 200)
        self.send("detail slash", "GET", f"/image/{guid}/", "/image/{guid}", 200)
        self.send("list", "GET", "/image?limit=2", "/image", 200)
        self.send("bad list", "GET", "/image?limit=0", "/image", 422)
        self.send("content", "GET", f"/image/{guid}/content", "/image/{guid}/content", 200)
        self.send("head", "HEAD", f"/image/{guid}/content", "/image/{guid}/content", 200)
        self.send("missing", "GET", f"/image/{uuid4()}", "/image/{guid}", 404)
        self.send("bad guid", "GET", "/image/not-a-guid", "/image/{guid}", 422)
        self.send("no route", "GET", f"/no/route/{number}", None, 404)
        sane = f"e2e-{number}.sane_id"
        echoed = self.send(
            "sane id", "GET", f"/image/{guid}", "/image/{guid}", 200, headers={"X-Request-ID": sane}
        )
        assert echoed.headers["x-request-id"] == sane
        insane = f"not sane {number}!" if number % 2 else "x" * 129
        replaced = self.send(
            "insane id",
            "GET",
            f"/image/{uuid4()}",
            "/image/{guid}",
            404,
            headers={"X-Request-ID": insane},
        )
        new_id = replaced.headers["x-request-id"]
        assert new_id != insane and len(new_id) == 32
        assert replaced.json()["request_id"] == new_id


def scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=10)
    assert response.status_code == 200
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and labels.items() <= sample_labels.items()
    )


def pids_that_answered(server: ServerProcess) -> set[int]:
    records = json_lines(server.output())
    return {r["pid"] for r in request_lines(records, "request.end") if r["route"] != "/readyz"}


def test_metrics_and_logs_add_up_across_workers(
    database_url: str, backend: str, openai_mock: MockServer, tmp_path: Path
) -> None:
    env = server_env(
        database_url=database_url,
        storage_dir=tmp_path / "images",
        mock=openai_mock,
        log_level="info",
        anonymous_generation=True,
        db_pool_size=POOL_SIZE,
        openai_api_key=API_KEY,
        openai_max_retries=0,
        jwt_secret=JWT_SECRET,
    )
    with run_pixyproxy(env, workers=WORKERS) as server:
        traffic = Traffic(server.url)
        rounds = 0
        while rounds < 2 or (len(pids_that_answered(server)) < WORKERS and rounds < MAX_ROUNDS):
            traffic.round(rounds)
            rounds += 1
        assert len(pids_that_answered(server)) == WORKERS, "one worker answered everything"
        n = len(traffic.sent)

        # Several scrapes: whichever worker answers, the totals are the same.
        scrapes = [scrape(server.url) for _ in range(6)]
        mock_generations = openai_mock.stats()["generations"]
        assert server.stop() == 0
        output = server.output()

    for samples in scrapes:
        assert total(samples, "http_requests_total") == n
        counted = Counter(
            {
                (labels["handler"], labels["method"], labels["status"]): int(value)
                for name, labels, value in samples
                if name == "http_requests_total" and value
            }
        )
        assert counted == traffic.expected
        assert total(samples, "http_request_duration_seconds_count") == n
        assert total(samples, "http_request_duration_highr_seconds_count") == n
        handlers = {labels.get("handler") for _, labels, _ in samples}
        assert not handlers & PROBES

        assert total(samples, "pixyproxy_generations_total", outcome="ok") == traffic.generated
        assert total(samples, "pixyproxy_generations_total", outcome="rejected") == (
            traffic.rejected
        )
        assert total(samples, "pixyproxy_generations_total") == traffic.generated + (
            traffic.rejected
        )
        assert total(samples, "pixyproxy_stored_bytes_total") == traffic.stored_bytes > 0
        upstream_calls = traffic.generated + traffic.rejected
        assert (
            total(samples, "pixyproxy_upstream_latency_seconds_count", provider="openai")
            == upstream_calls
            == mock_generations
        )
        assert total(samples, "pixyproxy_upstream_latency_seconds_sum") > 0
        assert total(samples, "pixyproxy_upstream_errors_total", kind="rejected") == (
            traffic.rejected
        )
        assert total(samples, "pixyproxy_upstream_errors_total") == traffic.rejected
        assert total(samples, "pixyproxy_db_pool_connections_in_use") == 0
        if backend == "mysql":  # livesum over the live workers
            assert total(samples, "pixyproxy_db_pool_size") == WORKERS * POOL_SIZE
            assert total(samples, "pixyproxy_db_pool_timeouts_total") == 0

    # Logs: every line JSON, one start and one end per request, with the right fields.
    records = json_lines(output)
    ids = [response.headers["x-request-id"] for _, response, _ in traffic.sent]
    assert len(set(ids)) == n
    ends = assert_one_start_and_end_each(records, ids)
    for name, response, route in traffic.sent:
        end = ends[response.headers["x-request-id"]]
        assert end["status"] == response.status_code, name
        assert end["route"] == route, name
        assert end["method"] == response.request.method, name
        assert end["path"] == response.request.url.path, name
        assert end["client"] == "127.0.0.1" and end["subject"] is None, name
    loggers = {r["logger"] for r in records}
    assert {"gunicorn.error", "uvicorn.error", "pixyproxy.request"} <= loggers
    assert not loggers & {"uvicorn.access", "gunicorn.access"}
    assert API_KEY not in output and JWT_SECRET not in output

    # pixyproxy serve made a private metrics directory for this run and removed it after.
    announced = [r["event"] for r in records if "prometheus multiprocess" in r["event"]]
    assert len(announced) == 1
    directory = announced[0].rsplit(" ", 1)[-1]
    assert os.path.isabs(directory) and not os.path.exists(directory)
