"""The image service failing, through the real app and the real SDK against the OpenAI mock:
rate limits, stalls, a dead server, unusable and oversized answers. Nothing is stored."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import httpx2
import pytest

from pixyproxy.data.http_limits import (
    UpstreamResponseRefused,
    bounded_http_client,
    max_answer_bytes,
)
from tests.support.mock_server import MockServer, openai_settings, run_mock_server
from tests.support.problems import assert_problem
from tests.support.procs import memory, wait_for_workers
from tests.support.servers import ServeApi, anonymous_server_env, run_pixyproxy
from tests.support.stored import final_pngs, temp_files

TIMEOUT_S = 1.0

Serve = Callable[..., httpx.Client]


@pytest.fixture
def serve(serve_api: ServeApi) -> Serve:
    """The app (uvicorn in a thread, SQLite) generating through ``mock``."""

    def start(mock: MockServer, **overrides: object) -> httpx.Client:
        options = {"openai_timeout_s": TIMEOUT_S, "openai_max_retries": 0, **overrides}
        return serve_api(anonymous_generation=True, **openai_settings(mock, **options))

    return start


def assert_nothing_stored(api: httpx.Client, store: Path) -> None:
    assert api.get("/image").json() == []
    assert final_pngs(store) == {} and temp_files(store) == []


@pytest.mark.parametrize("retries", [0, 1])
@pytest.mark.parametrize(("behavior", "retry_after"), [("rate_limit", 7), ("overloaded", 3)])
def test_rate_limited_or_overloaded_upstream_is_503_with_retry_after(
    serve: Serve,
    openai_mock: MockServer,
    tmp_path: Path,
    behavior: str,
    retry_after: int,
    retries: int,
) -> None:
    """At once, SDK retries or not: the caller waits out the Retry-After, not the request."""
    api = serve(openai_mock, openai_max_retries=retries, openai_timeout_s=30)
    started = time.monotonic()
    response = api.post("/image", json={"prompt": f"[mock:{behavior}] a fox"})
    assert time.monotonic() - started < 2
    assert_problem(response, 503, "upstream_busy")
    assert openai_mock.stats()["generations"] == 1, "asked once"
    assert int(response.headers["retry-after"]) == retry_after  # the upstream's own value
    assert_nothing_stored(api, tmp_path / "images")


@pytest.mark.parametrize("retries", [0, 1])
def test_stalled_upstream_is_502_within_the_timeout(
    serve: Serve, openai_mock: MockServer, tmp_path: Path, retries: int
) -> None:
    """The whole call is bounded by the timeout, SDK retries included."""
    api = serve(openai_mock, openai_max_retries=retries)
    started = time.monotonic()
    response = api.post("/image", json={"prompt": "[mock:hang] a fox"})
    took = time.monotonic() - started
    body = assert_problem(response, 502, "upstream_failed")
    assert "in time" in str(body["detail"])
    assert TIMEOUT_S - 0.1 < took < TIMEOUT_S + 1, f"answered after {took:.2f}s"
    assert_nothing_stored(api, tmp_path / "images")


def test_dead_upstream_is_502(serve: Serve, tmp_path: Path) -> None:
    with run_mock_server() as mock:
        api = serve(mock, openai_max_retries=1, openai_timeout_s=10)
        assert api.post("/image", json={"prompt": "alive"}).status_code == 200
        # killed in the middle of a generation
        answer: list[httpx.Response] = []
        pending = threading.Thread(
            target=lambda: answer.append(api.post("/image", json={"prompt": "[mock-delay:5] x"}))
        )
        pending.start()
        time.sleep(0.5)
        mock.process.kill()
        mock.process.wait(timeout=10)
        pending.join(timeout=20)
        assert_problem(answer[0], 502, "upstream_failed")
        # and nobody listening any more
        started = time.monotonic()
        assert_problem(api.post("/image", json={"prompt": "gone"}), 502, "upstream_failed")
        assert time.monotonic() - started < 5
        assert [d["prompt"] for d in api.get("/image").json()] == ["alive"]
        assert len(final_pngs(tmp_path / "images")) == 1
        assert temp_files(tmp_path / "images") == []


@pytest.mark.parametrize("behavior", ["not_png", "garbage", "empty", "oversized"])
def test_unusable_answers_are_502(
    serve: Serve, openai_mock: MockServer, tmp_path: Path, behavior: str
) -> None:
    api = serve(openai_mock, openai_timeout_s=30)
    started = time.monotonic()
    response = api.post("/image", json={"prompt": f"[mock:{behavior}] a fox"})
    assert_problem(response, 502, "upstream_failed")
    assert time.monotonic() - started < 10
    assert_nothing_stored(api, tmp_path / "images")


def test_50_mb_answers_leave_worker_memory_bounded(openai_mock: MockServer, tmp_path: Path) -> None:
    """VmHWM (the worker's peak resident memory) barely moves: the body is never read.

    Without the limit the SDK would read the 67 MB of base64 and parse it: well over 100 MB.
    """
    store = tmp_path / "images"
    env = anonymous_server_env(
        database_url=f"sqlite:///{tmp_path / 'pixyproxy.db'}",
        storage_dir=store,
        mock=openai_mock,
        openai_timeout_s=30,
    )
    with (
        run_pixyproxy(env, workers=1) as server,
        httpx.Client(base_url=server.url, timeout=60) as api,
    ):
        (worker,) = wait_for_workers(server.process.pid, 1)
        for i in range(3):  # warm up: imports, pools and buffers of a normal generation
            assert api.post("/image", json={"prompt": f"warm {i}"}).status_code == 200
        before = memory(worker)
        for _ in range(3):
            response = api.post("/image", json={"prompt": "[mock:oversized] [mock-size-mb:50]"})
            body = assert_problem(response, 502, "upstream_failed")
            assert "bytes" in str(body["detail"])
        after = memory(worker)
        assert wait_for_workers(server.process.pid, 1) == [worker], "the worker survived"
        assert len(api.get("/image").json()) == 3
    assert before is not None and after is not None
    growth_mib = (after.hwm_kib - before.hwm_kib) / 1024
    print(f"worker VmHWM {before.hwm_kib // 1024} -> {after.hwm_kib // 1024} MiB")
    assert growth_mib < 16, f"peak memory grew by {growth_mib:.0f} MiB"
    assert len(final_pngs(store)) == 3 and temp_files(store) == []


# --- the answer limit itself, on streams the mock does not make ----------------------------


class _Chunks(httpx2.AsyncByteStream):
    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"x" * self.chunk


def _client_answering(
    limit: int, handler: Callable[[httpx2.Request], httpx2.Response]
) -> httpx2.AsyncClient:
    transport = httpx2.MockTransport(handler)  # the network stand-in
    return bounded_http_client(max_body_bytes=limit, timeout_s=5, transport=transport)


@pytest.mark.anyio
async def test_an_answer_without_length_is_cut_at_the_limit() -> None:
    stream = _Chunks(total=50 << 20)
    client = _client_answering(1 << 20, lambda request: httpx2.Response(200, stream=stream))
    async with client:
        with pytest.raises(UpstreamResponseRefused):
            await client.get("http://upstream.invalid/")
    assert stream.sent <= (1 << 20) + stream.chunk, "stopped reading at the limit"


@pytest.mark.anyio
async def test_compressed_answers_are_refused_and_identity_is_asked_for() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["accept-encoding"])
        return httpx2.Response(200, headers={"content-encoding": "gzip"}, content=b"\x1f\x8b")

    async with _client_answering(1 << 20, handler) as client:
        with pytest.raises(UpstreamResponseRefused):
            await client.get("http://upstream.invalid/")
    assert seen == ["identity"]


def test_the_limit_fits_the_largest_allowed_image() -> None:
    assert max_answer_bytes(3) >= 4 and max_answer_bytes(32 << 20) < 45 << 20
