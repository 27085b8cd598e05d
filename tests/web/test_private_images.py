"""Authors, private images, idempotency and generation limits over real HTTP."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import httpx
import pytest

from pixyproxy.data.database import Database
from tests.support.mock_server import MockServer, openai_settings
from tests.support.ports import free_port
from tests.support.servers import ServeApi
from tests.support.tokens import SECRET, bearer

# Made when the module is collected, which may be many minutes before its tests run under
# the whole suite: valid for a day, not the default ten minutes.
ALICE, BOB = bearer("alice", ttl_s=86400), bearer("bob", ttl_s=86400)


@pytest.fixture
def api(serve_api: ServeApi, database_url: str) -> httpx.Client:
    return serve_api(database_url=database_url, jwt_secret=SECRET)


def post(api: httpx.Client, headers: dict[str, str], **body: Any) -> httpx.Response:
    return api.post("/image", json={"prompt": "a red fox", **body}, headers=headers)


def guids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["guid"] for item in response.json()]


def test_private_image_is_invisible_to_everyone_but_its_author(api: httpx.Client) -> None:
    secret = post(api, ALICE, prompt="alice's secret lighthouse", tags=["hidden"], private=True)
    assert secret.status_code == 200
    mine = secret.json()
    assert mine["author"] == "alice" and mine["private"] is True
    public = post(api, ALICE, prompt="alice's public lighthouse", tags=["hidden"]).json()
    guid = mine["guid"]

    for who in ({}, BOB):
        missing = api.get(f"/image/{guid}", headers=who)
        assert missing.status_code == 404 and missing.json()["code"] == "image_not_found"
        assert api.get(f"/image/{guid}/content", headers=who).status_code == 404
        for params in ({}, {"tag": "hidden"}, {"author": "alice"}, {"q": "secret"}):
            assert guid not in guids(api.get("/image", params=params, headers=who))
        assert guids(api.get("/image", params={"author": "alice"}, headers=who)) == [public["guid"]]

    assert api.get(f"/image/{guid}", headers=ALICE).json() == mine
    content = api.get(f"/image/{guid}/content", headers=ALICE)
    assert content.status_code == 200
    assert content.headers["cache-control"] == "private, no-store"
    assert guids(api.get("/image", params={"q": "secret"}, headers=ALICE)) == [guid]
    assert guids(api.get("/image", params={"tag": "hidden", "author": "alice"}, headers=ALICE)) == [
        public["guid"],
        guid,
    ]


def test_unknown_and_private_guids_answer_alike(api: httpx.Client) -> None:
    guid = post(api, ALICE, private=True).json()["guid"]
    other = "00000000-0000-4000-8000-000000000000"
    hidden, unknown = (
        api.get(f"/image/{guid}", headers=BOB),
        api.get(f"/image/{other}", headers=BOB),
    )
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"].replace(guid, "G") == unknown.json()["detail"].replace(
        other, "G"
    )


def test_a_cursor_never_leaks_private_images(api: httpx.Client) -> None:
    for i in range(3):
        post(api, ALICE, prompt=f"public {i}")
        post(api, ALICE, prompt=f"private {i}", private=True)
    seen, url = [], "/image?limit=2"
    while url:
        response = api.get(url, headers=BOB)
        seen += response.json()
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else ""
    assert [item["prompt"] for item in seen] == ["public 2", "public 1", "public 0"]


def test_idempotent_retry_replays_without_generating_again(api: httpx.Client) -> None:
    headers = {**ALICE, "Idempotency-Key": "order-42"}
    first = post(api, headers, tags=["once"])
    again = post(api, headers, tags=["once"])
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert len(guids(api.get("/image", params={"tag": "once"}))) == 1
    changed = post(api, headers, prompt="something else")
    assert changed.status_code == 422 and changed.json()["code"] == "idempotency_key_reused"
    # Keys belong to their caller: Bob's "order-42" is another request.
    assert post(api, {**BOB, "Idempotency-Key": "order-42"}).json()["author"] == "bob"


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "é"])
def test_bad_idempotency_keys_are_422(api: httpx.Client, key: str) -> None:
    response = api.post(
        "/image",
        json={"prompt": "x"},
        headers={**ALICE, "Idempotency-Key": key.encode()},  # type: ignore[dict-item]
    )
    assert response.status_code == 422


def test_concurrent_requests_with_one_key_make_one_image(
    serve_api: ServeApi, database_url: str, openai_mock: MockServer
) -> None:
    api = serve_api(database_url=database_url, jwt_secret=SECRET, **openai_settings(openai_mock))
    openai_mock.set_behavior("ok", delay_s=1.0)
    headers = {**ALICE, "Idempotency-Key": "same-click-twice"}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: post(api, headers, tags=["dup"]), range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}, statuses
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["code"] == "idempotency_in_progress"
        assert conflict.headers["retry-after"]
    assert openai_mock.stats()["generations"] == 1
    assert len(guids(api.get("/image", params={"tag": "dup"}))) == 1
    replay = post(api, headers, tags=["dup"])
    assert replay.status_code == 200
    assert (
        replay.json()["guid"] == next(r for r in responses if r.status_code == 200).json()["guid"]
    )


def test_failed_generation_frees_its_key(serve_api: ServeApi, openai_mock: MockServer) -> None:
    api = serve_api(jwt_secret=SECRET, **openai_settings(openai_mock, openai_max_retries=0))
    headers = {**ALICE, "Idempotency-Key": "retry-me"}
    openai_mock.set_behavior("server_error")
    assert post(api, headers).status_code == 502
    openai_mock.set_behavior("ok")
    assert post(api, headers).status_code == 200


def test_generation_limit_per_caller(serve_api: ServeApi, database_url: str) -> None:
    api = serve_api(database_url=database_url, jwt_secret=SECRET, generation_limit=2)
    assert post(api, ALICE).status_code == 200
    assert post(api, ALICE).status_code == 200
    limited = post(api, ALICE)
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert 0 < int(limited.headers["retry-after"]) <= 3600
    assert post(api, BOB).status_code == 200  # the limit is per caller
    # An idempotent replay is not a new generation and is not limited.
    assert len(guids(api.get("/image", params={"author": "alice"}))) == 2


def test_generation_limit_holds_across_app_instances(
    serve_api: ServeApi, database_url: str
) -> None:
    first = serve_api(database_url=database_url, jwt_secret=SECRET, generation_limit=2)
    second = serve_api(database_url=database_url, jwt_secret=SECRET, generation_limit=2)
    assert post(first, ALICE).status_code == 200
    assert post(second, ALICE).status_code == 200
    assert post(first, ALICE).status_code == 429
    assert post(second, ALICE).status_code == 429


def test_in_flight_limit_answers_503(serve_api: ServeApi, openai_mock: MockServer) -> None:
    api = serve_api(jwt_secret=SECRET, **openai_settings(openai_mock, max_in_flight_generations=1))
    openai_mock.set_behavior("ok", delay_s=1.5)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda i: post(api, ALICE, prompt=f"p{i}"), range(3)))
    busy = [r for r in responses if r.status_code == 503]
    assert len([r for r in responses if r.status_code == 200]) >= 1
    assert busy, [r.status_code for r in responses]
    assert busy[0].json()["code"] == "generation_capacity_exceeded"
    assert int(busy[0].headers["retry-after"]) > 0


@pytest.mark.parametrize("other", ["ALICE", "Alice", "alice ", " alice", "alicé", "\uff41lice"])
def test_a_subject_alike_but_not_equal_is_another_caller(
    serve_api: ServeApi, database_url: str, other: str
) -> None:
    """A subject is opaque and case-sensitive (RFC 7519): one that a collation would fold
    into "alice" sees none of alice's private images, lists, keys or quota."""
    api = serve_api(database_url=database_url, jwt_secret=SECRET, generation_limit=1)
    headers = {**ALICE, "Idempotency-Key": "order-1"}
    secret = post(api, headers, prompt="alice's secret", private=True, tags=["mine"]).json()
    guid = secret["guid"]
    theirs = bearer(other)
    assert api.get(f"/image/{guid}", headers=theirs).status_code == 404
    assert api.get(f"/image/{guid}/content", headers=theirs).status_code == 404
    for params in ({}, {"author": "alice"}, {"tag": "mine"}, {"q": "secret"}):
        assert guid not in guids(api.get("/image", params=params, headers=theirs))
    assert guids(api.get("/image", params={"author": other}, headers=ALICE)) == []
    # Their own key "order-1" and their own quota: a new image, by them.
    made = post(
        api, {**theirs, "Idempotency-Key": "order-1"}, prompt="alice's secret", private=True
    )
    assert made.status_code == 200, made.text
    assert made.json()["author"] == other and made.json()["guid"] != guid
    assert guids(api.get("/image", params={"author": other}, headers=theirs)) == [
        made.json()["guid"]
    ]
    assert post(api, ALICE, prompt="one more").status_code == 429  # alice's quota is hers


FAILING_ANSWERS = {  # every recording of an idempotent answer fails, as a database may
    "mysql": (
        "CREATE TRIGGER fail_answers BEFORE UPDATE ON idempotency_keys FOR EACH ROW"
        " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'"
    ),
    "sqlite": (
        "CREATE TRIGGER fail_answers BEFORE UPDATE ON idempotency_keys"
        " BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    ),
}


def test_an_image_stored_but_not_recorded_is_what_the_retry_gets(
    serve_api: ServeApi, database: Database, database_url: str, openai_mock: MockServer
) -> None:
    """Recording the answer fails after the image was committed (a real failure, from the
    database): the request still answers with the image, and retries with the key get that
    image back, never a 409 and then a second, paid generation."""
    api = serve_api(database_url=database_url, jwt_secret=SECRET, **openai_settings(openai_mock))
    headers = {**ALICE, "Idempotency-Key": "pay-once"}
    with database.writing() as cursor:
        cursor.execute(FAILING_ANSWERS[database.dialect])
    try:
        first = post(api, headers, private=True)
        assert first.status_code == 200, first.text
        again = post(api, headers, private=True)
        assert again.status_code == 200 and again.json() == first.json()
    finally:
        with database.writing() as cursor:
            cursor.execute("DROP TRIGGER fail_answers")
    assert post(api, headers, private=True).json() == first.json()  # and now it is recorded
    assert post(api, headers, private=True).json() == first.json()
    assert openai_mock.stats()["generations"] == 1
    assert guids(api.get("/image", headers=ALICE)) == [first.json()["guid"]]


def test_attempts_that_never_reached_the_upstream_leave_the_quota(
    serve_api: ServeApi, database_url: str, openai_mock: MockServer
) -> None:
    """Through the real SDK: an upstream nothing listens on is a 502 that costs no quota;
    the same limit then lets the one generation through the mock."""
    limit = {"database_url": database_url, "jwt_secret": SECRET, "generation_limit": 1}
    unreachable = f"http://127.0.0.1:{free_port()}/v1"
    down = serve_api(**limit, **openai_settings(openai_mock, openai_base_url=unreachable))
    for _ in range(3):
        failed = post(down, ALICE)
        assert failed.status_code == 502 and failed.json()["code"] == "upstream_failed"
    up = serve_api(**limit, **openai_settings(openai_mock))
    assert post(up, ALICE).status_code == 200
    assert post(up, ALICE).status_code == 429
    openai_mock.set_behavior("server_error")  # reached the upstream: counted
    assert post(up, BOB).status_code == 502
    openai_mock.set_behavior("ok")
    assert post(up, BOB).status_code == 429
