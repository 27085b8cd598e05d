"""Every image route and every error status of the contract, over real HTTP."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from PIL import Image

from tests.support.mock_server import MockServer, openai_settings
from tests.support.problems import assert_problem
from tests.support.servers import ServeApi


def generate(api: httpx.Client, **body: object) -> dict[str, object]:
    response = api.post("/image", json={"prompt": "a red fox", **body})
    assert response.status_code == 200, response.text
    detail: dict[str, object] = response.json()
    return detail


def test_generate_get_list_content(api: httpx.Client) -> None:
    created = generate(api, tags=["Fox", "art", "fox"], size="1024x1536")
    guid = str(created["guid"])
    assert len(guid) == 36 and created["tags"] == ["fox", "art"]
    assert created["content_url"] == f"/image/{guid}/content"
    assert str(created["created_at"]).endswith("Z") and created["content_type"] == "image/png"
    assert "id" not in created
    assert api.get(f"/image/{guid}").json() == created
    assert api.get("/image").json() == [created]
    content = api.get(f"/image/{guid}/content")
    assert content.status_code == 200 and content.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(content.content)).size == (1024, 1536)
    assert len(content.content) == created["size_bytes"]


def test_every_route_answers_with_a_trailing_slash_without_redirect(api: httpx.Client) -> None:
    created = api.post("/image/", json={"prompt": "slash"})
    assert created.status_code == 200
    guid = created.json()["guid"]
    for path in ("/image/", f"/image/{guid}/", f"/image/{guid}/content/"):
        response = api.get(path)
        assert response.status_code == 200, path
        assert not response.is_redirect


def test_content_caching_headers_etag_and_range(api: httpx.Client) -> None:
    guid = generate(api)["guid"]
    full = api.get(f"/image/{guid}/content")
    etag = full.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert api.get(f"/image/{guid}/content", headers={"If-None-Match": etag}).status_code == 304
    partial = api.get(f"/image/{guid}/content", headers={"Range": "bytes=0-7"})
    assert partial.status_code == 206 and partial.content == b"\x89PNG\r\n\x1a\n"
    head = api.head(f"/image/{guid}/content")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(full.content))


def test_bad_ranges_are_problems(api: httpx.Client) -> None:
    guid = generate(api)["guid"]
    unsatisfiable = api.get(f"/image/{guid}/content", headers={"Range": "bytes=99999999-"})
    assert_problem(unsatisfiable, 416, "range_not_satisfiable")
    assert unsatisfiable.headers["content-range"].startswith("bytes */")
    assert_problem(
        api.get(f"/image/{guid}/content", headers={"Range": "pages=1"}), 400, "invalid_range"
    )


def test_list_pages_through_link_headers(api: httpx.Client) -> None:
    made = [generate(api, prompt=f"p{i}")["guid"] for i in range(5)]
    seen, url = [], "/image?limit=2"
    for _ in range(10):
        response = api.get(url)
        seen += [d["guid"] for d in response.json()]
        if "link" not in response.headers:
            break
        link = response.headers["link"]
        assert link.endswith('>; rel="next"') and "limit=2" in link
        url = link[1 : link.index(">")]
    assert seen == list(reversed(made))


def test_list_filters(api: httpx.Client) -> None:
    fox = generate(api, prompt="a red fox", tags=["fox"])
    generate(api, prompt="a blue car", tags=["car"])
    assert [d["guid"] for d in api.get("/image", params={"tag": "FOX"}).json()] == [fox["guid"]]
    assert [d["guid"] for d in api.get("/image", params={"q": "red"}).json()] == [fox["guid"]]
    assert api.get("/image", params={"author": "nobody"}).json() == []


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"tag": "no spaces"}, {"cursor": ""}, {"q": ""}],
)
def test_bad_list_queries_are_422(api: httpx.Client, params: dict[str, object]) -> None:
    body = assert_problem(api.get("/image", params=params), 422, "validation_failed")
    assert body["errors"]


def test_forged_cursor_is_422(api: httpx.Client) -> None:
    assert_problem(api.get("/image", params={"cursor": "bm9wZQ"}), 422, "invalid_cursor")


def test_a_cursor_spelled_another_way_is_422(api: httpx.Client) -> None:
    """Only the cursor the Link header gave: base64 would take it padded or with stray
    characters, and each spelling would be a page of its own in the cache."""
    for i in range(3):
        generate(api, prompt=f"page {i}")
    link = api.get("/image", params={"limit": 2}).headers["link"]
    cursor = httpx.URL(link[1 : link.index(">")]).params["cursor"]
    assert len(api.get("/image", params={"limit": 2, "cursor": cursor}).json()) == 1
    for spelled in (cursor + "=", cursor + "==", cursor[:5] + "." + cursor[5:], f" {cursor}"):
        response = api.get("/image", params={"limit": 2, "cursor": spelled})
        assert_problem(response, 422, "invalid_cursor")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"prompt": "   "},
        {"prompt": "x" * 4001},
        {"prompt": "x", "tags": ["bad tag"]},
        {"prompt": "x", "tags": [f"t{i}" for i in range(17)]},
        {"prompt": "x", "tags": ["x" * 51]},
        {"prompt": "x", "size": "512x512"},
        {"prompt": "x", "unknown": 1},
        {"prompt": "evil \u202e override"},
        {"prompt": "bell \x07"},
        {"prompt": 5},
    ],
)
def test_bad_generate_bodies_are_422_and_store_nothing(api: httpx.Client, body: object) -> None:
    assert_problem(api.post("/image", json=body), 422, "validation_failed")
    assert api.get("/image").json() == []


def test_not_json_body_is_422(api: httpx.Client) -> None:
    response = api.post("/image", content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert_problem(response, 422, "validation_failed")


def test_malformed_and_unknown_guids(api: httpx.Client) -> None:
    for path in ("/image/not-a-guid", "/image/not-a-guid/content", "/image/1%27%20OR%201=1"):
        assert_problem(api.get(path), 422, "validation_failed")
    unknown = uuid4()
    body = assert_problem(api.get(f"/image/{unknown}"), 404, "image_not_found")
    assert str(unknown) in str(body["detail"])
    assert_problem(api.get(f"/image/{unknown}/content"), 404, "image_not_found")


def test_unknown_route_and_wrong_method(api: httpx.Client) -> None:
    assert_problem(api.get("/nope"), 404, "not_found")
    assert_problem(api.get("/image/../../etc/passwd"), 404, "not_found")
    assert_problem(api.delete("/image"), 405, "method_not_allowed")
    assert_problem(api.put(f"/image/{uuid4()}"), 405, "method_not_allowed")


def test_anonymous_generation_off_is_401(serve_api: ServeApi) -> None:
    api = serve_api()
    response = api.post("/image", json={"prompt": "x"})
    assert_problem(response, 401, "authentication_required")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("behavior", "status", "code"),
    [
        ("content_policy", 422, "prompt_rejected"),
        ("rate_limit", 503, "upstream_busy"),
        ("overloaded", 503, "upstream_busy"),
        ("server_error", 502, "upstream_failed"),
        ("unauthorized", 502, "upstream_failed"),
        ("garbage", 502, "upstream_failed"),
    ],
)
def test_upstream_failures_are_mapped(
    serve_api: ServeApi,
    openai_mock: MockServer,
    tmp_path: Path,
    behavior: str,
    status: int,
    code: str,
) -> None:
    api = serve_api(anonymous_generation=True, **openai_settings(openai_mock, openai_max_retries=0))
    openai_mock.set_behavior(behavior)
    response = api.post("/image", json={"prompt": "a fox"})
    assert_problem(response, status, code)
    if status == 503:
        assert int(response.headers["retry-after"]) > 0
    assert api.get("/image").json() == []
    assert not list((tmp_path / "images").rglob("*.png"))


def test_database_down_is_503(serve_api: ServeApi) -> None:
    api = serve_api(
        database_url="mysql://root@127.0.0.1:9/none",
        db_auto_migrate=False,
        db_connect_timeout_s=1,
        anonymous_generation=True,
    )
    response = api.get(f"/image/{uuid4()}")
    assert_problem(response, 503, "database_unavailable")
    assert response.headers["retry-after"]
    assert_problem(api.post("/image", json={"prompt": "x"}), 503, "database_unavailable")
    assert_problem(api.get("/readyz"), 503, "not_ready")
    assert api.get("/healthz").status_code == 200


def test_store_not_writable_is_503(serve_api: ServeApi, tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the store should be")
    api = serve_api(storage_dir=blocker, anonymous_generation=True)
    assert_problem(api.post("/image", json={"prompt": "x"}), 503, "storage_unavailable")
    assert api.get("/image").json() == []
    assert api.get("/readyz").json()["checks"] == {
        "database": "ok",
        "storage": "storage_unavailable",
    }


def test_crash_is_a_bare_500(serve_api: ServeApi, tmp_path: Path) -> None:
    api = serve_api(anonymous_generation=True)
    guid = generate(api)["guid"]
    with sqlite3.connect(tmp_path / "pixyproxy.db") as db:  # a row the code cannot read,
        db.execute(  # under a guid the server has not cached
            "UPDATE images SET created_at = 'not a time', guid = ? WHERE guid = ?",
            (str(uuid4()), guid),
        )
    response = api.get("/image")
    body = assert_problem(response, 500, "internal_error")
    assert str(body["request_id"]) in str(body["detail"])
    assert "not a time" not in response.text and "Traceback" not in response.text


def test_request_id_is_echoed_or_replaced(api: httpx.Client) -> None:
    assert (
        api.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    replaced = api.get("/healthz", headers={"X-Request-ID": "bad id!"}).headers["x-request-id"]
    assert replaced != "bad id!" and len(replaced) == 32


@pytest.mark.parametrize("prompt", ["\u200b", "\u200b\u200c\u200d", "\ufeff", " \u2060 \u00ad "])
def test_a_prompt_of_invisible_characters_is_422(api: httpx.Client, prompt: str) -> None:
    response = api.post("/image", json={"prompt": prompt})
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["body", "prompt"]
    assert api.get("/image").json() == []  # nothing stored
