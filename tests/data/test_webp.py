"""WebP thumbnails made with Pillow: the width asked for, the aspect ratio kept, the same
bytes every time, whatever kind of PNG the original is."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pixyproxy.core.models import ThumbnailWidth
from pixyproxy.data.webp import MAX_WEBP_SIDE, UnusableOriginal, webp_thumbnail


def png_of(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "WEBP"
    return picture


@settings(max_examples=30, deadline=None)
@given(
    width=st.integers(1, 700),
    height=st.integers(1, 700),
    mode=st.sampled_from(["RGB", "RGBA", "L", "LA", "P", "1", "I;16"]),
    thumbnail=st.sampled_from(list(ThumbnailWidth)),
)
def test_any_png_becomes_a_webp_of_the_width_keeping_its_aspect_ratio(
    width: int, height: int, mode: str, thumbnail: ThumbnailWidth
) -> None:
    original = png_of(Image.new(mode, (width, height)))
    expected_height = max(1, round(height * thumbnail.value / width))
    if expected_height > MAX_WEBP_SIDE:
        with pytest.raises(UnusableOriginal, match="too tall"):
            webp_thumbnail(original, thumbnail.value)
        return
    made = webp_thumbnail(original, thumbnail.value)
    assert opened(made).size == (thumbnail.value, expected_height)
    assert webp_thumbnail(original, thumbnail.value) == made, "the same bytes every time"


def test_transparency_is_kept_and_colours_survive() -> None:
    picture = Image.new("RGBA", (600, 300), (200, 30, 40, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 300, 300))  # the left half transparent
    made = opened(webp_thumbnail(png_of(picture), 128)).convert("RGBA")
    assert made.getpixel((10, 32))[3] == 0
    red, green, blue, alpha = made.getpixel((118, 32))  # type: ignore[misc]
    assert alpha == 255 and red > 150 and green < 80 and blue < 80


@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a not a png", png_of(Image.new("RGB", (8, 8)))[:-20]],
)
def test_what_is_not_a_whole_png_is_unusable(data: bytes) -> None:
    with pytest.raises(UnusableOriginal):
        webp_thumbnail(data, 256)


def test_a_jpeg_is_not_decoded() -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 64)).save(out, "JPEG")
    with pytest.raises(UnusableOriginal):
        webp_thumbnail(out.getvalue(), 128)
