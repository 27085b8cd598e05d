"""The app factory in-process: config validation, state per app, payload builders."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from openai_mock.app import create_app
from openai_mock.behaviors import BEHAVIORS, strip_directives
from openai_mock.config import MockConfig
from openai_mock.png import GARBAGE_B64, OversizedB64, PngCache

EXPECTED = {
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
}
AUTH = {"Authorization": "Bearer test"}


def test_behavior_names_are_the_interface() -> None:
    assert set(BEHAVIORS) == EXPECTED


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="explode"):
        MockConfig(behavior="explode")
    with pytest.raises(ValueError, match="delay_s"):
        MockConfig(delay_s=-1)
    assert MockConfig(behavior=" Rate_Limit ").behavior == "rate_limit"


def test_each_app_has_its_own_state() -> None:
    first = TestClient(create_app(MockConfig(behavior="empty")))
    second = TestClient(create_app())
    body = {"model": "gpt-image-1", "prompt": "x", "size": "256x256"}
    assert first.post("/v1/images/generations", json=body, headers=AUTH).json()["data"] == []
    assert second.post("/v1/images/generations", json=body, headers=AUTH).json()["data"]
    assert first.get("/_mock/stats").json() == {"generations": 1, "by_behavior": {"empty": 1}}
    assert second.get("/_mock/stats").json() == {"generations": 1, "by_behavior": {"ok": 1}}


def test_control_api_round_trip() -> None:
    client = TestClient(create_app())
    updated = client.put("/_mock/config", json={"behavior": "garbage", "delay_s": 0.5}).json()
    assert (updated["behavior"], updated["delay_s"]) == ("garbage", 0.5)
    assert client.put("/_mock/config", json={"delay_s": 0}).json()["behavior"] == "garbage"
    assert client.put("/_mock/config", json={"colour": "red"}).status_code == 400
    reset = client.post("/_mock/reset").json()
    assert (reset["behavior"], reset["delay_s"], reset["generations"]) == ("ok", 0.0, 0)


def test_directives_are_stripped_for_the_colour() -> None:
    assert strip_directives("[mock:ok] a cat [mock-delay:1.5][mock-size-mb:2]") == "a cat"


def test_garbage_fails_every_decoder() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - binascii.Error's text varies by version
        base64.b64decode(GARBAGE_B64)
    with pytest.raises(ValueError):  # noqa: PT011
        base64.b64decode(GARBAGE_B64, validate=True)


@pytest.mark.parametrize("size", [0, 1, 33, 34, 35, 36, 1000, 3 * 1024 * 1024 + 1])
def test_oversized_payload_is_exact_base64(size: int) -> None:
    payload = OversizedB64(size)
    text = b"".join(payload.chunks())
    assert len(text) == len(payload)
    raw = base64.b64decode(text, validate=True)
    assert len(raw) == payload.size_bytes == max(size, 33)
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")


def test_png_cache_is_bounded_lru() -> None:
    cache = PngCache(maxsize=2)
    a = cache.get_or_render(16, 16, 0)
    cache.get_or_render(16, 16, 1)
    assert cache.get(16, 16, 0) == a  # touch: 0 is now the most recent
    cache.get_or_render(16, 16, 2)
    assert len(cache) == 2
    assert cache.get(16, 16, 1) is None
    assert cache.get(16, 16, 0) == a
