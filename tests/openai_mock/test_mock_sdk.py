"""The mock process driven through the real `openai` SDK: success, failures, selection."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import openai
import pytest
from PIL import Image

from openai_mock.png import PALETTE, colour_index
from tests.support.mock_server import MockServer

T = TypeVar("T")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


def client(mock: MockServer, timeout: float = 30.0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key="test", base_url=mock.base_url, max_retries=0, timeout=timeout
    )


async def generate(mock: MockServer, **kwargs: Any) -> Any:
    kwargs.setdefault("model", "gpt-image-1")
    kwargs.setdefault("prompt", "a lighthouse at dusk")
    kwargs.setdefault("n", 1)
    async with client(mock) as c:
        return await c.images.generate(**kwargs)


def decode_png(b64: str) -> Image.Image:
    raw = base64.b64decode(b64, validate=True)
    assert raw.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(raw))
    assert image.format == "PNG"
    image.load()
    return image


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("1024x1024", (1024, 1024)),
        ("1536x1024", (1536, 1024)),
        ("1024x1536", (1024, 1536)),
        ("512x512", (512, 512)),
        ("256x256", (256, 256)),
        ("auto", (1024, 1024)),
    ],
)
def test_success_is_a_png_of_the_requested_size(
    mock: MockServer, size: str, expected: tuple[int, int]
) -> None:
    result = run(lambda: generate(mock, size=size))
    assert result.data is not None
    assert len(result.data) == 1
    assert decode_png(result.data[0].b64_json).size == expected
    assert result.data[0].revised_prompt is None
    assert result.output_format == "png"
    assert result.background == "opaque"
    assert result.size == ("1024x1024" if size == "auto" else size)
    assert result.created > 1_600_000_000
    usage = result.usage
    assert usage is not None
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.image_tokens == 0
    assert usage.input_tokens_details.text_tokens == usage.input_tokens > 0


def test_sdk_options_pixyproxy_sends_are_accepted(mock: MockServer) -> None:
    as_b64 = run(lambda: generate(mock, size="1024x1024", response_format="b64_json"))
    as_png = run(lambda: generate(mock, size="1536x1024", output_format="png", quality="high"))
    assert decode_png(as_b64.data[0].b64_json).size == (1024, 1024)
    assert decode_png(as_png.data[0].b64_json).size == (1536, 1024)
    assert as_png.quality == "high"


def test_unknown_fields_are_ignored_and_n_is_honoured(mock: MockServer) -> None:
    result = run(
        lambda: generate(mock, size="256x256", n=3, extra_body={"no_such_field": {"x": 1}})
    )
    assert len(result.data) == 3
    for image in result.data:
        assert decode_png(image.b64_json).size == (256, 256)


def test_colour_is_derived_from_the_prompt(mock: MockServer) -> None:
    prompts = ["a red fox", "a blue whale", "a green frog", "a yellow cab", "a purple cow"]
    seen = set()
    for prompt in prompts:
        result = run(lambda p=prompt: generate(mock, prompt=p, size="256x256"))  # type: ignore[misc]
        image = decode_png(result.data[0].b64_json).convert("RGB")
        assert image.getpixel((0, 0)) == PALETTE[colour_index(prompt)]
        seen.add(image.getpixel((0, 0)))
    assert len(seen) > 1  # not one colour for everything
    # the same prompt gives the same picture; a directive does not change it
    again = run(lambda: generate(mock, prompt="[mock:ok] a red fox", size="256x256"))
    image = decode_png(again.data[0].b64_json).convert("RGB")
    assert image.getpixel((0, 0)) == PALETTE[colour_index("a red fox")]


def test_invalid_requests_are_openai_400s(mock: MockServer) -> None:
    with pytest.raises(openai.BadRequestError) as empty:
        run(lambda: generate(mock, prompt="   "))
    assert empty.value.param == "prompt"
    assert empty.value.type == "invalid_request_error"

    with pytest.raises(openai.BadRequestError) as size:
        run(lambda: generate(mock, size="999x999"))
    assert size.value.param == "size"
    assert size.value.code == "invalid_value"

    with pytest.raises(openai.BadRequestError) as fmt:
        run(lambda: generate(mock, output_format="jpeg"))
    assert fmt.value.param == "output_format"


def test_missing_prompt_and_bad_json(mock: MockServer) -> None:
    url = f"{mock.base_url}/images/generations"
    auth = {"Authorization": "Bearer test"}
    missing = httpx.post(url, json={"model": "gpt-image-1"}, headers=auth)
    assert missing.status_code == 400
    assert missing.json()["error"] == {
        "message": "Missing required parameter: 'prompt'.",
        "type": "invalid_request_error",
        "param": "prompt",
        "code": "missing_required_parameter",
    }
    bad = httpx.post(
        url, content=b"{not json", headers={**auth, "content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["missing", "empty", "not-bearer"],
)
def test_a_bearer_key_is_required(mock: MockServer, headers: dict[str, str]) -> None:
    response = httpx.post(
        f"{mock.base_url}/images/generations",
        json={"model": "gpt-image-1", "prompt": "a cat"},
        headers=headers,
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"


def test_unknown_routes_answer_in_openai_shape(mock: MockServer) -> None:
    response = httpx.get(f"{mock.base_url}/no/such/thing")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (GET /v1/no/such/thing)"
    wrong_method = httpx.get(f"{mock.base_url}/images/generations")
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()["error"]) == {"message", "type", "param", "code"}


def test_healthz(mock: MockServer) -> None:
    response = httpx.get(f"{mock.root_url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# --- failure behaviours, chosen with the X-Mock-Behavior header ----------------------------


def behavior(name: str, **extra: str) -> dict[str, str]:
    return {"X-Mock-Behavior": name, **extra}


def test_content_policy(mock: MockServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        run(lambda: generate(mock, extra_headers=behavior("content_policy")))
    assert caught.value.status_code == 400
    assert caught.value.code == "moderation_blocked"
    assert caught.value.type == "image_generation_user_error"
    assert "rejected by the safety system" in caught.value.message


def test_unauthorized(mock: MockServer) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        run(lambda: generate(mock, extra_headers=behavior("unauthorized")))
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


def test_rate_limit(mock: MockServer) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        run(lambda: generate(mock, extra_headers=behavior("rate_limit")))
    headers = caught.value.response.headers
    assert caught.value.status_code == 429
    assert headers["retry-after"] == "7"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-ratelimit-reset-requests" in headers
    assert caught.value.type == "requests"
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.request_id is not None


def test_overloaded(mock: MockServer) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        run(lambda: generate(mock, extra_headers=behavior("overloaded")))
    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"] == "3"


def test_server_error(mock: MockServer) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        run(lambda: generate(mock, extra_headers=behavior("server_error")))
    assert caught.value.status_code == 500
    assert caught.value.type == "server_error"


def test_garbage_is_not_base64(mock: MockServer) -> None:
    result = run(lambda: generate(mock, extra_headers=behavior("garbage")))
    b64 = result.data[0].b64_json
    assert isinstance(b64, str)
    assert b64
    with pytest.raises(ValueError, match=r"(?i)base64|padding|characters"):
        base64.b64decode(b64, validate=True)
    with pytest.raises(ValueError, match=r"(?i)base64|padding|characters"):
        base64.b64decode(b64)  # not even lenient decoding accepts it


def test_not_png(mock: MockServer) -> None:
    result = run(lambda: generate(mock, extra_headers=behavior("not_png")))
    raw = base64.b64decode(result.data[0].b64_json, validate=True)
    assert raw
    assert not raw.startswith(PNG_SIGNATURE)
    with pytest.raises(Exception):  # noqa: B017, PT011 - Pillow raises UnidentifiedImageError/OSError
        Image.open(io.BytesIO(raw)).load()


def test_empty(mock: MockServer) -> None:
    result = run(lambda: generate(mock, extra_headers=behavior("empty")))
    assert result.data == []


def test_oversized_size_from_header(mock: MockServer) -> None:
    result = run(
        lambda: generate(mock, extra_headers=behavior("oversized", **{"X-Mock-Size-MB": "3"}))
    )
    raw = base64.b64decode(result.data[0].b64_json, validate=True)
    assert len(raw) == 3 * 1024 * 1024
    assert raw.startswith(PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR")
    assert result.size == "1024x1024"


def test_oversized_default_is_50_mb(mock: MockServer) -> None:
    url = f"{mock.base_url}/images/generations"
    with httpx.stream(
        "POST",
        url,
        json={"model": "gpt-image-1", "prompt": "big"},
        headers={"Authorization": "Bearer test", **behavior("oversized")},
        timeout=60,
    ) as response:
        assert response.status_code == 200
        length = int(response.headers["content-length"])
        received = sum(len(chunk) for chunk in response.iter_raw())
    assert received == length
    assert length > 50 * 1024 * 1024 * 4 // 3  # base64 of 50 MiB, plus the JSON around it


def test_hang_times_the_client_out(mock: MockServer) -> None:
    async def call() -> None:
        async with client(mock, timeout=1.0) as c:
            await c.images.generate(
                model="gpt-image-1", prompt="wait", extra_headers=behavior("hang")
            )

    with pytest.raises(openai.APITimeoutError):
        run(call)
    assert mock.stats()["by_behavior"].get("hang") == 1
    # the hanging request does not stop the mock from serving others
    assert run(lambda: generate(mock, size="256x256")).data


def test_unknown_behavior_is_a_clear_400(mock: MockServer) -> None:
    with pytest.raises(openai.BadRequestError) as by_header:
        run(lambda: generate(mock, extra_headers=behavior("explode")))
    assert "explode" in by_header.value.message
    assert "content_policy" in by_header.value.message  # lists the known names
    with pytest.raises(openai.BadRequestError) as by_prompt:
        run(lambda: generate(mock, prompt="[mock:explode] a cat"))
    assert "explode" in by_prompt.value.message
    with pytest.raises(openai.BadRequestError) as bad_delay:
        run(lambda: generate(mock, extra_headers={"X-Mock-Delay-S": "soon"}))
    assert "X-Mock-Delay-S" in bad_delay.value.message


# --- choosing: header > prompt directive > control API > start-up default -----------------


def test_prompt_directive_selects_behavior(mock: MockServer) -> None:
    with pytest.raises(openai.RateLimitError):
        run(lambda: generate(mock, prompt="a cat [mock:rate_limit]"))
    with pytest.raises(openai.BadRequestError) as caught:
        run(lambda: generate(mock, prompt="[mock:content_policy] a cat"))
    assert caught.value.code == "moderation_blocked"


def test_control_api_selects_behavior(mock: MockServer) -> None:
    mock.set_behavior("server_error")
    assert mock.config()["behavior"] == "server_error"
    with pytest.raises(openai.InternalServerError):
        run(lambda: generate(mock))
    mock.set_behavior("ok")
    assert run(lambda: generate(mock, size="256x256")).data


def test_precedence(mock: MockServer) -> None:
    mock.set_behavior("server_error")
    # a prompt directive beats the control API
    with pytest.raises(openai.AuthenticationError):
        run(lambda: generate(mock, prompt="[mock:unauthorized] x"))
    # a header beats both
    result = run(
        lambda: generate(
            mock, prompt="[mock:unauthorized] x", size="256x256", extra_headers=behavior("ok")
        )
    )
    assert decode_png(result.data[0].b64_json).size == (256, 256)
    # nothing chosen per request: the control API's choice
    with pytest.raises(openai.InternalServerError):
        run(lambda: generate(mock))


def test_bad_control_updates_are_rejected(mock: MockServer) -> None:
    url = f"{mock.root_url}/_mock/config"
    unknown = httpx.put(url, json={"behavior": "explode"})
    assert unknown.status_code == 400
    assert "explode" in unknown.json()["error"]["message"]
    negative = httpx.put(url, json={"delay_s": -1})
    assert negative.status_code == 400
    assert mock.config()["behavior"] == "ok"
    assert mock.config()["delay_s"] == 0


def test_reset_restores_startup_config_and_zeroes_stats(mock: MockServer) -> None:
    mock.set_behavior("empty", delay_s=0.2)
    run(lambda: generate(mock))
    assert mock.stats()["generations"] == 1
    mock.reset()
    config = mock.config()
    assert (config["behavior"], config["delay_s"]) == ("ok", 0)
    assert mock.stats() == {"generations": 0, "by_behavior": {}}


def test_stats_count_generations_by_behavior(mock: MockServer) -> None:
    run(lambda: generate(mock, size="256x256"))
    run(lambda: generate(mock, size="256x256"))
    run(lambda: generate(mock, extra_headers=behavior("empty")))
    with pytest.raises(openai.BadRequestError):
        run(lambda: generate(mock, prompt="[mock:content_policy] no"))
    httpx.get(f"{mock.root_url}/healthz")  # not a generation
    stats = mock.stats()
    assert stats["generations"] == 4
    assert stats["by_behavior"] == {"ok": 2, "empty": 1, "content_policy": 1}


# --- delay -------------------------------------------------------------------------------


async def timed(factory: Callable[[], Awaitable[Any]]) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await factory()
    return loop.time() - start


def test_delay_from_header_prompt_and_control_api(mock: MockServer) -> None:
    by_header = run(
        lambda: timed(
            lambda: generate(mock, size="256x256", extra_headers={"X-Mock-Delay-S": "0.6"})
        )
    )
    assert by_header >= 0.6
    by_prompt = run(lambda: timed(lambda: generate(mock, prompt="[mock-delay:0.6] a cat")))
    assert by_prompt >= 0.6
    mock.set_behavior("ok", delay_s=0.6)
    by_control = run(lambda: timed(lambda: generate(mock, size="256x256")))
    assert by_control >= 0.6
    # the delay applies before failures too
    with pytest.raises(openai.RateLimitError):
        run(lambda: generate(mock, prompt="[mock:rate_limit][mock-delay:0.1] x"))


def test_delay_does_not_block_other_requests(mock: MockServer) -> None:
    mock.set_behavior("ok", delay_s=1.0)

    async def ten_at_once() -> list[Any]:
        async with client(mock) as c:
            return await asyncio.gather(
                *(
                    c.images.generate(model="gpt-image-1", prompt=f"picture {i}", size="256x256")
                    for i in range(10)
                )
            )

    async def measured() -> tuple[float, list[Any]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        results = await ten_at_once()
        return loop.time() - start, results

    elapsed, results = run(measured)
    assert len(results) == 10
    assert all(r.data for r in results)
    assert 1.0 <= elapsed < 5.0  # 10 x 1 s one after another would be 10 s
    assert mock.stats()["generations"] == 10
