"""WebP thumbnails of stored PNGs, made with Pillow.

A thumbnail is a function of the original's bytes and the width alone: the same Pillow
and libwebp make the same bytes every time (tests/data/test_webp.py checks it), so two
workers that make one thumbnail at once store identical files, and an ETag made of the
original's hash and the width names exactly those bytes.

Decoding is the costly part, in time (28 ms of the 32 ms a placeholder picture takes) and
in memory (a 1536x1024 RGBA original is 6 MB of pixels); callers bound how many run at
once (``service/thumbnails.py``).
"""

from __future__ import annotations

import io

# WebPImagePlugin for its encoder: saving to a format no imported plugin registered imports
# every plugin Pillow has, 40 ms in the request that makes a worker's first thumbnail.
from PIL import Image, WebPImagePlugin  # noqa: F401

from pixyproxy.data.png import InvalidPng, png_dimensions

# libwebp's quality (0-100) and method (0 fast ... 6 small). Method 2 encoded a 256 px
# thumbnail in 1.5-2.8 ms against 5-10 ms for libwebp's default 4, within 2 % of its size
# (a 1 MB noise PNG: 6.7 KB; a 1536x1024 placeholder picture: 2.4 KB).
QUALITY = 80
METHOD = 2
MAX_WEBP_SIDE = 16383  # the format's own limit


class UnusableOriginal(ValueError):
    """The stored original cannot be made into a thumbnail."""


def webp_thumbnail(png: bytes, width: int) -> bytes:
    """A WebP ``width`` pixels wide of the image in ``png``, as high as keeps its aspect
    ratio (at least 1 pixel)."""
    try:  # whole, every CRC right, of a sane size: checked before any pixel is decoded
        original_width, original_height = png_dimensions(png, max_bytes=len(png))
    except InvalidPng as exc:
        raise UnusableOriginal(str(exc)) from exc
    height = max(1, round(original_height * width / original_width))
    if height > MAX_WEBP_SIDE:
        raise UnusableOriginal(f"{original_width}x{original_height} is too tall for WebP")
    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as original:
            original.load()
    except (OSError, Image.DecompressionBombError) as exc:
        raise UnusableOriginal(str(exc)) from exc
    mode = "RGBA" if original.has_transparency_data else "RGB"
    pixels = original if original.mode == mode else original.convert(mode)
    # reducing_gap=1: shrink by the largest whole factor first (a box filter), then
    # resample what is left with Lanczos; the API's sizes divide by its widths, so nothing
    # is left. 1024 -> 256 px took 0.8 ms instead of 17.5 ms with Lanczos all the way, whose
    # pixels it differs from by 2.5 of 255 on average in noise, 0.6 in a placeholder picture.
    small = pixels.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=1.0)
    out = io.BytesIO()
    small.save(out, "WEBP", quality=QUALITY, method=METHOD)
    return out.getvalue()
