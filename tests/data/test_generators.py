"""Image generators: OpenAI through the real SDK against the mock on loopback, and the
local placeholder."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import openai
import pytest

from pixyproxy.core.errors import PromptRejected, UpstreamBusy, UpstreamFailed
from pixyproxy.data.generators import OpenAIGenerator, PlaceholderGenerator, build_generator
from pixyproxy.data.png import png_dimensions
from tests.support.mock_server import MockServer

pytestmark = pytest.mark.anyio


MakeGenerator = Callable[..., OpenAIGenerator]


@pytest.fixture
async def generator(openai_mock: MockServer) -> AsyncIterator[MakeGenerator]:
    """Builds generators on the real SDK pointed at the mock, and closes them afterwards."""
    made: list[OpenAIGenerator] = []

    def make(*, timeout_s: float = 10, max_bytes: int = 8 << 20) -> OpenAIGenerator:
        client = openai.AsyncOpenAI(
            api_key="sk-test", base_url=openai_mock.base_url, timeout=timeout_s, max_retries=0
        )
        made.append(OpenAIGenerator(client, model="gpt-image-1", max_bytes=max_bytes))
        return made[-1]

    yield make
    for gen in made:
        await gen.aclose()


async def test_openai_success_returns_a_checked_png(
    openai_mock: MockServer, generator: MakeGenerator
) -> None:
    image = await generator().generate("a red fox", 1536, 1024)
    assert (image.width, image.height) == (1536, 1024)
    assert png_dimensions(image.png, max_bytes=len(image.png)) == (1536, 1024)
    assert image.model == "gpt-image-1"
    assert openai_mock.stats()["generations"] == 1


@pytest.mark.parametrize(
    ("behavior", "error", "detail"),
    [
        ("content_policy", PromptRejected, "prompt_rejected"),
        ("unauthorized", UpstreamFailed, "auth"),
        ("server_error", UpstreamFailed, "server_error"),
        ("garbage", UpstreamFailed, "bad_response"),
        ("not_png", UpstreamFailed, "bad_response"),
        ("empty", UpstreamFailed, "bad_response"),
    ],
)
async def test_openai_failures_map_to_contract_errors(
    openai_mock: MockServer,
    generator: MakeGenerator,
    behavior: str,
    error: type[Exception],
    detail: str,
) -> None:
    openai_mock.set_behavior(behavior)
    with pytest.raises(error) as raised:
        await generator().generate("a red fox", 1024, 1024)
    exc = raised.value
    assert (exc.kind if isinstance(exc, UpstreamFailed) else exc.code) == detail  # type: ignore[attr-defined]


async def test_rate_limit_is_busy_with_upstream_retry_after(
    openai_mock: MockServer, generator: MakeGenerator
) -> None:
    openai_mock.set_behavior("rate_limit")
    with pytest.raises(UpstreamBusy) as raised:
        await generator().generate("a red fox", 1024, 1024)
    assert raised.value.status == 503 and raised.value.retry_after_s == 7


async def test_overload_is_busy(openai_mock: MockServer, generator: MakeGenerator) -> None:
    openai_mock.set_behavior("overloaded")
    with pytest.raises(UpstreamBusy) as raised:
        await generator().generate("a red fox", 1024, 1024)
    assert raised.value.retry_after_s == 3


async def test_timeout_is_upstream_failed_within_the_timeout(
    openai_mock: MockServer, generator: MakeGenerator
) -> None:
    openai_mock.set_behavior("hang")
    started = time.monotonic()
    with pytest.raises(UpstreamFailed) as raised:
        await generator(timeout_s=0.5).generate("a red fox", 1024, 1024)
    assert raised.value.kind == "timeout"
    assert time.monotonic() - started < 5


async def test_oversized_answer_is_refused(
    openai_mock: MockServer, generator: MakeGenerator
) -> None:
    openai_mock.set_behavior("oversized")
    with pytest.raises(UpstreamFailed, match="too large") as raised:
        await generator(max_bytes=1 << 20).generate("[mock-size-mb:3] fox", 1024, 1024)
    assert raised.value.kind == "bad_response"


async def test_unreachable_server_is_connection_failure() -> None:
    client = openai.AsyncOpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=0)
    gen = OpenAIGenerator(client, model="m", max_bytes=1 << 20)
    try:
        with pytest.raises(UpstreamFailed) as raised:
            await gen.generate("x", 1024, 1024)
    finally:
        await gen.aclose()
    assert raised.value.kind == "connection"


async def test_placeholder_draws_a_real_png() -> None:
    image = await PlaceholderGenerator().generate("a lighthouse", 1024, 1536)
    assert png_dimensions(image.png, max_bytes=len(image.png)) == (1024, 1536)
    assert image.png != (await PlaceholderGenerator().generate("a ship", 1024, 1536)).png


def test_provider_choice(make_settings) -> None:  # type: ignore[no-untyped-def]
    assert build_generator(make_settings(image_provider="auto")).name == "placeholder"
    keyed = make_settings(image_provider="auto", openai_api_key="sk-x")
    assert build_generator(keyed).name == "openai"
    assert (
        build_generator(make_settings(image_provider="placeholder", openai_api_key="sk-x")).name
        == "placeholder"
    )
