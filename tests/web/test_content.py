"""Content over real HTTP: for any Range header the answer is the one ``byte_ranges``
decided (the whole PNG, the ranges, or problem JSON), never Starlette's plain-text refusal;
a wrong method names every method the path answers."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixyproxy.core.errors import InvalidRange, RangeNotSatisfiableError
from pixyproxy.web.content import byte_ranges
from tests.support.servers import ServeApi

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
def content(serve_api: ServeApi) -> tuple[httpx.Client, str, bytes]:
    api = serve_api(anonymous_generation=True)
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
