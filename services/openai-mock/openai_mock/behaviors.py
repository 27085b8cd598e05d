"""The behaviour names (the mock's interface) and how a request picks one.

Precedence, highest first: the ``X-Mock-Behavior`` / ``X-Mock-Delay-S`` (and
``X-Mock-Size-MB``) request headers; ``[mock:<name>]`` / ``[mock-delay:<s>]`` /
``[mock-size-mb:<n>]`` directives inside the prompt; the runtime config (``PUT
/_mock/config``), which starts as the start-up default (``--behavior`` / ``--delay``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from openai_mock.errors import OpenAIError, invalid_request

BEHAVIORS: tuple[str, ...] = (
    "ok",
    "content_policy",
    "unauthorized",
    "rate_limit",
    "overloaded",
    "server_error",
    "garbage",
    "not_png",
    "empty",
    "oversized",
    "hang",
)

BEHAVIOR_HEADER = "x-mock-behavior"
DELAY_HEADER = "x-mock-delay-s"
SIZE_MB_HEADER = "x-mock-size-mb"

_BEHAVIOR_DIRECTIVE = re.compile(r"\[mock:\s*([^\]\s]*)\s*\]", re.IGNORECASE)
_DELAY_DIRECTIVE = re.compile(r"\[mock-delay:\s*([^\]\s]*)\s*\]", re.IGNORECASE)
_SIZE_DIRECTIVE = re.compile(r"\[mock-size-mb:\s*([^\]\s]*)\s*\]", re.IGNORECASE)
_ANY_DIRECTIVE = re.compile(r"\[mock(?:-delay|-size-mb)?:[^\]]*\]", re.IGNORECASE)

MAX_DELAY_S = 24 * 3600.0
MAX_SIZE_MB = 4096.0


@dataclass(frozen=True)
class Selection:
    """What one request asked for; ``None`` means "not set at this level"."""

    behavior: str | None = None
    delay_s: float | None = None
    size_mb: float | None = None


def strip_directives(prompt: str) -> str:
    """The prompt without any ``[mock...:...]`` directives."""
    return _ANY_DIRECTIVE.sub("", prompt).strip()


def _behavior(raw: str, source: str) -> str:
    name = raw.strip().lower()
    if name not in BEHAVIORS:
        raise invalid_request(
            f"Unknown mock behavior {raw!r} (from {source}). "
            f"Known behaviors: {', '.join(BEHAVIORS)}.",
            code="unknown_mock_behavior",
        )
    return name


def _number(raw: str, source: str, *, upper: float, positive: bool = False) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    low_ok = value > 0 if positive else value >= 0
    if not math.isfinite(value) or not low_ok or value > upper:
        raise invalid_request(
            f"Invalid mock number {raw!r} (from {source}): expected a number "
            f"{'above' if positive else 'from'} 0 up to {upper:g}.",
            code="invalid_mock_directive",
        )
    return value


def from_headers(headers: Mapping[str, str]) -> Selection:
    behavior = headers.get(BEHAVIOR_HEADER, "").strip()
    delay = headers.get(DELAY_HEADER, "").strip()
    size = headers.get(SIZE_MB_HEADER, "").strip()
    return Selection(
        behavior=_behavior(behavior, "X-Mock-Behavior header") if behavior else None,
        delay_s=_number(delay, "X-Mock-Delay-S header", upper=MAX_DELAY_S) if delay else None,
        size_mb=(
            _number(size, "X-Mock-Size-MB header", upper=MAX_SIZE_MB, positive=True)
            if size
            else None
        ),
    )


def from_prompt(prompt: object) -> Selection:
    if not isinstance(prompt, str) or "[" not in prompt:
        return Selection()
    behavior = _BEHAVIOR_DIRECTIVE.search(prompt)
    delay = _DELAY_DIRECTIVE.search(prompt)
    size = _SIZE_DIRECTIVE.search(prompt)
    return Selection(
        behavior=_behavior(behavior.group(1), "[mock:...] in the prompt") if behavior else None,
        delay_s=(
            _number(delay.group(1), "[mock-delay:...] in the prompt", upper=MAX_DELAY_S)
            if delay
            else None
        ),
        size_mb=(
            _number(
                size.group(1), "[mock-size-mb:...] in the prompt", upper=MAX_SIZE_MB, positive=True
            )
            if size
            else None
        ),
    )


def resolve(*levels: Selection) -> Selection:
    """Merge selections, first (highest precedence) wins per field."""
    behavior = next((s.behavior for s in levels if s.behavior is not None), None)
    delay = next((s.delay_s for s in levels if s.delay_s is not None), None)
    size = next((s.size_mb for s in levels if s.size_mb is not None), None)
    return Selection(behavior=behavior, delay_s=delay, size_mb=size)


# --- the canned failures -------------------------------------------------------------------


def content_policy() -> OpenAIError:
    return OpenAIError(
        400,
        "Your request was rejected by the safety system. If you believe this is an error, "
        "contact us at help.openai.com and include the request ID if you have one.",
        type="image_generation_user_error",
        code="moderation_blocked",
    )


def unauthorized(
    message: str | None = None, *, code: str | None = "invalid_api_key"
) -> OpenAIError:
    return OpenAIError(
        401,
        message
        or "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        type="invalid_request_error",
        code=code,
    )


def rate_limit(model: str) -> OpenAIError:
    return OpenAIError(
        429,
        f"Rate limit reached for {model} in organization org-mock on requests per min (RPM): "
        "Limit 5, Used 5, Requested 1. Please try again in 7s.",
        type="requests",
        code="rate_limit_exceeded",
        headers={
            "retry-after": "7",
            "x-ratelimit-limit-requests": "5",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "7s",
            "x-ratelimit-limit-tokens": "100000",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": "7s",
        },
    )


def overloaded() -> OpenAIError:
    return OpenAIError(
        503,
        "The engine is currently overloaded, please try again later.",
        type="server_error",
        code=None,
        headers={"retry-after": "3"},
    )


def server_error() -> OpenAIError:
    return OpenAIError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        type="server_error",
        code=None,
    )
