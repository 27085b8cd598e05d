"""Checks that bytes are a complete, sane PNG before anything is stored.

Walks the chunks and verifies every CRC, so truncated or corrupted answers are caught
without decoding the pixels.
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_DIMENSION = 8192


class InvalidPng(ValueError):
    pass


def png_dimensions(data: bytes, *, max_bytes: int) -> tuple[int, int]:
    """(width, height) of a valid PNG; raises ``InvalidPng`` otherwise."""
    if len(data) > max_bytes:
        raise InvalidPng(f"image is {len(data)} bytes, more than the {max_bytes} allowed")
    if not data.startswith(PNG_SIGNATURE):
        raise InvalidPng("not a PNG (bad signature)")
    view = memoryview(data)
    offset = len(PNG_SIGNATURE)
    size: tuple[int, int] | None = None
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, offset)
        kind = bytes(view[offset + 4 : offset + 8])
        end = offset + 12 + length
        if end > len(data):
            raise InvalidPng("truncated chunk")
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(view[offset + 4 : end - 4]) != crc:
            raise InvalidPng(f"bad CRC in {kind!r} chunk")
        if size is None:
            size = _header(kind, view[offset + 8 : end - 4])
        if kind == b"IEND":
            return size
        offset = end
    raise InvalidPng("no IEND chunk")


def _header(kind: bytes, body: memoryview) -> tuple[int, int]:
    if kind != b"IHDR" or len(body) != 13:
        raise InvalidPng("first chunk is not IHDR")
    width, height = struct.unpack_from(">II", body)
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise InvalidPng(f"implausible size {width}x{height}")
    return width, height
