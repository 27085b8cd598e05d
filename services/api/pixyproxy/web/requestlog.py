"""Request ids, one ``request.start`` and one ``request.end`` line per request, and the
request metrics.

The request id is taken from ``X-Request-ID`` when sane (1-128 of ``[A-Za-z0-9._-]``),
otherwise made; it is echoed in the response, kept in ``request.state.request_id`` for
problem JSON, and bound in structlog's contextvars so every line of the request carries it.

Two parts work together:

- ``RequestLogMiddleware``, the outermost pure ASGI middleware, sets the request id,
  writes both lines and records the request in the metrics (``metrics.py``): one clock,
  one status and one route for both. Being outside the router it also sees requests that
  match no route (404, 405), streamed file responses (the end line follows the last byte)
  and crashes: an exception that escapes the app is answered here with the app's 500
  problem handler, so the error line, the 500 and ``request.end`` all carry the request id.
- ``log_route``, the logging dependency every route gets (``LogRoute``, declared by each
  resource router),
  binds the matched route template into the log context, so every line written while a
  route runs (the service's and the data layer's included) names its route.

``request.end`` carries method, route (template such as ``/image/{guid}``; null when no
route matched), path, status, duration_ms, request_id, subject (``request.state.subject``,
set by authentication; null for anonymous callers) and client (the caller's address, after
trusted proxy headers).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import structlog
from fastapi import Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixyproxy.web.logs import get_logger
from pixyproxy.web.metrics import RequestMetrics

log = get_logger("pixyproxy.request")
# Asked before each line: a line below the configured level then costs nothing.
_level_check = logging.getLogger("pixyproxy.request")

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def sane_request_id(value: str | None) -> str:
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


async def log_route(request: Request) -> None:
    """The logging dependency of every route: later lines of the request name its route."""
    structlog.contextvars.bind_contextvars(route=route_template(request.scope))


LogRoute = Depends(log_route)  # declared by every resource router for all its routes


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.metrics = RequestMetrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = sane_request_id(_header(scope, b"x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self._logged(scope, receive, send, request_id)

    async def _logged(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        started = time.perf_counter()
        status: int | None = None
        method: str = scope["method"]
        path: str = scope["path"]
        if _level_check.isEnabledFor(logging.INFO):
            log.info("request.start", method=method, path=path, client=_client(scope))

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except ClientDisconnect:
            log.info("request.disconnected")
        except Exception as exc:
            if status is not None:
                # The status line is gone already; the server closes the connection.
                if isinstance(exc, OSError):
                    log.info("request.disconnected", error=type(exc).__name__)
                else:
                    log.error("request.failed_after_start", exc_info=exc)
            else:
                try:
                    await self._answer_crash(scope, receive, send_and_watch, exc)
                finally:
                    status = status or 500
        finally:
            duration_s = time.perf_counter() - started
            route = route_template(scope)
            if status is not None:
                self.metrics.observe(method, route, status, duration_s)
            level = _level(status)
            if _level_check.isEnabledFor(level):
                state: dict[str, Any] = scope.get("state") or {}
                log.log(
                    level,
                    "request.end",
                    method=method,
                    route=route,
                    path=path,
                    status=status,
                    duration_ms=round(duration_s * 1000, 2),
                    subject=state.get("subject"),
                    client=_client(scope),
                )

    async def _answer_crash(
        self, scope: Scope, receive: Receive, send: Send, exc: Exception
    ) -> None:
        """Render the 500 with the app's own ``Exception`` handler, inside the request's log
        context; without one, let Starlette's ServerErrorMiddleware answer."""
        app = scope.get("app")
        handler = getattr(app, "exception_handlers", {}).get(Exception)
        if handler is None:
            raise exc
        response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)


def _level(status: int | None) -> int:
    if status is None:
        return logging.WARNING  # no answer: the client went away first
    return logging.ERROR if status >= 500 else logging.INFO


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None
