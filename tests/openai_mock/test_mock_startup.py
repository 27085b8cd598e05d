"""The start-up default (``--behavior``/``--delay``) and the command line."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest

from openai_mock.__main__ import build_parser
from tests.support.mock_server import run_mock_server


async def _generate(base_url: str) -> object:
    async with openai.AsyncOpenAI(api_key="k", base_url=base_url, max_retries=0) as client:
        return await client.images.generate(model="gpt-image-1", prompt="x", size="256x256")


def test_startup_default_and_reset_back_to_it() -> None:
    with run_mock_server(behavior="overloaded", delay_s=0.3) as mock:
        assert mock.config()["startup"] == {"behavior": "overloaded", "delay_s": 0.3}
        started = time.monotonic()
        with pytest.raises(openai.InternalServerError) as caught:
            asyncio.run(_generate(mock.base_url))
        assert time.monotonic() - started >= 0.3
        assert caught.value.status_code == 503
        mock.set_behavior("ok")
        assert asyncio.run(_generate(mock.base_url))
        mock.reset()
        assert mock.config()["behavior"] == "overloaded"
        assert mock.stats()["generations"] == 0
    assert mock.process.poll() is not None  # stopped on leaving the block


def test_cli_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_MOCK_BEHAVIOR", raising=False)
    monkeypatch.delenv("OPENAI_MOCK_DELAY_S", raising=False)
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.behavior, args.delay) == ("127.0.0.1", 8080, "ok", 0.0)
    monkeypatch.setenv("OPENAI_MOCK_BEHAVIOR", "rate_limit")
    monkeypatch.setenv("OPENAI_MOCK_DELAY_S", "1.5")
    args = build_parser().parse_args([])
    assert (args.behavior, args.delay) == ("rate_limit", 1.5)
    args = build_parser().parse_args(["--behavior", "hang", "--delay", "0"])
    assert (args.behavior, args.delay) == ("hang", 0.0)


def test_cli_rejects_unknown_behavior(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["--behavior", "explode"])
    assert caught.value.code == 2
    assert "explode" in capsys.readouterr().err
