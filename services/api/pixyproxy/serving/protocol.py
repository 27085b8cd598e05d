"""The HTTP/1.1 protocol of PixyProxy's uvicorn workers: uvicorn's httptools protocol with
deadlines for receiving a request and a bound on its head.

uvicorn has neither (uvicorn issue #157). Its keep-alive timer is cancelled by the first
byte of a request and armed again only when a response is complete, so a client that
trickles a head or a body a byte at a time holds a connection, and the app's ``receive()``,
for ever; a connection that sends nothing at all is never timed out either. And httptools
keeps a head whole until it ends, however large: a 64 MB header cost a worker 131 MB.

Here, per connection:

- **Head deadline** (``PIXY_REQUEST_HEAD_TIMEOUT_S``, 10 s): from the connection's start, or
  from the first byte after an idle keep-alive pause, until the head has ended. A head that
  began arriving is answered 408; a connection that sent nothing is closed.
- **Body deadline** (``PIXY_REQUEST_BODY_TIMEOUT_S``, 60 s): from the end of the head to
  the end of the body. 408 if the app has not answered yet (its ``receive()`` then sees the
  client gone); otherwise the connection is closed.
- **Head size**: at most ``MAX_HEAD_BYTES`` are given to the parser before the head must
  have ended; past that, 431. The size of a head is counted in slices as it arrives, so
  what the parser buffers stays under twice the bound whatever the client sends.

Once a request has been received whole nothing is cut: a generation may take minutes to
answer. A deadline for a request that waits behind the response to an earlier pipelined
request starts when that response is complete. Between requests, uvicorn's keep-alive
timeout applies as before. Refusals are problem JSON with ``Connection: close``; the
server then stops writing and reads (and drops) what the client still sends for at most
``LINGER_S``, so the answer is not lost to a reset, and closes.

Why httptools rather than h11: it is what uvicorn picks by itself when installed (the
measured figures in the README are with it), its C parser costs a fraction of h11's
per request, and h11's own head bound answers 400 rather than 431. The bound added here is
a length check per received chunk, only while a head is arriving.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from http import HTTPStatus
from typing import Any, ClassVar, Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pixyproxy.core.settings import Settings
from pixyproxy.web.limits import MAX_HEADER_BYTES, MAX_TARGET_BYTES
from pixyproxy.web.logs import get_logger

# Above the app's own limits (web/limits.py), which answer a head just over them with their
# precise 414 or 431; this bound only keeps a head from growing without end.
MAX_HEAD_BYTES = MAX_TARGET_BYTES + MAX_HEADER_BYTES + 16 * 1024
LINGER_S = 2.0

log = get_logger("pixyproxy.serving")

Part = Literal["head", "body"]


class PixyProxyHttpProtocol(HttpToolsProtocol):
    head_timeout_s: ClassVar[float] = 10.0
    body_timeout_s: ClassVar[float] = 60.0
    max_head_bytes: ClassVar[int] = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._receiving: Part | None = None  # what part of a request is arriving
        self._head_bytes = 0  # of the head arriving, counted by data_received
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    # -- the connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect("head")
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: what the client still sends is dropped
        if self._receiving is None:
            self._expect("head")  # the first byte of the next request
        while data and not self._refused and not self.transport.is_closing():
            piece = data
            if self._receiving == "head":
                room = self.max_head_bytes - self._head_bytes
                if room <= 0:
                    self._refuse(
                        431, "request_header_fields_too_large", "The request head is too large."
                    )
                    return
                piece = data[:room] if len(data) > room else data
                self._head_bytes += len(piece)
            data = data[len(piece) :]
            super().data_received(piece)
        # Armed only now, so a request that arrived whole in this chunk costs no timer.
        self._arm()

    # -- the parser's callbacks, which move a request from head to body to received

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._receiving != "head":
            self._expect("head")  # a pipelined request, in the same chunk as the last one

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._expect("body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._receiving = None
        self._cancel_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # a part that waited behind this response gets its deadline now

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn's two warnings would tell operators to install a WebSocket library: the
        # worker turns WebSockets off on purpose, and an Upgrade request is plain HTTP here.
        log.debug("request.upgrade_ignored")

    # -- deadlines

    def _expect(self, part: Part) -> None:
        """``part`` is arriving now; its deadline is armed once the chunk is parsed."""
        self._cancel_deadline()
        self._receiving = part
        if part == "head":
            self._head_bytes = 0

    def _arm(self) -> None:
        if (
            self._receiving is None
            or self._deadline is not None
            or self.transport.is_closing()
            or self._behind_a_response()
        ):
            return
        timeout = self.head_timeout_s if self._receiving == "head" else self.body_timeout_s
        self._deadline = self.loop.call_later(timeout, self._deadline_passed)

    def _behind_a_response(self) -> bool:
        """Whether the part arriving waits for the response to an earlier request."""
        if self._receiving == "head":  # the latest request is still being answered
            return self.cycle is not None and not self.cycle.response_complete
        return bool(self.pipeline)  # the request is queued behind a running one

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        part = self._receiving
        answered, request_id = False, None
        if part == "body":
            # The app waits in receive(): it now sees the client gone, and what it still
            # sends is dropped rather than written after our answer.
            answered = self.cycle.response_started
            request_id = self.cycle.scope["state"].get("request_id")  # the app's, for its logs
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if answered or (part == "head" and self._head_bytes == 0):
            self.transport.close()  # nothing to say: an idle connection, or already answered
            return
        timeout = self.head_timeout_s if part == "head" else self.body_timeout_s
        detail = f"The request {part} took over {timeout:g} s."
        self._refuse(408, "request_timeout", detail, request_id)

    # -- refusing

    def _refuse(self, status: int, code: str, detail: str, request_id: str | None = None) -> None:
        request_id = request_id or uuid.uuid4().hex
        client = self.client[0] if self.client else None
        log.warning(
            "request.refused", status=status, code=code, request_id=request_id, client=client
        )
        self._refused = True
        self._receiving = None
        self._cancel_deadline()
        self.transport.write(_problem(status, code, detail, request_id))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self._deadline = self.loop.call_later(LINGER_S, self.transport.close)


def _problem(status: int, code: str, detail: str, request_id: str) -> bytes:
    """An RFC 9457 problem response, whole, for a request the app never saw."""
    title = HTTPStatus(status).phrase
    body = json.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "request_id": request_id,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        f"x-request-id: {request_id}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def protocol_for(settings: Settings) -> type[PixyProxyHttpProtocol]:
    """The protocol class with the deadlines of these settings."""
    return type(
        "PixyProxyHttpProtocol",
        (PixyProxyHttpProtocol,),
        {
            "head_timeout_s": settings.request_head_timeout_s,
            "body_timeout_s": settings.request_body_timeout_s,
        },
    )
