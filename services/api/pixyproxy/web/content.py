"""Serving an image's bytes, whichever store holds them: the validators (a strong ETag from
the content hash), conditional requests (``If-None-Match`` gives 304), ranges (206; a bad
range is problem JSON, 400 or 416) and caching (public images are immutable, private ones
are never stored by caches).

A store plugs in through the kind of content its ``open`` gives (``data/store.py``):
``_body`` turns each kind into a response. A local file goes to Starlette's
``FileResponse``, which sends the ranges this module has checked. An object in an object
store goes to the same response class reading through ``_ObjectReader`` instead of a file,
so ranges, multipart ranges, ``If-Range`` and ``HEAD`` behave the same, byte for byte; each
range it sends is one ranged GET streamed from the store, never the whole object in
memory. In redirect mode (``PIXY_S3_CONTENT=redirect``) the object is not sent but a 307
to a presigned URL, after the same visibility check, never kept by a cache.

With ``PIXY_CONTENT_OFFLOAD=x-accel`` an nginx in front sends local files instead
(``XAccelRedirect``): once the caller may see the image and has not got it already (304),
the answer is empty, names the file under the prefix in ``X-Accel-Redirect`` and carries
our Content-Type, ETag and Cache-Control; nginx serves the file from its internal location
with sendfile, ranges included (it checks them: no range logic travels with the redirect).
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from fastapi import Request, Response
from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

from pixyproxy.core.errors import InvalidRange, RangeNotSatisfiableError
from pixyproxy.data.store import LocalFile, RemoteObject
from pixyproxy.service.reading import ImageContent

PUBLIC_CACHE = "public, max-age=31536000, immutable"
PRIVATE_CACHE = "private, no-store"
# More ranges than this in one request are answered with the whole content.
MAX_RANGES = FileResponse.max_ranges


# What a redirect to an object store's presigned URL says: the URL expires, and a private
# image's must never outlive its permission in a shared cache.
REDIRECT_CACHE = "private, no-store"
_PATHSEND = "http.response.pathsend"


class ImageFileResponse(FileResponse):
    # Each chunk is a threadpool hop: a 1 MB PNG in 8 reads rather than Starlette's 16
    # (80 % of the FastAPI FileResponse's req/s with 64 KB, 108 % with 128 KB, as much with
    # 256 KB but 12 MB more RSS per worker with 50 clients: two chunks each in flight).
    chunk_size = 128 * 1024


class ObjectResponse(ImageFileResponse):
    """``FileResponse``'s answer for an object: its reads come from the object store."""

    def __init__(
        self,
        stored: RemoteObject,
        ranges: list[tuple[int, int]],
        *,
        media_type: str,
        headers: Mapping[str, str],
    ) -> None:
        fake = os.stat_result((stat.S_IFREG | 0o640, 0, 0, 1, 0, 0, stored.size_bytes, 0, 0, 0))
        fake = os.stat_result((*fake[:7], stored.modified, stored.modified, stored.modified))
        super().__init__(stored.key, stat_result=fake, media_type=media_type, headers=headers)
        self.stored = stored
        self.ranges = ranges

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # No file to hand the server to send by path: the bytes go through here.
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if k != _PATHSEND}
        await super().__call__({**scope, "extensions": extensions}, receive, send)

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[Any]:
        reader = _ObjectReader(self.stored, self.ranges)
        try:
            yield reader
        finally:
            with anyio.CancelScope(shield=True):
                await reader.aclose()


class _ObjectReader:
    """What ``FileResponse`` reads a file through (``seek``, ``read``), over ranged GETs:
    each position it seeks to streams up to the end of the range that starts there (the
    ranges ``content_response`` checked), or to the end of the object. It seeks only when
    it sends ranges: read from the start without a seek (no range, or an ``If-Range`` that
    did not match), the whole object streams."""

    def __init__(self, stored: RemoteObject, ranges: list[tuple[int, int]]) -> None:
        self._stored = stored
        self._ranges = dict(ranges)
        self._ends: dict[int, int] = {}
        self._position = 0
        self._chunks: AsyncIterator[bytes] | None = None
        self._buffer = bytearray()

    async def seek(self, position: int) -> None:
        await self.aclose()
        self._ends = self._ranges
        self._position = position

    async def read(self, size: int) -> bytes:
        if self._chunks is None:
            end = self._ends.get(self._position, self._stored.size_bytes)
            if end <= self._position:
                return b""
            self._chunks = self._stored.source.chunks(self._stored.key, self._position, end)
        while len(self._buffer) < size:
            try:
                self._buffer += await anext(self._chunks)
            except StopAsyncIteration:
                break
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._position += len(data)
        return data

    async def aclose(self) -> None:
        chunks, self._chunks = self._chunks, None
        self._buffer.clear()
        if chunks is not None:
            await chunks.aclose()  # type: ignore[attr-defined]  # an async generator


@dataclass(frozen=True)
class XAccelRedirect:
    """Local files are nginx's to send: ``root`` (the store's) is served at ``prefix``."""

    prefix: str
    root: Path

    def location(self, path: Path) -> str | None:
        """The internal URI of ``path``; None for a file outside the root."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return None
        return self.prefix + quote(relative.as_posix())


def content_response(
    request: Request, content: ImageContent, offload: XAccelRedirect | None = None
) -> Response:
    headers = {
        "ETag": content.etag,
        "Cache-Control": PRIVATE_CACHE if content.private else PUBLIC_CACHE,
    }
    if _matches(request.headers.get("if-none-match"), content.etag):
        return Response(status_code=304, headers=headers)
    if offload is not None and isinstance(content.stored, LocalFile):
        location = offload.location(content.stored.path)
        if location is not None:
            headers["X-Accel-Redirect"] = location
            return Response(status_code=200, headers=headers, media_type=content.content_type)
    ranges: list[tuple[int, int]] = []
    if (range_header := request.headers.get("range")) is not None:
        ranges = byte_ranges(range_header, content.stored.size_bytes)  # a bad one: problem
    return _body(content, headers, ranges)


def _body(
    content: ImageContent, headers: dict[str, str], ranges: list[tuple[int, int]]
) -> Response:
    media_type = content.content_type
    match content.stored:
        case LocalFile(path=path, stat=stat_result):
            return ImageFileResponse(
                path, stat_result=stat_result, media_type=media_type, headers=headers
            )
        case RemoteObject() as stored:
            url = stored.source.redirect_url(stored.key, private=content.private)
            if url is not None:
                return Response(
                    status_code=307, headers={"Location": url, "Cache-Control": REDIRECT_CACHE}
                )
            return ObjectResponse(stored, ranges, media_type=media_type, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def byte_ranges(header: str, size: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` ranges of a ``Range`` header for content of ``size`` bytes, as
    Starlette's ``FileResponse`` reads them (an empty list: too many, send it all).

    ``InvalidRange`` (400) when the header is malformed, ``RangeNotSatisfiableError`` (416)
    when a range starts past the end. Parts that are not ranges are skipped, a suffix
    range (``-500``) counts from the end, an end past the content stops at its end, and
    overlapping ranges are sent as one.
    tests/web/test_content.py checks, for any header, that the file response never
    answers otherwise than this function decided.
    """
    units, equals, spec = header.partition("=")
    if not equals:
        raise InvalidRange("Malformed range header.")
    if units.strip().lower() != "bytes":
        raise InvalidRange("Only bytes ranges are supported.")
    if spec.count(",") + 1 > MAX_RANGES:
        return []
    ranges = [parsed for part in spec.split(",") if (parsed := _one_range(part, size))]
    if not ranges:
        raise InvalidRange("The Range header names no range.")
    if any(not 0 <= start < size for start, _ in ranges):
        raise RangeNotSatisfiableError(size)
    if any(start >= end for start, end in ranges):
        raise InvalidRange("A range must start before it ends.")
    return _merged(ranges)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping ranges as one, in order (one range stays as it was asked)."""
    if len(ranges) == 1:
        return ranges
    merged = [min(ranges)]
    for start, end in sorted(ranges)[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def _one_range(part: str, size: int) -> tuple[int, int] | None:
    first, dash, last = part.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first or last):
        return None
    try:
        if not first:  # the last N bytes
            return max(size - int(last), 0), size
        start = int(first)
        return start, int(last) + 1 if last and int(last) < size else size
    except ValueError:
        return None
