"""An HTTP client for the image service that never holds more of an answer than it may use.

The OpenAI SDK reads a whole response body into memory before it parses it, so a server
that answers 50 MB (or streams forever) would make a worker hold all of it. The client
made here checks every answer as soon as its headers arrive, before the SDK reads the body:

- a ``Content-Length`` above the limit is refused at once, without reading the body;
- the body is counted while it is read and refused as soon as it passes the limit;
- compressed answers are refused: we ask for ``identity``, and a compressed body could
  expand far beyond what was counted on the wire.

A refusal raises ``UpstreamResponseRefused``, an ``openai.OpenAIError``: the SDK passes
those through without retrying, and the generator reports them as an unusable answer.
The checks run as a response event hook, so they hold whichever transport or proxy the
client picks for a request.

The same hook tells the SDK not to retry rate limits and overloads (429, 503, 529): it
would sleep for the server's Retry-After (up to a minute) while the caller waits; the
caller gets our 503 with that Retry-After at once instead. Other failures are retried as
``PIXY_OPENAI_MAX_RETRIES`` says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai

# Room for the JSON around the base64 image (usage, metadata, ...).
ENVELOPE_SLACK_BYTES = 64 * 1024
# Statuses that come with a Retry-After the caller should see rather than wait out here.
_NOT_RETRIED = frozenset({429, 503, 529})


class UpstreamResponseRefused(openai.OpenAIError):
    """The image service's answer was too large or not in a form we can bound."""


def max_answer_bytes(max_image_bytes: int) -> int:
    """The largest JSON answer that can carry an image of ``max_image_bytes`` in base64."""
    return (max_image_bytes + 2) // 3 * 4 + ENVELOPE_SLACK_BYTES


class _BoundedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self._inner:
            received += len(chunk)
            if received > self._limit:
                raise UpstreamResponseRefused(
                    f"the image service answered more than {self._limit} bytes"
                )
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def _limit_answers(limit: int) -> Any:
    async def check(response: httpx2.Response) -> None:
        if response.status_code in _NOT_RETRIED:
            response.headers["x-should-retry"] = "false"  # the SDK's own switch
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise UpstreamResponseRefused(
                f"the image service answered with content-encoding {encoding!r}"
            )
        length = response.headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise UpstreamResponseRefused(
                    "the image service sent a bad Content-Length"
                ) from None
            if declared > limit:
                raise UpstreamResponseRefused(
                    f"the image service announced {declared} bytes, more than {limit}"
                )
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        response.stream = _BoundedStream(response.stream, limit)

    return check


def bounded_http_client(
    *,
    max_body_bytes: int,
    timeout_s: float,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> httpx2.AsyncClient:
    """The SDK's default async client, plus the answer-size limit and no compression."""
    return openai.DefaultAsyncHttpxClient(
        timeout=timeout_s,
        headers={"Accept-Encoding": "identity"},
        event_hooks={"response": [_limit_answers(max_body_bytes)]},
        transport=transport,
    )
