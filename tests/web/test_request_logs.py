"""Request logs over real HTTP: one request.start and one request.end per request, whatever
happens to it, request ids, the log context, and secrets kept out of the output."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from uuid import uuid4

import httpx
import pytest
import structlog
from fastapi import FastAPI
from fastapi.routing import APIRoute

from pixyproxy.core.settings import Settings
from pixyproxy.web.app import create_app
from pixyproxy.web.auth import mint_token
from pixyproxy.web.logs import get_logger, reveal
from pixyproxy.web.requestlog import log_route
from tests.support.logs import (
    assert_one_start_and_end_each,
    json_lines,
    read_until_ended,
    request_lines,
)
from tests.support.mock_server import MockServer, openai_settings
from tests.support.problems import PROBLEM
from tests.support.servers import serve_in_thread

JWT_SECRET = "test-secret-0123456789-0123456789-abcdef"


def add_test_routes(app: FastAPI) -> None:
    """Routes a real app gains for these tests only: a crash, and one that logs as code does."""

    async def boom() -> None:
        raise RuntimeError("the handler blew up")

    async def chatty() -> dict[str, str]:
        get_logger("pixyproxy.test").info("inside the route", detail="structlog line")
        logging.getLogger("pixyproxy.test.stdlib").warning("inside the route, stdlib")
        return {"ok": "yes"}

    app.add_api_route("/test/boom", boom)
    app.add_api_route("/test/chatty", chatty)


@pytest.fixture
def serve(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., httpx.Client]]:
    """Start the real app (plus the test routes) with settings overrides; returns a client."""
    with ExitStack() as stack:

        def start(**overrides: object) -> httpx.Client:
            values: dict[str, object] = {"anonymous_generation": True, "jwt_secret": JWT_SECRET}
            values.update(overrides)
            app = create_app(make_settings(**values))
            add_test_routes(app)
            url = stack.enter_context(serve_in_thread(app))
            return stack.enter_context(httpx.Client(base_url=url, timeout=30))

        yield start


def test_every_request_logs_one_start_and_one_end(
    serve: Callable[..., httpx.Client], capsys: pytest.CaptureFixture[str]
) -> None:
    api = serve()
    created = api.post("/image", json={"prompt": "a red fox"})
    guid = created.json()["guid"]
    etag = api.get(f"/image/{guid}/content").headers["etag"]
    responses = {
        "generate": created,
        "detail": api.get(f"/image/{guid}"),
        "detail_slash": api.get(f"/image/{guid}/"),
        "list": api.get("/image", params={"limit": 5}),
        "content": api.get(f"/image/{guid}/content"),
        "content_head": api.head(f"/image/{guid}/content"),
        "content_304": api.get(f"/image/{guid}/content", headers={"If-None-Match": etag}),
        "content_range": api.get(f"/image/{guid}/content", headers={"Range": "bytes=0-7"}),
        "missing_image": api.get(f"/image/{uuid4()}"),
        "bad_guid": api.get("/image/not-a-guid"),
        "bad_body": api.post("/image", json={"prompt": ""}),
        "unknown_route": api.get("/no/such/route"),
        "wrong_method": api.delete("/image"),
        "crash": api.get("/test/boom"),
        "health": api.get("/healthz"),
        "ready": api.get("/readyz"),
        "metrics": api.get("/metrics"),
    }
    expected = {
        "generate": (200, "/image"),
        "detail": (200, "/image/{guid}"),
        "detail_slash": (200, "/image/{guid}"),  # one route for both spellings
        "list": (200, "/image"),
        "content": (200, "/image/{guid}/content"),
        "content_head": (200, "/image/{guid}/content"),
        "content_304": (304, "/image/{guid}/content"),
        "content_range": (206, "/image/{guid}/content"),
        "missing_image": (404, "/image/{guid}"),
        "bad_guid": (422, "/image/{guid}"),
        "bad_body": (422, "/image"),
        "unknown_route": (404, None),
        "wrong_method": (405, "/image"),
        "crash": (500, "/test/boom"),
        "health": (200, "/healthz"),
        "ready": (200, "/readyz"),
        "metrics": (200, "/metrics"),
    }
    ids = {name: response.headers["x-request-id"] for name, response in responses.items()}
    records = read_until_ended(lambda: capsys.readouterr().out, ids.values())
    assert len(set(ids.values())) == len(ids)
    ends = assert_one_start_and_end_each(records, list(ids.values()))
    for name, response in responses.items():
        status, route = expected[name]
        assert response.status_code == status, name
        end = ends[ids[name]]
        request = response.request
        assert end["status"] == status, name
        assert end["route"] == route, name
        assert end["method"] == request.method and end["path"] == request.url.path, name
        assert end["client"] == "127.0.0.1" and end["subject"] is None, name
        assert end["level"] == ("error" if status >= 500 else "info"), name
    starts = {r["request_id"]: r for r in request_lines(records, "request.start")}
    assert starts[ids["detail"]]["path"] == f"/image/{guid}"
    # nothing but our request lines reports requests (no uvicorn access lines)
    assert not [r for r in records if r["logger"] in ("uvicorn.access", "gunicorn.access")]


def test_streamed_content_ends_after_its_last_byte(
    serve: Callable[..., httpx.Client], capsys: pytest.CaptureFixture[str]
) -> None:
    api = serve()
    guid = api.post("/image", json={"prompt": "a big fox", "size": "1536x1024"}).json()["guid"]
    with api.stream("GET", f"/image/{guid}/content") as response:
        size = sum(len(chunk) for chunk in response.iter_bytes(chunk_size=1024))
        request_id = response.headers["x-request-id"]
    assert size == int(response.headers["content-length"])
    records = read_until_ended(lambda: capsys.readouterr().out, [request_id])
    end = assert_one_start_and_end_each(records, [request_id])[request_id]
    assert end["status"] == 200 and end["route"] == "/image/{guid}/content"


def test_a_crash_is_one_error_line_with_the_request_id_and_a_bare_500(
    serve: Callable[..., httpx.Client], capsys: pytest.CaptureFixture[str]
) -> None:
    api = serve()
    response = api.get("/test/boom", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-request-id"] == "crash-1"
    body = response.json()
    assert body["request_id"] == "crash-1" and body["code"] == "internal_error"
    assert "blew up" not in response.text and "Traceback" not in response.text
    err: list[str] = []

    def read() -> str:
        captured = capsys.readouterr()
        err.append(captured.err)
        return captured.out

    records = read_until_ended(read, ["crash-1"])
    errors = [r for r in records if r["level"] == "error" and "exception" in r]
    assert len(errors) == 1, errors
    assert errors[0]["request_id"] == "crash-1" and errors[0]["route"] == "/test/boom"
    assert "RuntimeError: the handler blew up" in errors[0]["exception"]
    assert "Exception in ASGI application" not in "".join(err)
    assert sum("blew up" in str(r) for r in records) == 1
    assert assert_one_start_and_end_each(records, ["crash-1"])["crash-1"]["status"] == 500


def test_lines_inside_a_route_carry_its_request_id_and_route(
    serve: Callable[..., httpx.Client], capsys: pytest.CaptureFixture[str]
) -> None:
    api = serve()
    assert api.get("/test/chatty", headers={"X-Request-ID": "ctx-1"}).status_code == 200
    records = read_until_ended(lambda: capsys.readouterr().out, ["ctx-1"])
    inside = [r for r in records if str(r["event"]).startswith("inside the route")]
    assert {r["logger"] for r in inside} == {"pixyproxy.test", "pixyproxy.test.stdlib"}
    for record in inside:
        assert record["request_id"] == "ctx-1" and record["route"] == "/test/chatty"
    assert structlog.contextvars.get_contextvars() == {}  # nothing leaks out of a request


def test_request_end_names_the_authenticated_subject(
    serve: Callable[..., httpx.Client],
    make_settings: Callable[..., Settings],
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = serve()
    token = mint_token(make_settings(jwt_secret=JWT_SECRET), "alice")
    headers = {"Authorization": f"Bearer {token}"}
    created = api.post("/image", json={"prompt": "alice's fox"}, headers=headers)
    assert created.status_code == 200 and created.json()["author"] == "alice"
    listed = api.get("/image", headers=headers)
    anonymous = api.get("/image")
    ids = [r.headers["x-request-id"] for r in (created, listed, anonymous)]
    out: list[str] = []

    def read() -> str:
        out.append(capsys.readouterr().out)
        return out[-1]

    ends = assert_one_start_and_end_each(read_until_ended(read, ids), ids)
    assert [ends[i]["subject"] for i in ids] == ["alice", "alice", None]
    assert token not in "".join(out)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123", True),
        ("A.b_c-9", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("bad id!", False),
        ("semi;colon", False),
        ("", False),
    ],
)
def test_request_id_is_echoed_when_sane_and_replaced_otherwise(
    serve: Callable[..., httpx.Client],
    capsys: pytest.CaptureFixture[str],
    sent: str,
    kept: bool,
) -> None:
    api = serve()
    found = api.get(f"/image/{uuid4()}", headers={"X-Request-ID": sent})
    echoed = found.headers["x-request-id"]
    assert found.json()["request_id"] == echoed
    if kept:
        assert echoed == sent
    else:
        assert echoed != sent and len(echoed) == 32 and int(echoed, 16) >= 0
    assert_one_start_and_end_each(
        read_until_ended(lambda: capsys.readouterr().out, [echoed]), [echoed]
    )


def test_console_format_is_readable_text(
    serve: Callable[..., httpx.Client], capsys: pytest.CaptureFixture[str]
) -> None:
    api = serve(log_format="console")
    api.get("/healthz", headers={"X-Request-ID": "console-1"})
    out = ""
    deadline = time.monotonic() + 10
    while "request.end" not in out and time.monotonic() < deadline:
        out += capsys.readouterr().out
        time.sleep(0.05)
    ends = [line for line in out.splitlines() if "request.end" in line]
    assert len(ends) == 1 and not ends[0].startswith("{")
    assert "console-1" in ends[0] and "status=200" in ends[0]


def test_secrets_never_reach_the_log(
    serve: Callable[..., httpx.Client],
    openai_mock: MockServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Debug level, the OpenAI provider with a key, bearer tokens on requests, and code that
    logs secrets the careless ways; none of the secrets may appear in the output."""
    api_key = "sk-live-0123456789abcdefSECRET"
    db_password = "hunter2-db-password"
    bearer = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA"
    api = serve(log_level="debug", **openai_settings(openai_mock, openai_api_key=api_key))
    assert api.post("/image", json={"prompt": "a fox"}).status_code == 200
    api.get("/image", headers={"Authorization": f"Bearer {bearer}"})
    api.get("/image", headers={"Authorization": f"Bearer {bearer}x"})

    dsn = f"mysql://pixy:{db_password}@db.internal:3306/pixyproxy"
    log = get_logger("pixyproxy.test")
    stdlib = logging.getLogger("dbutils")
    with structlog.contextvars.bound_contextvars(request_id="redact-1"):
        log.info("connecting", url=dsn, password=db_password, api_key=api_key)
        log.info("headers", headers={"Authorization": f"Bearer {bearer}", "Accept": "*/*"})
        log.info("on purpose", dev_token=reveal("eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZXYifQ.shown"))
        stdlib.warning("pool to %s failed", dsn)
        stdlib.warning("config %r", {"openai_api_key": api_key, "jwt_secret": JWT_SECRET})
        logging.getLogger("openai").warning("retrying with key %s", api_key)
        logging.getLogger("httpx").warning("sent Authorization: Bearer %s", bearer)
        try:
            raise ConnectionError(f"cannot reach {dsn} with token={bearer}")
        except ConnectionError:
            log.exception("connect failed")
            stdlib.exception("connect failed (stdlib)")

    out = capsys.readouterr()
    text = out.out + out.err
    records = json_lines(out.out)
    assert len(records) > 10 and any(r["logger"].startswith("openai") for r in records)
    for secret in (api_key, db_password, bearer, JWT_SECRET, "c2lnbmF0dXJlLXNlY3JldA"):
        assert secret not in text, f"{secret[:8]}... reached the log"
    assert "[REDACTED]" in text
    connecting = next(r for r in records if r["event"] == "connecting")
    assert connecting["url"] == "mysql://pixy:[REDACTED]@db.internal:3306/pixyproxy"
    assert connecting["password"] == "[REDACTED]" and connecting["api_key"] == "[REDACTED]"
    shown = next(r for r in records if r["event"] == "on purpose")
    assert shown["dev_token"] == "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkZXYifQ.shown"  # reveal() only
    failed = next(r for r in records if r["event"] == "connect failed")
    assert "ConnectionError: cannot reach" in failed["exception"]


def test_every_route_has_the_logging_dependency_once(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings())
    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    assert {route.path for route in routes} >= {
        "/image", "/image/{guid}", "/image/{guid}/content", "/healthz", "/readyz", "/metrics",
    }  # fmt: skip
    for route in routes:
        calls = [dependency.call for dependency in route.dependant.dependencies]
        assert calls.count(log_route) == 1, route.path
