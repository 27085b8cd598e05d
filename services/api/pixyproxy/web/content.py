"""Serving an image's bytes, whichever store holds them: the validators (a strong ETag from
the content hash), conditional requests (``If-None-Match`` gives 304), ranges (206; a bad
range is problem JSON, 400 or 416) and caching (public images are immutable, private ones
are never stored by caches).

A store plugs in through the kind of content its ``open`` gives (``data/store.py``):
``_body`` turns each kind into a response. A local file goes to Starlette's
``FileResponse``, which sends the ranges this module has checked.

With ``PIXY_CONTENT_OFFLOAD=x-accel`` an nginx in front sends local files instead
(``XAccelRedirect``): once the caller may see the image and has not got it already (304),
the answer is empty, names the file under the prefix in ``X-Accel-Redirect`` and carries
our Content-Type, ETag and Cache-Control; nginx serves the file from its internal location
with sendfile, ranges included (it checks them: no range logic travels with the redirect).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import FileResponse

from pixyproxy.core.errors import InvalidRange, RangeNotSatisfiableError
from pixyproxy.data.store import LocalFile, StoredContent
from pixyproxy.service.reading import ImageContent

PUBLIC_CACHE = "public, max-age=31536000, immutable"
PRIVATE_CACHE = "private, no-store"
# More ranges than this in one request are answered with the whole content.
MAX_RANGES = FileResponse.max_ranges


class ImageFileResponse(FileResponse):
    # Each chunk is a threadpool hop: a 1 MB PNG in 4 reads rather than 16.
    chunk_size = 256 * 1024


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
    if (range_header := request.headers.get("range")) is not None:
        byte_ranges(range_header, content.stored.size_bytes)  # a bad one: problem JSON
    return _body(content.stored, content.content_type, headers)


def _body(stored: StoredContent, media_type: str, headers: dict[str, str]) -> Response:
    match stored:
        case LocalFile(path=path, stat=stat):
            return ImageFileResponse(path, stat_result=stat, media_type=media_type, headers=headers)


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
