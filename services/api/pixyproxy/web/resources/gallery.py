"""The gallery: the web page at ``/``, its assets under ``/gallery/static``, and in dev mode
a ready-made token for the browser on the developer's own machine.

The page is plain HTML, CSS and ES modules from the package (``web/static``, shipped as
package data): nothing is fetched from elsewhere and nothing is built. It renders every
prompt, tag and author as text, talks to the API with ``fetch`` and the token as an
``Authorization`` header (no cookies), and is sent with a Content-Security-Policy that
allows scripts, styles and requests from this origin only, no inline code, no ``eval``,
and Trusted Types required, so an HTML string can never become markup.
"""

from __future__ import annotations

import ipaddress
import os
from importlib import resources
from pathlib import Path

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import FileResponse
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from pixyproxy.core.errors import NotFound
from pixyproxy.web.auth import DEV_SUBJECT, DevTokens
from pixyproxy.web.deps import RuntimeDep
from pixyproxy.web.requestlog import LogRoute

STATIC_PACKAGE = ("pixyproxy.web", "static")
STATIC_PATH = "/gallery/static"
DEV_TOKEN_PATH = "/gallery/dev-token"  # noqa: S105 - a route, not a secret
DEV_TOKEN_TTL_S = 24 * 3600


def content_security_policy(image_origins: tuple[str, ...] = ()) -> str:
    """The page's policy; ``image_origins``: where content redirects send the browser
    (an object store's origin with ``PIXY_S3_CONTENT=redirect``)."""
    extra = "".join(f" {origin}" for origin in image_origins)
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            # blob: for private images, fetched with the token and shown from memory
            f"img-src 'self' blob:{extra}",
            f"connect-src 'self'{extra}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types 'none'",
        )
    )


CONTENT_SECURITY_POLICY = content_security_policy()
_COMMON_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# No build step means no content hashes in asset names: revalidate (ETag) on every load.
PAGE_HEADERS = {**_COMMON_HEADERS, "Cache-Control": "no-cache", "X-Frame-Options": "DENY"}
ASSET_HEADERS = {**_COMMON_HEADERS, "Cache-Control": "no-cache"}

# The page tells its script where the dev token is (dev mode, loopback only) in this tag.
_DEV_TOKEN_META = b'<meta name="pixyproxy-dev-token" content="">'
_DEV_TOKEN_META_SET = f'<meta name="pixyproxy-dev-token" content="{DEV_TOKEN_PATH}">'.encode()

# Served with these exact types: nosniff makes the browser trust them, and the system's
# MIME table (what ``mimetypes`` reads) differs between machines.
_MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


class GalleryAssets(StaticFiles):
    """The page's assets from the package, with the page's security headers."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(ASSET_HEADERS)
        if isinstance(response, FileResponse):
            media_type = _MEDIA_TYPES.get(Path(full_path).suffix)
            if media_type:
                response.headers["Content-Type"] = media_type
        return response


router = APIRouter(tags=["gallery"], include_in_schema=False, dependencies=[LogRoute])


class _Page:
    """index.html, read from the package once per process (off the event loop)."""

    plain: bytes | None = None
    with_dev_token: bytes | None = None

    @classmethod
    async def load(cls) -> None:
        if cls.plain is None:
            source = resources.files(STATIC_PACKAGE[0]) / STATIC_PACKAGE[1] / "index.html"
            page = await anyio.to_thread.run_sync(source.read_bytes)
            if page.count(_DEV_TOKEN_META) != 1:
                raise RuntimeError("index.html lacks its dev-token meta tag")
            cls.with_dev_token = page.replace(_DEV_TOKEN_META, _DEV_TOKEN_META_SET)
            cls.plain = page


@router.get("/")
async def gallery_page(request: Request, runtime: RuntimeDep) -> Response:
    await _Page.load()
    dev = dev_tokens_for(request, runtime.dev_tokens) is not None
    page = _Page.with_dev_token if dev else _Page.plain
    assert page is not None
    headers = PAGE_HEADERS
    if runtime.image_origins:
        policy = content_security_policy(runtime.image_origins)
        headers = {**PAGE_HEADERS, "Content-Security-Policy": policy}
    return HTMLResponse(page, headers=headers)


@router.get(DEV_TOKEN_PATH)
async def dev_token(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """A token for the user ``dev``: dev mode only, and only for this machine's browser."""
    tokens = dev_tokens_for(request, runtime.dev_tokens)
    if tokens is None:
        raise NotFound(f"No route for GET {DEV_TOKEN_PATH}.")
    token = tokens.mint(ttl_s=DEV_TOKEN_TTL_S)
    return JSONResponse(
        {"token": token, "subject": DEV_SUBJECT, "expires_in": DEV_TOKEN_TTL_S},
        headers={"Cache-Control": "no-store", **_COMMON_HEADERS},
    )


def dev_tokens_for(request: Request, tokens: DevTokens | None) -> DevTokens | None:
    """The dev tokens (dev mode with an HMAC secret) for a loopback client that names a
    loopback ``Host``; None for anyone else.

    The client address is the one after trusted proxy headers, so a request forwarded by
    a proxy on this machine for someone elsewhere is refused. Checking ``Host`` too keeps
    a page of another site, whose name a DNS rebinding points at 127.0.0.1, from reading
    the token in the developer's browser.
    """
    if tokens is None:
        return None
    client = request.client.host if request.client else None
    host = _host_name(request.headers.get("host"))
    return tokens if _is_loopback(client) and _is_loopback(host) else None


def _host_name(host: str | None) -> str | None:
    if not host:
        return None
    if host.startswith("["):  # [::1]:8000
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


router.mount(STATIC_PATH, GalleryAssets(packages=[STATIC_PACKAGE]), name="gallery-static")
