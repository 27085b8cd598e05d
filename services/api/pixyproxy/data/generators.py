"""Image generators: OpenAI (or any compatible server) through the async SDK, and a local
placeholder that needs no key.

Each answer is checked to be a complete PNG of sane size before it leaves this module, and
every upstream failure becomes the ``PixyProxyException`` the contract maps it to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Protocol

import anyio
import httpx2
import openai
from PIL import Image, ImageDraw, ImageFont, ImageOps

from pixyproxy.core import metrics
from pixyproxy.core.errors import PromptRejected, UpstreamBusy, UpstreamFailed
from pixyproxy.core.models import GeneratedImage
from pixyproxy.core.settings import Settings
from pixyproxy.data.http_limits import (
    UpstreamResponseRefused,
    bounded_http_client,
    max_answer_bytes,
)
from pixyproxy.data.png import InvalidPng, png_dimensions

_POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked"})
_DEFAULT_RETRY_AFTER_S = 10


class ImageGenerator(Protocol):
    name: str
    model: str

    async def generate(self, prompt: str, width: int, height: int) -> GeneratedImage: ...

    async def aclose(self) -> None: ...


class OpenAIGenerator:
    name = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str,
        max_bytes: int,
        deadline_s: float | None = None,
    ) -> None:
        self._client = client
        self.model = model
        self._max_bytes = max_bytes
        # The SDK's timeout bounds each read and each attempt; this bounds the whole call,
        # retries and slowly trickling answers included.
        self._deadline_s = deadline_s

    async def generate(self, prompt: str, width: int, height: int) -> GeneratedImage:
        # DALL-E models answer URLs unless told otherwise; gpt-image models always send base64.
        dall_e = self.model.startswith("dall-e")
        with _upstream_errors(), _timed(self.name), anyio.fail_after(self._deadline_s):
            response = await self._client.images.generate(
                model=self.model,
                prompt=prompt,
                size=f"{width}x{height}",
                n=1,
                response_format="b64_json" if dall_e else openai.omit,
                output_format=openai.omit if dall_e else "png",
            )
        encoded = response.data[0].b64_json if response.data else None
        # Decoding and checking a megabyte is milliseconds of CPU: not on the event loop.
        return await anyio.to_thread.run_sync(self._image, encoded)

    def _image(self, encoded: str | None) -> GeneratedImage:
        png = self._decode(encoded)
        try:
            got = png_dimensions(png, max_bytes=self._max_bytes)
        except InvalidPng as exc:
            raise _bad_response(f"the image service answered an unusable image: {exc}") from exc
        return GeneratedImage(png=png, width=got[0], height=got[1], model=self.model)

    def _decode(self, encoded: str | None) -> bytes:
        if not encoded:
            raise _bad_response("the image service answered without an image")
        if len(encoded) > self._max_bytes * 4 // 3 + 4:
            raise _bad_response("the image service answered an image that is too large")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad_response("the image service answered invalid base64") from exc

    async def aclose(self) -> None:
        await self._client.close()


class PlaceholderGenerator:
    """Draws a PNG from the prompt locally: a gradient, a few shapes and the prompt text."""

    name = "placeholder"
    model = "placeholder"

    async def generate(self, prompt: str, width: int, height: int) -> GeneratedImage:
        with _timed(self.name):
            png = await anyio.to_thread.run_sync(draw_placeholder, prompt, width, height)
        return GeneratedImage(png=png, width=width, height=height, model=self.model)

    async def aclose(self) -> None:
        return None


def draw_placeholder(prompt: str, width: int, height: int) -> bytes:
    seed = hashlib.sha256(prompt.encode()).digest()
    start, end = tuple(seed[0:3]), tuple(seed[3:6])
    gradient = Image.radial_gradient("L").resize((width, height))
    image = ImageOps.colorize(gradient, black=start, white=end).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(4):
        x, y = seed[7 + i] * width // 256, seed[11 + i] * height // 256
        radius = (seed[15 + i] % 64 + 32) * min(width, height) // 512
        colour = tuple(seed[19 + i : 22 + i])
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=colour, width=6)
    font = ImageFont.load_default(size=max(16, width // 28))
    text = "\n".join(textwrap.wrap(prompt[:300], width=30)[:8])
    draw.multiline_text(
        (width // 2, height // 2),
        text,
        fill="white",
        font=font,
        anchor="mm",
        align="center",
        stroke_width=3,
        stroke_fill="black",
    )
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def build_generator(settings: Settings) -> ImageGenerator:
    if not settings.use_openai:
        return PlaceholderGenerator()
    key = settings.openai_api_key
    client = openai.AsyncOpenAI(
        api_key=key.get_secret_value() if key else None,
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
        http_client=bounded_http_client(
            max_body_bytes=max_answer_bytes(settings.max_image_bytes),
            timeout_s=settings.openai_timeout_s,
        ),
    )
    return OpenAIGenerator(
        client,
        model=settings.openai_model,
        max_bytes=settings.max_image_bytes,
        deadline_s=settings.openai_timeout_s,
    )


@contextmanager
def _timed(provider: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        metrics.UPSTREAM_LATENCY.labels(provider).observe(time.perf_counter() - start)


@contextmanager
def _upstream_errors() -> Iterator[None]:
    """Translate SDK errors into the contract's statuses, counting each by kind."""
    try:
        yield
    except openai.BadRequestError as exc:
        if exc.code in _POLICY_CODES:
            metrics.UPSTREAM_ERRORS.labels("rejected").inc()
            raise PromptRejected("The image service refused this prompt.") from exc
        raise _failed("bad_request", "the image service refused the request") from exc
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise _failed("auth", "the image service refused our credentials") from exc
    except openai.RateLimitError as exc:
        metrics.UPSTREAM_ERRORS.labels("rate_limited").inc()
        raise UpstreamBusy(
            "The image service is rate limiting; try again later.",
            retry_after_s=_retry_after(exc.response.headers),
        ) from exc
    except openai.APIStatusError as exc:
        if exc.status_code in (503, 529):
            metrics.UPSTREAM_ERRORS.labels("overloaded").inc()
            raise UpstreamBusy(
                "The image service is overloaded; try again later.",
                retry_after_s=_retry_after(exc.response.headers),
            ) from exc
        raise _failed("server_error", f"the image service failed ({exc.status_code})") from exc
    except openai.APITimeoutError as exc:
        failed = _failed("timeout", "the image service did not answer in time", _sent(exc))
        raise failed from exc
    except openai.APIConnectionError as exc:
        failed = _failed("connection", "the image service could not be reached", _sent(exc))
        raise failed from exc
    except UpstreamResponseRefused as exc:
        raise _bad_response(str(exc)) from exc
    except TimeoutError as exc:  # the deadline of the whole call
        raise _failed("timeout", "the image service did not answer in time") from exc
    except openai.OpenAIError as exc:
        raise _bad_response("the image service answered something unusable") from exc


def _failed(kind: str, message: str, reached_upstream: bool = True) -> UpstreamFailed:
    metrics.UPSTREAM_ERRORS.labels(kind).inc()
    message = message[0].upper() + message[1:] + "."
    return UpstreamFailed(message, kind=kind, reached_upstream=reached_upstream)


def _sent(exc: openai.APIConnectionError) -> bool:
    """Whether the request reached the upstream: not when the SDK's last try could not even
    connect (the SDK raises from httpx's error)."""
    return not isinstance(exc.__cause__, httpx2.ConnectError | httpx2.ConnectTimeout)


def _bad_response(message: str) -> UpstreamFailed:
    return _failed("bad_response", message)


def _retry_after(headers: object) -> int:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    get = getattr(headers, "get", None)
    if get is None:
        return _DEFAULT_RETRY_AFTER_S
    seconds: float | None = None
    if (millis := get("retry-after-ms")) is not None:
        seconds = _number(millis, scale=0.001)
    elif (value := get("retry-after")) is not None:
        seconds = _number(value)
        if seconds is None:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                seconds = None
    if seconds is None:
        return _DEFAULT_RETRY_AFTER_S
    return max(1, min(3600, round(seconds + 0.499)))


def _number(text: str, scale: float = 1.0) -> float | None:
    try:
        return float(text) * scale
    except ValueError:
        return None
