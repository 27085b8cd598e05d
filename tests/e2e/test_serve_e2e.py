"""``pixyproxy serve`` as a real process (gunicorn, two uvicorn workers) against MariaDB and
the OpenAI mock: the four routes end to end, and generations that never block the loop."""

from __future__ import annotations

import concurrent.futures
import io
import json
import time

import httpx
import pytest
from PIL import Image

from tests.support.mock_server import MockServer
from tests.support.servers import ServerProcess
from tests.support.tokens import bearer

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]


def test_generate_get_list_content(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30, headers=bearer("alice")) as api:
        created = api.post("/image", json={"prompt": "a lighthouse", "tags": ["e2e"]})
        assert created.status_code == 200, created.text
        detail = created.json()
        assert detail["author"] == "alice" and detail["model"] == "gpt-image-1"
        assert api.get(f"/image/{detail['guid']}").json() == detail
        assert [d["guid"] for d in api.get("/image", params={"tag": "e2e"}).json()] == [
            detail["guid"]
        ]
        content = api.get(detail["content_url"])
        assert content.status_code == 200
        assert content.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(content.content))
        image.verify()
        assert image.size == (1024, 1024) and len(content.content) == detail["size_bytes"]


def test_concurrent_generations_do_not_block_each_other(
    server: ServerProcess, openai_mock: MockServer
) -> None:
    openai_mock.set_behavior("ok", delay_s=1.0)
    started = time.monotonic()
    with (
        httpx.Client(base_url=server.url, timeout=30, headers=bearer("bob")) as api,
        concurrent.futures.ThreadPoolExecutor(10) as pool,
    ):
        responses = list(
            pool.map(lambda i: api.post("/image", json={"prompt": f"fox {i}"}), range(10))
        )
    elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * 10
    assert openai_mock.stats()["generations"] == 10
    # Serialised they would take 10 s; two workers that never block their loop need ~1 s.
    assert elapsed < 6, f"10 generations of 1 s took {elapsed:.1f} s"


def test_every_worker_lists_a_new_image_within_the_coherence_bound(
    server: ServerProcess,
) -> None:
    """Each worker keeps anonymous list pages in memory; a generation in one worker makes
    every worker read the list again: the one that generated at once, the others at their
    next read of the change log (within 1 s, README "Coherence")."""

    def first_page() -> list[str]:
        # A new connection each time, so that the requests spread over both workers.
        response = httpx.get(f"{server.url}/image", headers={"Connection": "close"}, timeout=30)
        assert response.status_code == 200, response.text
        return [detail["guid"] for detail in response.json()]

    with httpx.Client(base_url=server.url, timeout=30, headers=bearer("carol")) as api:
        before = first_page()
        for _ in range(30):  # both workers now hold the page
            assert first_page() == before
        made = api.post("/image", json={"prompt": "listed at once"})
        assert made.status_code == 200, made.text
        deadline = time.monotonic() + 10
        while first_page()[:1] != [made.json()["guid"]]:
            assert time.monotonic() < deadline, "a worker kept its old page"
        time.sleep(1.0)  # the bound: from now on every worker shows it
        marker = len(server.output())
        for _ in range(30):
            assert first_page()[:1] == [made.json()["guid"]]
    served_by = {
        line["pid"]
        for line in map(json.loads, server.output()[marker:].splitlines())
        if line.get("event") == "request.end" and line.get("route") == "/image"
    }
    assert len(served_by) == 2, "both workers answered after the generation"
