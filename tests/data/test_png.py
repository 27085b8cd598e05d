"""PNG checks on real PNGs made by Pillow, and on damaged ones."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pixyproxy.data.png import InvalidPng, png_dimensions


def png(width: int = 64, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(out, format="PNG")
    return out.getvalue()


def test_valid_png_gives_its_dimensions() -> None:
    assert png_dimensions(png(64, 32), max_bytes=10**6) == (64, 32)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + b"\0" * 100, "signature"),
        (png()[:-20], "truncated|IEND"),
        (png()[:40] + bytes([png()[40] ^ 0xFF]) + png()[41:], "CRC"),
        (png()[:8], "IEND"),
    ],
)
def test_damaged_png_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidPng, match=message):
        png_dimensions(data, max_bytes=10**6)


def test_oversized_png_is_refused() -> None:
    data = png()
    with pytest.raises(InvalidPng, match="more than"):
        png_dimensions(data, max_bytes=len(data) - 1)
