"""Limits on what a request may carry, checked before any of it reaches a route.

- The request target is at most 8 KiB (414) and the headers at most 32 KiB in all (431).
- A body is at most 64 KiB (413): refused from its ``Content-Length`` without being read,
  or as soon as a body without one passes the limit. ``POST /image`` needs a few KiB.
- A JSON body must be UTF-8 (RFC 8259), else 422 like any body that is not valid JSON.
- A query parameter the route takes as a single value may appear once (422): a strict API
  does not silently pick the first or the last of ``limit=1&limit=2``. A route that takes
  a query model declares ``single_values(Model)`` (the others ignore any query string).

Each refusal is problem JSON like every other error. A head far over these limits never
reaches the app: the workers' HTTP protocol (serving/protocol.py) refuses it with a 431
before buffering it whole.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message as EmailMessage
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixyproxy.core.errors import InvalidRequest
from pixyproxy.web.problems import problem

MAX_BODY_BYTES = 64 * 1024
MAX_TARGET_BYTES = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024


class RepeatedQueryParameter(InvalidRequest):
    code = "validation_failed"

    def __init__(self, names: list[str]) -> None:
        super().__init__(
            f"The request is not valid: {', '.join(names)} given more than once.",
            errors=[
                {"loc": ["query", name], "msg": "must be given at most once"} for name in names
            ],
        )


@dataclass(frozen=True)
class _Refusal:
    status: int
    code: str
    detail: str
    errors: list[dict[str, object]] | None = None

    async def send(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = {"errors": self.errors} if self.errors else None
        response = problem(
            Request(scope), self.status, code=self.code, detail=self.detail, extra=extra
        )
        await response(scope, receive, send)


class RequestLimitsMiddleware:
    """Bounds the request head and body before the app sees them; pure ASGI."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_target_bytes: int = MAX_TARGET_BYTES,
        max_header_bytes: int = MAX_HEADER_BYTES,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_target_bytes = max_target_bytes
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check_head(scope)
        if refusal is None and _is_json(scope):
            # JSON is parsed whole anyway: read it here (bounded) to check its encoding.
            messages, refusal = await self._read_json(receive)
            receive = _replay(messages, receive)
        if refusal is not None:
            await refusal.send(scope, receive, send)
            return
        await self.app(scope, self._bounded(receive), send)

    def _check_head(self, scope: Scope) -> _Refusal | None:
        target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
        if target > self.max_target_bytes:
            return _Refusal(
                414, "uri_too_long", f"The request target is over {self.max_target_bytes} bytes."
            )
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if sum(len(name) + len(value) + 4 for name, value in headers) > self.max_header_bytes:
            return _Refusal(
                431,
                "request_header_fields_too_large",
                f"The request headers are over {self.max_header_bytes} bytes in all.",
            )
        lengths = [value for name, value in headers if name == b"content-length"]
        if lengths:
            if len(lengths) > 1 or not lengths[0].isdigit():
                return _Refusal(400, "bad_request", "The Content-Length header is not valid.")
            if int(lengths[0]) > self.max_body_bytes:
                return self._too_large()
        return None

    def _too_large(self) -> _Refusal:
        return _Refusal(
            413, "content_too_large", f"The request body is over {self.max_body_bytes} bytes."
        )

    async def _read_json(self, receive: Receive) -> tuple[list[Message], _Refusal | None]:
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages, None  # the client left: the app finds out by itself
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return messages, self._too_large()
            if not message.get("more_body", False):
                break
        try:
            b"".join(m.get("body", b"") for m in messages).decode("utf-8")
        except UnicodeDecodeError:
            return messages, _Refusal(
                422,
                "validation_failed",
                "The request is not valid: body.",
                errors=[{"loc": ["body"], "msg": "JSON must be UTF-8 encoded"}],
            )
        return messages, None

    def _bounded(self, receive: Receive) -> Receive:
        """Counts a body as it streams in; the app's read fails once it passes the limit."""
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, self._too_large().detail)
            return message

        return bounded_receive


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            parsed = EmailMessage()
            parsed["content-type"] = value.decode("latin-1")
            subtype = parsed.get_content_subtype()
            return parsed.get_content_maintype() == "application" and (
                subtype == "json" or subtype.endswith("+json")
            )
    return False


def single_values(query: type[BaseModel]) -> Any:
    """A dependency: 422 when a parameter ``query`` takes as one value is given several times.

    The names are looked at only when some name is repeated, which is rare.
    """
    names = tuple(
        field.alias or name
        for name, field in query.model_fields.items()
        if not _is_sequence(field.annotation)
    )

    async def reject_repeated(request: Request) -> None:
        params = request.query_params
        if len(params.multi_items()) == len(params):  # as many items as names: no repeats
            return
        repeated = [name for name in names if len(params.getlist(name)) > 1]
        if repeated:
            raise RepeatedQueryParameter(repeated)

    return Depends(reject_repeated)


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_sequence(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return any(_is_sequence(arg) for arg in get_args(annotation) if arg is not type(None))
    candidate = origin or annotation
    return (
        isinstance(candidate, type)
        and issubclass(candidate, (Sequence, set, frozenset))
        and not issubclass(candidate, (str, bytes))
    )


def install_request_limits(app: FastAPI) -> None:
    """Add the limits; call before the request-id middleware.

    The middleware sits inside the request-id middleware, so its refusals carry the id too.
    """
    app.add_middleware(RequestLimitsMiddleware)
