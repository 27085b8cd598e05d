"""The FastAPI app: ``POST /v1/images/generations`` plus the ``/_mock`` control API."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from openai_mock import behaviors
from openai_mock.behaviors import BEHAVIORS, Selection
from openai_mock.config import MockConfig, MockState, check_behavior, check_delay
from openai_mock.errors import OpenAIError, invalid_request
from openai_mock.png import GARBAGE_B64, NOT_PNG_BYTES, OversizedB64, colour_index

# size label -> (width, height); "auto" (and no size at all) means 1024x1024.
SIZES: dict[str, tuple[int, int]] = {
    "1024x1024": (1024, 1024),
    "1536x1024": (1536, 1024),
    "1024x1536": (1024, 1536),
    "512x512": (512, 512),
    "256x256": (256, 256),
}
# Output tokens of a medium-quality image, roughly what the real API reports.
_OUTPUT_TOKENS = {"1024x1024": 1056, "1536x1024": 1584, "1024x1536": 1584}
_QUALITIES = frozenset({"low", "medium", "high"})
MAX_PROMPT_CHARS = 32000
MAX_N = 10
DEFAULT_MODEL = "gpt-image-1"
_POLL_S = 0.25  # how often a sleeping request checks whether its client is still there

router = APIRouter()


def _state(request: Request) -> MockState:
    return cast(MockState, request.app.state.mock)


def _json(
    payload: object, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")).encode("utf-8"),
        status_code=status_code,
        media_type="application/json",
        headers=dict(headers or {}),
    )


async def _sleep_while_connected(request: Request, seconds: float) -> bool:
    """Sleep without blocking the loop; False as soon as the client has gone away."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return True
        await asyncio.sleep(min(left, _POLL_S))
        if await request.is_disconnected():
            return False


# --- request parsing and validation --------------------------------------------------------


async def _read_body(request: Request) -> tuple[dict[str, Any] | None, OpenAIError | None]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None, invalid_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)"
        )
    if not isinstance(body, dict):
        return None, invalid_request(
            "The request body must be a JSON object.", code="invalid_request_body"
        )
    return body, None


def _check_auth(request: Request) -> None:
    header = request.headers.get("authorization")
    if header is None:
        raise behaviors.unauthorized(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code=None,
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise behaviors.unauthorized(
            "Invalid Authorization header: expected 'Bearer <API key>'.", code="invalid_api_key"
        )


class _Params:
    """The validated fields of an image generation request."""

    def __init__(self, body: dict[str, Any]) -> None:
        prompt = body.get("prompt")
        if prompt is None:
            raise invalid_request(
                "Missing required parameter: 'prompt'.",
                param="prompt",
                code="missing_required_parameter",
            )
        if not isinstance(prompt, str):
            raise invalid_request(
                f"Invalid type for 'prompt': expected a string, but got {type(prompt).__name__}.",
                param="prompt",
                code="invalid_type",
            )
        if not prompt.strip():
            raise invalid_request(
                "Invalid 'prompt': empty string. Expected a string with minimum length 1, "
                "but got an empty string instead.",
                param="prompt",
                code="empty_string",
            )
        if len(prompt) > MAX_PROMPT_CHARS:
            raise invalid_request(
                f"Invalid 'prompt': string too long. Expected a string with maximum length "
                f"{MAX_PROMPT_CHARS}, but got a string with length {len(prompt)} instead.",
                param="prompt",
                code="string_above_max_length",
            )
        self.prompt = prompt

        size = body.get("size")
        if size is None or size == "auto":
            size = "1024x1024"
        if not isinstance(size, str) or size not in SIZES:
            raise invalid_request(
                f"Invalid value: {size!r}. Supported values are: 'auto', "
                + ", ".join(f"'{s}'" for s in SIZES)
                + ".",
                param="size",
                code="invalid_value",
            )
        self.size = size
        self.width, self.height = SIZES[size]

        n = body.get("n")
        if n is None:
            n = 1
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
            raise invalid_request(
                f"Invalid 'n': expected an integer from 1 to {MAX_N}, got {n!r}.",
                param="n",
                code="invalid_value",
            )
        self.n = n

        output_format = body.get("output_format")
        if output_format not in (None, "png"):
            raise invalid_request(
                f"Invalid 'output_format': {output_format!r}. This server produces only 'png'.",
                param="output_format",
                code="unsupported_value",
            )
        response_format = body.get("response_format")
        if response_format not in (None, "b64_json"):
            raise invalid_request(
                f"Invalid 'response_format': {response_format!r}. This server returns only "
                "'b64_json'.",
                param="response_format",
                code="unsupported_value",
            )
        if body.get("stream"):
            raise invalid_request(
                "Streaming is not supported by this server.",
                param="stream",
                code="unsupported_value",
            )

        quality = body.get("quality")
        self.quality = quality if isinstance(quality, str) and quality in _QUALITIES else "medium"
        model = body.get("model")
        self.model = model if isinstance(model, str) and model else DEFAULT_MODEL


def _success_body(params: _Params, data: list[dict[str, Any]]) -> dict[str, Any]:
    text_tokens = max(1, len(params.prompt) // 4)
    output_tokens = _OUTPUT_TOKENS.get(params.size, 272) * max(1, len(data))
    return {
        "created": int(time.time()),
        "data": data,
        "background": "opaque",
        "output_format": "png",
        "quality": params.quality,
        "size": params.size,
        "usage": {
            "input_tokens": text_tokens,
            "output_tokens": output_tokens,
            "total_tokens": text_tokens + output_tokens,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": text_tokens},
        },
    }


def _images(b64: str, n: int) -> list[dict[str, Any]]:
    return [{"b64_json": b64, "revised_prompt": None} for _ in range(n)]


async def _generated(request: Request, params: _Params) -> str:
    cache = _state(request).images
    index = colour_index(behaviors.strip_directives(params.prompt))
    cached = cache.get(params.width, params.height, index)
    if cached is not None:
        return cached
    return await run_in_threadpool(cache.get_or_render, params.width, params.height, index)


def _oversized(params: _Params, size_mb: float, headers: Mapping[str, str]) -> StreamingResponse:
    payload = OversizedB64(int(size_mb * 1024 * 1024))
    marker = "\x00B64\x00"
    text = json.dumps(_success_body(params, _images(marker, 1)), separators=(",", ":"))
    prefix, suffix = (part.encode("utf-8") for part in text.split(json.dumps(marker)[1:-1], 1))
    length = len(prefix) + len(payload) + len(suffix)

    async def stream() -> AsyncIterator[bytes]:
        yield prefix
        for chunk in payload.chunks():
            yield chunk
        yield suffix

    return StreamingResponse(
        stream(),
        media_type="application/json",
        headers={**headers, "content-length": str(length)},
    )


# --- routes ----------------------------------------------------------------------------------


@router.post("/v1/images/generations")
async def generate(request: Request) -> Response:
    state = _state(request)
    state.generations += 1
    started = time.monotonic()
    headers = {"x-request-id": f"req_{secrets.token_hex(16)}", "openai-version": "2020-10-01"}
    try:
        body, body_error = await _read_body(request)
        config = state.current
        chosen = behaviors.resolve(
            behaviors.from_headers(request.headers),
            behaviors.from_prompt(body.get("prompt") if body else None),
            Selection(
                behavior=config.behavior, delay_s=config.delay_s, size_mb=config.oversized_mb
            ),
        )
        behavior = chosen.behavior or "ok"
        state.by_behavior[behavior] += 1

        if chosen.delay_s and not await _sleep_while_connected(request, chosen.delay_s):
            return Response(status_code=499)
        _check_auth(request)
        if body_error is not None:
            raise body_error
        params = _Params(body or {})

        if behavior == "hang":
            if not await _sleep_while_connected(request, config.hang_s):
                return Response(status_code=499)
            behavior = "ok"

        if behavior == "content_policy":
            raise behaviors.content_policy()
        if behavior == "unauthorized":
            raise behaviors.unauthorized()
        if behavior == "rate_limit":
            raise behaviors.rate_limit(params.model)
        if behavior == "overloaded":
            raise behaviors.overloaded()
        if behavior == "server_error":
            raise behaviors.server_error()
        if behavior == "oversized":
            return _oversized(params, chosen.size_mb or config.oversized_mb, headers)

        if behavior == "garbage":
            data = _images(GARBAGE_B64, params.n)
        elif behavior == "not_png":
            data = _images(base64.b64encode(NOT_PNG_BYTES).decode("ascii"), params.n)
        elif behavior == "empty":
            data = []
        else:
            data = _images(await _generated(request, params), params.n)
        headers["openai-processing-ms"] = str(int((time.monotonic() - started) * 1000))
        return _json(_success_body(params, data), headers=headers)
    except OpenAIError as error:
        return error.response(headers)


def _config_view(state: MockState) -> dict[str, Any]:
    return {
        "behavior": state.current.behavior,
        "delay_s": state.current.delay_s,
        "startup": {"behavior": state.startup.behavior, "delay_s": state.startup.delay_s},
        "behaviors": list(BEHAVIORS),
    }


@router.get("/_mock/config")
async def get_config(request: Request) -> Response:
    return _json(_config_view(_state(request)))


@router.put("/_mock/config")
async def put_config(request: Request) -> Response:
    state = _state(request)
    body, error = await _read_body(request)
    if error is not None:
        raise error
    assert body is not None
    unknown = sorted(set(body) - {"behavior", "delay_s"})
    if unknown:
        raise invalid_request(f"Unknown config field(s): {', '.join(unknown)}.", param=unknown[0])
    behavior, delay = body.get("behavior"), body.get("delay_s")
    try:
        if behavior is not None:
            if not isinstance(behavior, str):
                raise ValueError("behavior must be a string")
            behavior = check_behavior(behavior)
        if delay is not None:
            if isinstance(delay, bool) or not isinstance(delay, int | float):
                raise ValueError("delay_s must be a number of seconds")
            delay = check_delay(float(delay))
    except ValueError as exc:
        raise invalid_request(str(exc), code="invalid_mock_config") from exc
    state.current = state.current.with_runtime(behavior, delay)
    return _json(_config_view(state))


@router.get("/_mock/stats")
async def get_stats(request: Request) -> Response:
    return _json(_state(request).stats())


@router.post("/_mock/reset")
async def reset(request: Request) -> Response:
    state = _state(request)
    state.reset()
    return _json({**_config_view(state), **state.stats()})


@router.get("/healthz")
async def healthz() -> Response:
    return _json({"status": "ok"})


# --- error rendering -------------------------------------------------------------------------


async def _on_openai_error(request: Request, exc: Exception) -> Response:
    return cast(OpenAIError, exc).response()


async def _on_http_error(request: Request, exc: Exception) -> Response:
    error = cast(StarletteHTTPException, exc)
    if error.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"
    else:
        message = str(error.detail)
    return OpenAIError(error.status_code, message, headers=error.headers).response()


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    errors = cast(RequestValidationError, exc).errors()
    message = "; ".join(str(e.get("msg", "invalid")) for e in errors) or "Invalid request."
    return invalid_request(message).response()


async def _on_crash(request: Request, exc: Exception) -> Response:
    return JSONResponse(behaviors.server_error().body(), status_code=500)


def create_app(config: MockConfig | None = None) -> FastAPI:
    """Build a mock app; all its state (config, stats, PNG cache) lives on ``app.state``."""
    app = FastAPI(
        title="openai-mock",
        summary="An OpenAI-compatible fake of the Images API with selectable failures",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.mock = MockState.from_config(config or MockConfig())
    app.add_exception_handler(OpenAIError, _on_openai_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_crash)
    app.include_router(router)
    return app
