"""Every route also answers with a trailing slash (``/image/``), without a redirect.

Rather than registering each route twice, the path loses one trailing slash before the
request metrics and the routers see it, so both spellings are one route with one label;
the request log, outside this middleware, keeps the path as the caller sent it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class TrailingSlashMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope["path"] = path[:-1]
                raw_path = scope.get("raw_path")
                if raw_path and raw_path.endswith(b"/"):
                    scope["raw_path"] = raw_path[:-1]
        await self.app(scope, receive, send)
