"""WebP thumbnails of stored PNGs, made with Pillow.

A thumbnail is a function of the original's bytes and the width alone: the same Pillow
and libwebp make the same bytes every time (tests/data/test_webp.py checks it), so two
workers that make one thumbnail at once store identical files, and an ETag made of the
original's hash and the width names exactly those bytes.

Decoding is the costly part in time and memory (a 1536x1024 RGBA original is 6 MB of
pixels); callers bound how many run at once (``service/thumbnails.py``).
"""

from __future__ import annotations

import io

from PIL import Image

from pixyproxy.data.png import InvalidPng, png_dimensions

# libwebp's quality (0-100) and method (0 fast ... 6 small; 4 is its default). At 256 px
# a 1 MB PNG becomes about 7 KB.
QUALITY = 80
METHOD = 4
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
    # reducing_gap: shrink by a whole factor first (a box filter, fast), then resample the
    # rest with Lanczos. At 2, 1024 -> 256 px took 7.8 ms instead of 17.5 ms here, and its
    # pixels differ from Lanczos all the way by 1.4 of 255 on average in noise, 0.1 in a
    # placeholder picture.
    small = pixels.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    out = io.BytesIO()
    small.save(out, "WEBP", quality=QUALITY, method=METHOD)
    return out.getvalue()
