"""PNGs made by hand (no imaging library): what fakes answer and benches seed."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def rgb_png(width: int, rows: Sequence[bytes], *, level: int = 6) -> bytes:
    """An 8-bit RGB PNG of ``rows`` (each ``width`` * 3 bytes of pixels)."""
    header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + row for row in rows), level)
    return SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def tiny_png() -> bytes:
    """A valid 1x1 red PNG."""
    return rgb_png(1, [b"\xff\x00\x00"])
