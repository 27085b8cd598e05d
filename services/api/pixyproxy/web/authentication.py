"""Bearer tokens are checked once per request, on every route, before the route runs.

A request without an ``Authorization`` header is anonymous and goes on: probes, scrapers
and the gallery need no token. A request with one is refused with 401 ``invalid_token``
unless the header is a single ``Bearer`` token that verifies: on ``/healthz``,
``/readyz``, ``/metrics``, ``/docs``, ``/openapi.json``, unknown routes and wrong methods
as on the image routes, because a caller who sent credentials must learn that they are bad
wherever it sent them. A repeated header is refused too rather than decided by one copy:
proxies and frameworks disagree on which copy counts.

The verified caller is kept in the request state; routes reach it through
``get_optional_caller`` (web/deps.py), so a token is verified once per request.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from pixyproxy.core.errors import InvalidToken
from pixyproxy.core.models import Caller
from pixyproxy.web.auth import TokenVerifier, parse_authorization
from pixyproxy.web.problems import pixyproxy_problem

CALLER_STATE = "caller"


class AuthenticationMiddleware:
    """Pure ASGI; sits inside the request limits, so an oversized header is a 431 first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        try:
            caller = await _caller(scope)
        except InvalidToken as exc:
            response = await pixyproxy_problem(Request(scope), exc)
            await response(scope, receive, send)
            return
        state[CALLER_STATE] = caller
        if caller is not None:
            state["subject"] = caller.subject  # for the request.end line
        await self.app(scope, receive, send)


async def _caller(scope: Scope) -> Caller | None:
    values = [value for name, value in scope["headers"] if name == b"authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise InvalidToken("Send one Authorization header, not several.")
    token = parse_authorization(values[0].decode("latin-1"))
    assert token is not None
    verifier: TokenVerifier = scope["app"].state.runtime.tokens
    return await verifier.verify(token)


def caller_of(request: Request) -> Caller | None:
    """The caller the middleware verified; a KeyError if it did not run (a wiring bug)."""
    caller: Caller | None = request.scope["state"][CALLER_STATE]
    return caller
