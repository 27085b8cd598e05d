"""The authentication middleware (web/authentication.py): a bad token, or more than one
Authorization header, is a 401 on every route; without a token every route answers as it
always did; a token is verified once per request."""

from __future__ import annotations

import httpx
import pytest
from jose import jwt

from tests.support.servers import ServeApi
from tests.support.tokens import SECRET, assert_invalid_token, authorization, claims, hs256

GUID = "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b"
# (method, path, the status it answers without a token)
ROUTES = [
    ("GET", "/healthz", 200),
    ("GET", "/healthz/", 200),
    ("GET", "/readyz", 200),
    ("GET", "/metrics", 200),
    ("GET", "/docs", 200),
    ("GET", "/openapi.json", 200),
    ("GET", "/image", 200),
    ("GET", f"/image/{GUID}", 404),
    ("HEAD", f"/image/{GUID}/content", 404),
    ("GET", "/image/not-a-guid", 422),
    ("GET", "/no/such/route", 404),
    ("DELETE", "/healthz", 405),
    ("PUT", "/image", 405),
    ("OPTIONS", "/metrics", 405),
]
BAD = {
    "expired": lambda: hs256(claims(exp=1)),
    "wrong secret": lambda: hs256(claims(), secret="another-" + "k" * 40),
    "not a token": lambda: "garbage",
}


@pytest.fixture
def api(serve_api: ServeApi) -> httpx.Client:
    return serve_api(jwt_secret=SECRET)


@pytest.mark.parametrize(("method", "path", "status"), ROUTES)
def test_a_bad_token_is_401_on_every_route(
    api: httpx.Client, method: str, path: str, status: int
) -> None:
    assert api.request(method, path).status_code == status  # probes need no token
    assert api.request(method, path, headers=authorization(hs256(claims()))).status_code == status
    for make in BAD.values():
        response = api.request(method, path, headers=authorization(make()))
        if method == "HEAD":
            assert (
                response.status_code == 401
                and "invalid_token" in response.headers["www-authenticate"]
            )
        else:
            assert_invalid_token(response)
    assert_invalid_token(api.request("GET", path, headers={"Authorization": "Basic YTpi"}))


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(("good", "good"), id="the same good token twice"),
        pytest.param(("good", "bad"), id="good then bad"),
        pytest.param(("bad", "good"), id="bad then good"),
        pytest.param(("good", ""), id="good then empty"),
    ],
)
def test_more_than_one_authorization_header_is_401(
    api: httpx.Client, values: tuple[str, str]
) -> None:
    tokens = {"good": f"Bearer {hs256(claims())}", "bad": "Bearer garbage", "": ""}
    headers = [("Authorization", tokens[value]) for value in values]
    for method, path in (("GET", "/image"), ("POST", "/image"), ("GET", "/healthz")):
        response = api.request(method, path, headers=headers, json={"prompt": "x"})
        assert_invalid_token(response)
        assert "one Authorization header" in response.json()["detail"]


def test_a_token_is_verified_once_per_request(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middleware verifies it; the route's caller dependency only reads the result."""
    calls: list[str] = []
    decode = jwt.decode

    def counting_decode(token: str, *args: object, **kwargs: object) -> object:
        calls.append(token)
        return decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    headers = authorization(hs256(claims()))
    created = api.post("/image", json={"prompt": "a fox"}, headers=headers)
    assert created.status_code == 200, created.text
    assert api.get(f"/image/{created.json()['guid']}", headers=headers).status_code == 200
    assert len(calls) == 2
