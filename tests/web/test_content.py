"""Content over real HTTP, from each image store: for any Range header the answer is the
one ``byte_ranges`` decided (the whole PNG, the ranges, or problem JSON), never Starlette's
plain-text refusal; the validators and caching headers are the same whichever store holds
the bytes; a wrong method names every method the path answers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixyproxy.core.errors import InvalidRange, RangeNotSatisfiableError
from pixyproxy.web.content import byte_ranges
from tests.support.problems import assert_problem
from tests.support.s3 import S3Server
from tests.support.servers import ServeApi
from tests.support.tokens import SECRET, bearer

PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)
NUMBER = st.one_of(
    st.just(""), st.integers(-5, 10**6).map(str), st.sampled_from(["+3", "1_0", " 7"])
)
RANGE = st.builds(lambda a, b: f"{a}-{b}", NUMBER, NUMBER)
RANGE_HEADERS = st.one_of(
    st.builds(
        lambda unit, parts: f"{unit}={','.join(parts)}",
        st.sampled_from(["bytes", "BYTES", " bytes ", "pages"]),
        st.lists(st.one_of(RANGE, st.text(PRINTABLE, max_size=6)), min_size=0, max_size=4),
    ),
    st.text(PRINTABLE, max_size=40),
)


@pytest.fixture
def content(
    serve_api: ServeApi, store_settings: dict[str, object]
) -> tuple[httpx.Client, str, bytes]:
    api = serve_api(anonymous_generation=True, **store_settings)
    guid = api.post("/image", json={"prompt": "ranges"}).json()["guid"]
    url = f"/image/{guid}/content"
    return api, url, api.get(url).content


def expected_status(header: str, size: int) -> tuple[int, list[tuple[int, int]]]:
    try:
        ranges = byte_ranges(header, size)
    except InvalidRange:
        return 400, []
    except RangeNotSatisfiableError:
        return 416, []
    return (206 if ranges else 200), ranges


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(header=RANGE_HEADERS.map(str.strip))  # a header value has no outer spaces
def test_any_range_is_answered_as_decided(
    content: tuple[httpx.Client, str, bytes], header: str
) -> None:
    api, url, png = content
    response = api.get(url, headers={"Range": header})
    status, ranges = expected_status(header, len(png))
    assert response.status_code == status, (header, response.text[:200])
    kind = response.headers["content-type"]
    if status >= 400:
        assert kind == "application/problem+json"
        assert response.json()["code"] == (
            "invalid_range" if status == 400 else "range_not_satisfiable"
        )
    elif status == 200:
        assert kind == "image/png" and response.content == png
    elif len(ranges) == 1:
        start, end = ranges[0]
        assert kind == "image/png" and response.content == png[start:end]
        assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(png)}"
    else:
        assert kind.startswith("multipart/byteranges")
        boundary = kind.partition("boundary=")[2]
        parts = response.content.split(f"--{boundary}".encode())[1:-1]
        assert len(parts) == len(ranges)
        for part, (start, end) in zip(parts, ranges, strict=True):
            assert part.endswith(png[start:end] + b"\r\n"), (header, start, end)


HEADERS = ("etag", "cache-control", "content-type", "content-length", "accept-ranges")


def test_validators_caching_and_head_are_the_same_from_either_store(
    serve_api: ServeApi, s3_server: S3Server
) -> None:
    """The same image in both stores: every conditional, ranged and HEAD request gets the
    same status, headers and bytes (what differs is only Last-Modified, from the store)."""
    bucket = s3_server.new_bucket()
    apis = [
        serve_api(anonymous_generation=True),
        serve_api(anonymous_generation=True, **s3_server.settings(bucket)),
    ]
    answers = []
    for api in apis:
        guid = api.post("/image", json={"prompt": "same bytes", "private": False}).json()["guid"]
        in_bucket = s3_server.keys(bucket)
        assert in_bucket == ([f"images/{guid[:2]}/{guid}.png"] if api is apis[1] else [])
        url = f"/image/{guid}/content"
        etag = api.get(url).headers["etag"]
        calls = [
            ("GET", {}),
            ("HEAD", {}),
            ("GET", {"If-None-Match": etag}),
            ("GET", {"If-None-Match": '"other", ' + etag}),
            ("GET", {"Range": "bytes=0-99"}),
            ("GET", {"Range": "bytes=-10"}),
            ("GET", {"Range": "bytes=10-19,30-39"}),
            ("GET", {"Range": "bytes=0-9", "If-Range": etag}),
            ("GET", {"Range": "bytes=0-9", "If-Range": '"stale"'}),
            ("HEAD", {"Range": "bytes=5-"}),
        ]
        seen = []
        for method, headers in calls:
            response = api.request(method, url, headers=headers)
            kept = {name: response.headers.get(name) for name in HEADERS}
            if kept["content-type"] and kept["content-type"].startswith("multipart/"):
                kept["content-type"] = "multipart"  # the boundary is random
                kept["content-length"] = None
                body = b"multipart"
            else:
                body = response.content
            seen.append((method, headers.get("Range"), response.status_code, kept, body))
        answers.append(seen)
    # The mock draws the same picture for the same prompt: the same bytes in both stores.
    assert answers[0] == answers[1]
    assert [status for _, _, status, _, _ in answers[0]] == [
        200, 200, 304, 304, 206, 206, 206, 206, 200, 206,
    ]  # fmt: skip


def test_a_wrong_method_names_every_method_of_the_path(serve_api: ServeApi) -> None:
    api = serve_api()
    guid = "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b"
    for method, path, allowed in (
        ("DELETE", "/image", "GET, POST"),
        ("PUT", f"/image/{guid}", "DELETE, GET, PATCH"),
        ("POST", f"/image/{guid}/content", "GET, HEAD"),
        ("POST", "/healthz", "GET"),
    ):
        response = api.request(method, path)
        assert response.status_code == 405, (method, path)
        assert response.headers["allow"] == allowed, (method, path)
        assert response.json()["code"] == "method_not_allowed"
        assert allowed in response.json()["detail"]


def test_redirect_mode_answers_307_to_a_presigned_url_after_the_visibility_check(
    serve_api: ServeApi, s3_server: S3Server
) -> None:
    bucket = s3_server.new_bucket()
    api = serve_api(
        jwt_secret=SECRET,
        **s3_server.settings(
            bucket,
            s3_content="redirect",
            s3_presign_ttl_s=900,
            s3_private_presign_ttl_s=20,
        ),
    )
    alice = bearer("alice", ttl_s=600)
    made = {
        private: api.post(
            "/image", json={"prompt": "redirected", "private": private}, headers=alice
        ).json()
        for private in (False, True)
    }
    for private, ttl in ((False, "900"), (True, "20")):
        guid = made[private]["guid"]
        for path, kind in (
            (f"/image/{guid}/content", "image/png"),
            (f"/image/{guid}/thumbnail", "image/webp"),
        ):
            answer = api.get(path, headers=alice)
            assert answer.status_code == 307, answer.text
            assert answer.headers["cache-control"] == "private, no-store"
            location = answer.headers["location"]
            assert location.startswith(s3_server.endpoint_url)
            assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == [ttl]
            with httpx.Client(follow_redirects=True) as browser:
                followed = browser.get(f"{api.base_url}{path}", headers=alice)
            assert followed.status_code == 200 and followed.headers["content-type"] == kind
            if kind == "image/png":
                assert len(followed.content) == made[private]["size_bytes"]
                stored = s3_server.client().get_object(
                    Bucket=bucket, Key=f"images/{guid[:2]}/{guid}.png"
                )
                assert followed.content == stored["Body"].read(), "the exact bytes"
            assert api.get(path, headers={"If-None-Match": "*"} | alice).status_code == 304
    hidden = f"/image/{made[True]['guid']}/content"
    for who in ({}, bearer("bob", ttl_s=600)):
        assert_problem(api.get(hidden, headers=who), 404, "image_not_found")
