"""The gallery's routes over real HTTP (uvicorn on a loopback port, no browser): the page
and its security headers, every asset with its exact type, the dev token's rules, and the
sources' own guarantees (no HTML sinks, nothing fetched from elsewhere)."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from jose import jwt

from pixyproxy.web.resources import gallery
from tests.support.s3 import S3Server

STATIC = Path(gallery.__file__).resolve().parents[1] / "static"
ASSETS = sorted(p for p in STATIC.rglob("*") if p.is_file())
SCRIPTS = [p for p in ASSETS if p.suffix == ".js"]
SECRET = "d" * 40
# Every way a script can turn a string into markup or code.
HTML_SINKS = "|".join(
    [
        r"\.innerHTML",
        r"\.outerHTML",
        "insertAdjacentHTML",
        r"document\.write",
        r"\beval\(",
        "new Function",
        "DOMParser",
        "createContextualFragment",
        "srcdoc",
        "setHTML",
    ]
)

ServeApi = Callable[..., httpx.Client]


@pytest.fixture
def dev(serve_api: ServeApi) -> httpx.Client:
    return serve_api(env="dev", jwt_secret=SECRET)


def test_the_page_is_sent_with_a_strict_policy(dev: httpx.Client) -> None:
    response = dev.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = dict(
        [*part.split(" ", 1), ""][:2]
        for part in response.headers["content-security-policy"].split("; ")
    )
    assert "unsafe-inline" not in str(policy) and "unsafe-eval" not in str(policy)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["style-src"] == policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("asset", ASSETS, ids=lambda p: str(p.relative_to(STATIC)))
def test_every_asset_is_served_as_itself_with_its_type(dev: httpx.Client, asset: Path) -> None:
    types = {
        ".js": "text/javascript",
        ".css": "text/css",
        ".html": "text/html",
        ".svg": "image/svg+xml",
    }
    url = f"/gallery/static/{asset.relative_to(STATIC).as_posix()}"
    response = dev.get(url)
    assert response.status_code == 200
    assert response.content == asset.read_bytes()
    assert response.headers["content-type"].split(";")[0] == types[asset.suffix]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == gallery.CONTENT_SECURITY_POLICY
    assert response.headers["cache-control"] == "no-cache"
    again = dev.get(url, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/gallery/static/../resources/gallery.py",
        "/gallery/static/%2e%2e/resources/gallery.py",
        "/gallery/static/js/../../app.py",
        "/gallery/static/nothing.js",
        "/gallery/static/js",
    ],
)
def test_nothing_outside_the_assets_is_served(dev: httpx.Client, path: str) -> None:
    response = dev.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_the_gallery_is_not_part_of_the_api_document(dev: httpx.Client) -> None:
    paths = dev.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(path.startswith("/gallery") for path in paths)


def test_the_dev_token_is_handed_to_this_machine_in_dev_mode(dev: httpx.Client) -> None:
    assert 'content="/gallery/dev-token"' in dev.get("/").text
    response = dev.get("/gallery/dev-token")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    claims = jwt.decode(response.json()["token"], SECRET, audience="pixyproxy")
    assert claims["sub"] == response.json()["subject"] == "dev"
    # It works: the API takes it.
    assert (
        dev.get(
            "/image", headers={"Authorization": f"Bearer {response.json()['token']}"}
        ).status_code
        == 200
    )


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "127.0.0.2"])
def test_loopback_host_names_get_the_dev_token(dev: httpx.Client, host: str) -> None:
    assert dev.get("/gallery/dev-token", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        # A proxy on this machine forwarding a caller from elsewhere (trusted: 127.0.0.1).
        {"X-Forwarded-For": "203.0.113.7"},
        {"X-Forwarded-For": "10.1.2.3"},
        # A page of another site whose name a DNS rebinding points at 127.0.0.1.
        {"Host": "attacker.example"},
        {"Host": "attacker.example:8000"},
        {"Host": "127.0.0.1.attacker.example"},
        {"Host": ""},
    ],
    ids=["forwarded-public", "forwarded-private", "host", "host-port", "host-prefix", "no-host"],
)
def test_the_dev_token_is_refused_to_anyone_else(
    dev: httpx.Client, headers: dict[str, str]
) -> None:
    response = dev.get("/gallery/dev-token", headers=headers)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found" and "token" not in response.json()
    assert 'content=""' in dev.get("/", headers=headers).text  # and the page offers no button


def test_production_never_hands_out_a_dev_token(serve_api: ServeApi) -> None:
    api = serve_api(env="production", jwt_secret=SECRET)
    assert api.get("/gallery/dev-token").status_code == 404
    assert 'name="pixyproxy-dev-token" content=""' in api.get("/").text


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: list[tuple[str | None, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.data.append((self.tags[-1][0] if self.tags else None, data))


def test_the_page_loads_only_its_own_files_and_has_no_inline_code() -> None:
    page = _Collector()
    page.feed((STATIC / "index.html").read_text())
    ids = {attrs["id"] for _, attrs in page.tags if attrs.get("id")}
    # and the ids the scripts give the elements they draw (the image page's title)
    ids |= {m for p in SCRIPTS for m in re.findall(r'\bid: "([\w-]+)"', p.read_text())}
    for tag, attrs in page.tags:
        assert not any(name.startswith("on") for name in attrs), f"inline handler on <{tag}>"
        assert "style" not in attrs, f"inline style on <{tag}>"
        for name in ("src", "href"):
            value = attrs.get(name)
            if value and tag in ("script", "link"):
                assert value.startswith("/gallery/static/"), value
                assert (STATIC / value.removeprefix("/gallery/static/")).is_file(), value
        for name in ("aria-describedby", "aria-controls", "aria-labelledby", "for"):
            if attrs.get(name):
                assert attrs[name] in ids, f"<{tag} {name}={attrs[name]}> names no element"
    assert not [data for tag, data in page.data if tag in ("script", "style")]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_import_only_their_siblings_and_never_parse_html(script: Path) -> None:
    source = script.read_text()
    for target in re.findall(r'^import .* from "([^"]+)";$', source, flags=re.MULTILINE):
        assert target.startswith("./") and (script.parent / target).is_file(), target
    assert not re.search(HTML_SINKS, source), f"{script.name} writes HTML from strings"
    assert not re.search(r"https?://", source), f"{script.name} names another origin"


def test_in_redirect_mode_the_page_lets_images_come_from_the_store(
    serve_api: ServeApi, s3_server: S3Server
) -> None:
    """Content answers 307 to the bucket: the page's policy names its origin for images and
    for the token's fetches, and nothing else changes."""
    api = serve_api(**s3_server.settings(s3_server.new_bucket(), s3_content="redirect"))
    policy = api.get("/").headers["content-security-policy"]
    assert policy == gallery.content_security_policy((s3_server.endpoint_url,))
    assert f"img-src 'self' blob: {s3_server.endpoint_url};" in policy
    assert f"connect-src 'self' {s3_server.endpoint_url};" in policy
    streaming = serve_api(**s3_server.settings(s3_server.new_bucket()))
    assert streaming.get("/").headers["content-security-policy"] == gallery.CONTENT_SECURITY_POLICY
