"""Hostile requests: each is answered with a 4xx problem JSON, never a 5xx, and stores nothing.

Limits (web/limits.py): request target 8 KiB (414), headers 32 KiB in all (431), body 64 KiB
(413), JSON bodies UTF-8 only (422), repeated single-valued query parameters 422.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from pixyproxy.core.settings import Settings
from pixyproxy.web.app import create_app
from pixyproxy.web.limits import MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_TARGET_BYTES
from tests.support.problems import PROBLEM, assert_problem
from tests.support.servers import anonymous_server_env, run_pixyproxy, serve_in_thread
from tests.support.stored import final_pngs

JSON = {"content-type": "application/json"}
SOME_GUID = "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b"  # fixed: test ids must not vary


@contextlib.contextmanager
def _serve(settings: Settings, store: Path) -> Iterator[httpx.Client]:
    """The app over HTTP; after the test, nothing may have been stored."""
    with (
        serve_in_thread(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client
        assert client.get("/image").json() == [], "a hostile request stored an image"
    assert final_pngs(store) == {}


@pytest.fixture
def api(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[httpx.Client]:
    """The app on SQLite: for what the web layer alone decides."""
    with _serve(make_settings(anonymous_generation=True), tmp_path / "images") as client:
        yield client


@pytest.fixture
def api_db(
    make_settings: Callable[..., Settings], database_url: str, tmp_path: Path
) -> Iterator[httpx.Client]:
    """The app on each database backend: for what reaches SQL."""
    settings = make_settings(database_url=database_url, anonymous_generation=True)
    with _serve(settings, tmp_path / "images") as client:
        yield client


def raw_exchange(base_url: str, head_and_body: bytes) -> tuple[int, str | None, bytes]:
    """Send bytes exactly as given (no client-side normalisation); (status, type, body)."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(head_and_body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.getheader("content-type"), response.read()


def raw_get(base_url: str, target: str) -> tuple[int, str | None, bytes]:
    request = f"GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    return raw_exchange(base_url, request.encode("latin-1"))


def assert_4xx_problem(response: httpx.Response) -> dict[str, object]:
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == response.status_code and body["code"]
    return body


# --- bodies ------------------------------------------------------------------------------


def test_oversized_bodies_are_413_without_being_read(api: httpx.Client) -> None:
    just_over = b'{"prompt": "' + b"a" * MAX_BODY_BYTES + b'"}'
    assert_problem(api.post("/image", content=just_over, headers=JSON), 413, "content_too_large")

    started = time.monotonic()
    huge = api.post("/image", content=b"{" + b" " * (50 << 20) + b"}", headers=JSON)
    assert_problem(huge, 413, "content_too_large")
    assert time.monotonic() - started < 10

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        yield b'{"prompt": "'
        for _ in range(64):
            yield b"b" * 16384
        yield b'"}'

    streamed = api.post("/image", content=chunks(), headers=JSON)
    assert_problem(streamed, 413, "content_too_large")
    assert_problem(api.request("GET", "/image", content=b"x" * (1 << 20)), 413)


def test_a_body_under_the_limit_is_still_parsed(api: httpx.Client) -> None:
    padded = b'{"prompt": "   "' + b" " * (MAX_BODY_BYTES - 100) + b"}"
    assert len(padded) <= MAX_BODY_BYTES
    assert_problem(api.post("/image", content=padded, headers=JSON), 422, "validation_failed")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"prompt": ' + b"[" * 30000 + b"]" * 30000 + b"}", id="arrays-30000"),
        pytest.param(b'{"a":' * 8000 + b"1" + b"}" * 8000, id="objects-8000"),
        pytest.param(b'{"prompt": "x", "tags": ' + b"[" * 900 + b"]" * 900 + b"}", id="tags-900"),
        pytest.param(
            b'{"prompt": "x", "size": ' + b'{"a":' * 50 + b"1" + b"}" * 50 + b"}", id="50"
        ),
    ],
)
def test_deeply_nested_json_is_a_4xx(api: httpx.Client, body: bytes) -> None:
    assert len(body) <= MAX_BODY_BYTES
    assert_4xx_problem(api.post("/image", content=body, headers=JSON))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param('{"prompt": "café"}'.encode("latin-1"), "application/json", id="latin-1"),
        pytest.param(
            '{"prompt": "café"}'.encode("latin-1"),
            "application/json; charset=iso-8859-1",
            id="declared-latin-1",
        ),
        pytest.param('{"prompt": "fox"}'.encode("utf-16"), "application/json", id="utf-16"),
        pytest.param('{"prompt": "fox"}'.encode("utf-32"), "application/json", id="utf-32"),
        pytest.param(b'{"prompt": "\xc0\xaf"}', "application/json", id="overlong"),
        pytest.param(b'{"prompt": "\xed\xa0\x80"}', "application/json", id="surrogate-bytes"),
        pytest.param(b'{"prompt": "\xff\xfe"}', "application/json", id="invalid-bytes"),
        pytest.param(b'{"prompt": "fox\xe2\x82"}', "application/json", id="truncated"),
        pytest.param(b'{"prompt": "\xe2\x28\xa1"}', "application/problem+json", id="plus-json"),
    ],
)
def test_non_utf8_bodies_are_422(api: httpx.Client, body: bytes, content_type: str) -> None:
    """JSON is UTF-8 (RFC 8259); anything else is answered like any body that is not JSON."""
    response = api.post("/image", content=body, headers={"content-type": content_type})
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] == [{"loc": ["body"], "msg": "JSON must be UTF-8 encoded"}]


def test_bodies_of_other_types_are_a_4xx(api: httpx.Client) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "image/png"):
        response = api.post(
            "/image", content=b"\x00\xff\x00", headers={"content-type": content_type}
        )
        assert_4xx_problem(response)
    assert_4xx_problem(api.post("/image", content=b"\x00\x01\x02"))


@pytest.mark.parametrize(
    "prompt",
    [
        "\x00",
        "a\x00b",
        "\x1b[31mred\x1b[0m",
        "\x07\x08\x7f",
        "\u202eevil\u202c",
        "abc\u2066def\u2069",
        "\u202b",
        "next\x85line",
        "\t\n\r \u00a0",
    ],
)
def test_prompts_of_control_or_bidi_characters_are_422(api: httpx.Client, prompt: str) -> None:
    assert_problem(api.post("/image", json={"prompt": prompt}), 422, "validation_failed")


@pytest.mark.parametrize("escaped", [b"\\ud800", b"a\\udfffb", b"\\ude00\\ud83d"])
def test_lone_surrogates_are_422(api: httpx.Client, escaped: bytes) -> None:
    """Valid JSON, but no database or encoder can store the string it decodes to."""
    body = b'{"prompt": "' + escaped + b'"}'
    assert_problem(api.post("/image", content=body, headers=JSON), 422, "validation_failed")


# --- heads: paths, query strings, headers ----------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/image/'%20OR%20'1'='1",
        "/image/1;DROP%20TABLE%20images",
        "/image/00000000-0000-0000-0000-000000000000'--",
        "/image/..%2F..%2F..%2Fetc%2Fpasswd",
        "/image/..%2F..%2F..%2Fetc%2Fpasswd/content",
        "/image/%2e%2e%2f%2e%2e%2fetc%2fpasswd/content",
        "/image/../../../etc/passwd",
        "/image/..\\..\\windows\\win.ini/content",
        "/image/%00",
        "/image/00000000-0000-0000-0000-000000000000%00/content",
        "/image/%ff%fe",
        "/image/" + "a" * 4000,
        "/image/" + SOME_GUID + "/content/../../x",
        "/image/{" + SOME_GUID + "}",
        "/image/urn:uuid:" + SOME_GUID,
    ],
)
def test_hostile_guids_are_a_4xx(api_db: httpx.Client, target: str) -> None:
    status, content_type, body = raw_get(str(api_db.base_url), target)
    assert 400 <= status < 500, (status, body[:300])
    assert content_type == PROBLEM, body[:300]


def test_sql_in_free_text_filters_is_just_text(api_db: httpx.Client) -> None:
    for params in (
        {"author": "' OR '1'='1"},
        {"author": "x' UNION SELECT guid FROM images --"},
        {"q": "%' OR 1=1 --"},  # the words "or" and "1", which no prompt here has
        {"q": '" -fox* +(a) @x'},  # words of InnoDB's and FTS5's syntax, as text
    ):
        response = api_db.get("/image", params=params)
        assert response.status_code == 200 and response.json() == [], params
    for q in ("_%", "' --", "*", '"'):  # no word to search for: refused, never everything
        assert_problem(api_db.get("/image", params={"q": q}), 422, "validation_failed")
    assert_problem(api_db.get("/image", params={"tag": "' OR 1=1"}), 422, "validation_failed")


@pytest.mark.parametrize(
    "limit",
    [
        "10" * 20,
        "-1",
        "0",
        "101",
        "1e3",
        "0x10",
        "",
        "NaN",
        "inf",
        "9" * 4000,
        "-99999999999999999999",
    ],
)
def test_out_of_range_limits_are_422(api: httpx.Client, limit: str) -> None:
    assert_problem(api.get("/image", params={"limit": limit}), 422, "validation_failed")


def _b64(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _b64(b"v1:not-a-uuid"),
        _b64(f"v2:{SOME_GUID}".encode()),
        _b64(f"v1:{SOME_GUID}".encode()),  # well-formed, but no such image
        _b64(b"v1:' OR 1=1 --"),
        _b64(b"\xff\xfe\x00"),
        "!!!!",
        "a",
        "%00",
        "é",
        "=" * 100,
        "A" * 200,
    ],
)
def test_forged_cursors_are_422(api_db: httpx.Client, cursor: str) -> None:
    response = api_db.get("/image", params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert response.json()["code"] in ("invalid_cursor", "validation_failed")


@pytest.mark.parametrize(
    "query",
    [
        "limit=1&limit=2",
        "limit=5&limit=5",
        "cursor=a&cursor=b",
        "tag=fox&tag=cat",
        "q=a&q=b",
        "author=a&author=b",
        "limit=1&tag=a&limit=2&tag=b",
    ],
)
def test_repeated_query_parameters_are_422(api: httpx.Client, query: str) -> None:
    body = assert_problem(api.get(f"/image?{query}"), 422, "validation_failed")
    names = [pair.split("=")[0] for pair in query.split("&")]
    repeated = {name for name in names if names.count(name) > 1}
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {error["loc"][1] for error in errors} == repeated


def test_unknown_parameters_may_repeat(api: httpx.Client) -> None:
    assert api.get("/image?utm=a&utm=b&limit=5").status_code == 200


def test_oversized_heads_in_the_app_are_4xx(api: httpx.Client) -> None:
    base_url = str(api.base_url)
    status, content_type, _ = raw_get(base_url, "/image?q=" + "a" * (MAX_TARGET_BYTES + 10))
    assert (status, content_type) == (414, PROBLEM)
    big = api.get("/image", headers={"x-big": "a" * (MAX_HEADER_BYTES + 10)})
    assert_problem(big, 431, "request_header_fields_too_large")
    many = api.get("/image", headers=[(f"x-h{i}", "v" * 40) for i in range(1000)])
    assert_problem(many, 431, "request_header_fields_too_large")
    token = api.get("/image", headers={"authorization": "Bearer " + "a" * (MAX_HEADER_BYTES + 1)})
    assert_problem(token, 431, "request_header_fields_too_large")


def test_hostile_heads_against_the_real_server(tmp_path: Path) -> None:
    """Under gunicorn and uvicorn, what the server itself refuses is a 4xx too."""
    env = anonymous_server_env(
        database_url=f"sqlite:///{tmp_path / 'pixyproxy.db'}", storage_dir=tmp_path / "images"
    )
    with run_pixyproxy(env, workers=1) as server:
        url = server.url
        heads = [
            f"GET /image HTTP/1.1\r\nHost: t\r\nX-Big: {'a' * (1 << 20)}\r\n\r\n",
            "GET /image HTTP/1.1\r\nHost: t\r\n" + "X-A: b\r\n" * 5000 + "\r\n",
            f"GET /image?q={'a' * (256 << 10)} HTTP/1.1\r\nHost: t\r\n\r\n",
            "POST /image HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n{}",
            "POST /image HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n{}",
            "POST /image HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST /image HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            "GET /image HTTP/1.1\r\nHost: t\r\nBad Header Name: x\r\n\r\n",
            "GET /image HTTP/1.1\r\nHost: t\r\nX-Nul: a\x00b\r\n\r\n",
        ]
        for head in heads:
            status, content_type, body = raw_exchange(url, head.encode("latin-1"))
            assert 400 <= status < 500, (head[:80], status, body[:200])
            if status in (413, 414, 431):  # ours: problem JSON
                assert content_type == PROBLEM
        with httpx.Client(base_url=url) as client:
            assert client.get("/image").status_code == 200, "the worker is still serving"
            assert client.get("/image").json() == []
