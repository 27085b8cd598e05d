"""Cheap, real PNGs and the deliberately broken payloads.

A generated image is a flat colour picked from a small palette by the prompt's hash, with a
contrasting square in the middle, so the number of distinct images is tiny and every one is
encoded once and then served from an LRU cache (base64 already applied).
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator

from PIL import Image, ImageDraw

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Sixteen easily told apart colours (RGB).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (220, 190, 255),
    (170, 110, 40),
    (255, 250, 200),
    (128, 0, 0),
    (0, 0, 128),
)


def colour_index(prompt: str) -> int:
    """A stable palette index for a prompt (case and surrounding blanks ignored)."""
    digest = hashlib.sha256(prompt.strip().lower().encode("utf-8")).digest()
    return digest[0] % len(PALETTE)


def render_png(width: int, height: int, index: int) -> bytes:
    """Encode a ``width`` x ``height`` RGB PNG in palette colour ``index``."""
    colour = PALETTE[index % len(PALETTE)]
    inverse = (255 - colour[0], 255 - colour[1], 255 - colour[2])
    image = Image.new("RGB", (width, height), colour)
    side = min(width, height) // 3
    left, top = (width - side) // 2, (height - side) // 2
    ImageDraw.Draw(image).rectangle((left, top, left + side - 1, top + side - 1), fill=inverse)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


class PngCache:
    """A small thread-safe LRU of base64-encoded PNGs keyed by (width, height, colour)."""

    def __init__(self, maxsize: int = 128) -> None:
        self._maxsize = maxsize
        self._items: OrderedDict[tuple[int, int, int], str] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, width: int, height: int, index: int) -> str | None:
        key = (width, height, index)
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def get_or_render(self, width: int, height: int, index: int) -> str:
        """The cached base64 PNG, rendering it on a miss (CPU work: call off the event loop)."""
        cached = self.get(width, height, index)
        if cached is not None:
            return cached
        encoded = base64.b64encode(render_png(width, height, index)).decode("ascii")
        with self._lock:
            self._items[(width, height, index)] = encoded
            self._items.move_to_end((width, height, index))
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)
        return encoded


# --- broken payloads -----------------------------------------------------------------------

# Not base64 under strict or lenient decoding: the 9 alphabet characters it contains leave
# one character over a multiple of four, which no base64 decoder accepts.
GARBAGE_B64 = "!!not*base64@@"

NOT_PNG_BYTES = b"GIF89a" + b"\x00" * 10 + b"this is not a PNG image" * 8


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def oversized_header(width: int = 1024, height: int = 1024) -> bytes:
    """PNG signature + a correct IHDR: a payload that looks like a PNG at first glance."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr)


class OversizedB64:
    """The base64 text of ``size_bytes`` bytes: a PNG header followed by zero padding.

    Streamed in chunks: the zero bytes encode to runs of ``A`` so nothing of the full size
    is ever built in memory and no per-byte Python loop runs.
    """

    CHUNK = 1 << 20

    def __init__(self, size_bytes: int) -> None:
        header = oversized_header()
        padded_header = header + b"\x00" * (-len(header) % 3)  # no "=" inside the text
        size_bytes = max(size_bytes, len(padded_header))
        self._head = base64.b64encode(padded_header)
        remaining = size_bytes - len(padded_header)
        self._a_count = 4 * (remaining // 3)
        self._tail = {0: b"", 1: b"AA==", 2: b"AAA="}[remaining % 3]
        self.size_bytes = size_bytes

    def __len__(self) -> int:
        return len(self._head) + self._a_count + len(self._tail)

    def chunks(self) -> Iterator[bytes]:
        yield self._head
        block = b"A" * min(self.CHUNK, self._a_count)
        left = self._a_count
        while left > 0:
            take = min(left, len(block))
            yield block if take == len(block) else block[:take]
            left -= take
        if self._tail:
            yield self._tail
