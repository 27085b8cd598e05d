"""The list cursor: an opaque token that names the image a page starts after.

A cursor is the guid of the last image of the previous page, versioned and base64url
encoded, so callers treat it as opaque and the encoding can change with its prefix. A
cursor that does not decode, is not spelled exactly as it was made, or names an image the
caller may not see (or one that no longer exists), is refused rather than answered with
an empty page.
"""

from __future__ import annotations

import base64
import binascii
from uuid import UUID

from pixyproxy.core.errors import InvalidRequest

_PREFIX = "v1:"


class InvalidCursor(InvalidRequest):
    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__("The cursor is not valid; start again from the first page.")


def encode_cursor(guid: UUID | str) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{guid}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> UUID:
    """The guid of a cursor ``encode_cursor`` made; any other spelling is ``InvalidCursor``.

    Only the exact text counts: base64 decoding skips characters outside its alphabet and
    takes padding or not, and ``UUID()`` takes several spellings of one guid, so without the
    check one page would have countless cursors (and the page cache an entry for each)."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not text.startswith(_PREFIX):
            raise ValueError(text)
        guid = UUID(text.removeprefix(_PREFIX))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor() from None
    if encode_cursor(guid) != cursor:
        raise InvalidCursor()
    return guid
