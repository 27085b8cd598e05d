"""SIGTERM to ``pixyproxy serve`` (what Kubernetes sends) while a generation waits on a slow
upstream: the caller still gets its 200, the row and the file are both there afterwards,
and the server then exits cleanly."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from pixyproxy.core.settings import Settings
from pixyproxy.data.filestore import FileImageStore
from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.init import open_database
from pixyproxy.data.store import ORIGINAL
from tests.support.logs import json_lines, request_lines
from tests.support.mock_server import MockServer
from tests.support.servers import run_pixyproxy, server_env
from tests.support.tokens import SECRET

pytestmark = pytest.mark.e2e

DELAY_S = 3


def test_sigterm_lets_an_in_flight_generation_finish_and_store(
    database_url: str,
    openai_mock: MockServer,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    storage = tmp_path / "images"
    env = server_env(
        database_url=database_url,
        storage_dir=storage,
        mock=openai_mock,
        anonymous_generation=True,
        jwt_secret=SECRET,
    )
    results: dict[str, httpx.Response | BaseException] = {}

    def generate(url: str) -> None:
        try:
            results["response"] = httpx.post(
                f"{url}/image",
                json={"prompt": f"[mock-delay:{DELAY_S}] a slow fox"},
                headers={"X-Request-ID": "slow-generation"},
                timeout=60,
            )
        except BaseException as exc:  # reported by the assertion below
            results["response"] = exc

    with run_pixyproxy(env, workers=2) as server:
        client = threading.Thread(target=generate, args=(server.url,))
        client.start()
        deadline = time.monotonic() + 20
        while openai_mock.stats()["generations"] < 1:  # the upstream has the request now
            assert time.monotonic() < deadline, "the generation never reached the mock"
            time.sleep(0.02)
        signalled = time.monotonic()
        server.signal(signal.SIGTERM)
        client.join(timeout=60)
        assert not client.is_alive()
        answered = time.monotonic()
        assert server.process.wait(timeout=60) == 0
        output = server.output()

    response = results["response"]
    assert isinstance(response, httpx.Response), repr(response)
    assert response.status_code == 200, response.text
    assert answered - signalled < DELAY_S + 30  # it waited for the upstream, then answered
    detail = response.json()
    guid = UUID(detail["guid"])

    database = open_database(make_settings(database_url=database_url, storage_dir=storage))
    try:
        record = SqlImageRepository(database).get(guid, viewer=None)
    finally:
        database.close()
    assert record is not None and record.size_bytes == detail["size_bytes"]
    assert FileImageStore(storage).open(guid, ORIGINAL).size_bytes == detail["size_bytes"]

    records = json_lines(output)
    events = [r["event"] for r in records]
    end = next(
        r for r in request_lines(records, "request.end") if r["request_id"] == "slow-generation"
    )
    assert end["status"] == 200 and end["route"] == "/image"
    # the signal arrived while the request was in flight, and the workers then exited
    assert events.index("Handling signal: term") < records.index(end)
    assert events[-1] == "Shutting down: Master"
