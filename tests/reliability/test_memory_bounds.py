"""A worker's memory stays bounded under any anonymous read pattern: thousands of distinct
list requests over pages of large images, against a real ``pixyproxy serve``, move its
resident memory by no more than its caches' byte bounds and a small margin."""

from __future__ import annotations

import random
from pathlib import Path

import httpx

from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.init import migrate
from pixyproxy.data.sqlite import SQLiteDatabase
from tests.support.procs import memory, wait_for_workers
from tests.support.records import make_record
from tests.support.servers import anonymous_server_env, run_pixyproxy

IMAGES = 200
PROMPT_CHARS = 2000  # CJK: 6 KB of JSON per image, and about 25 KB of memory cached
REQUESTS = 2000
MIB = 1024 * 1024
CACHE_BYTES = 4 * MIB  # each of the two caches
MARGIN = 16 * MIB  # the allocator's slack: what is freed is not always given back


def seed(database_url: str) -> str:
    """Large public images sharing one long prompt; returns that prompt."""
    rng = random.Random(11)
    shared = "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(PROMPT_CHARS))
    database = SQLiteDatabase(database_url.removeprefix("sqlite:///"))
    try:
        migrate(database)
        repository = SqlImageRepository(database)
        for i in range(IMAGES):
            repository.insert(make_record(f"{shared} {i}", tags=["big"]))
    finally:
        database.close()
    return shared


def test_distinct_list_requests_keep_a_worker_within_its_cache_bounds(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'pixyproxy.db'}"
    shared = seed(database_url)
    env = anonymous_server_env(
        database_url=database_url,
        storage_dir=tmp_path / "images",
        detail_cache_bytes=CACHE_BYTES,
        list_cache_bytes=CACHE_BYTES,
        list_cache_ttl_s=3600,  # nothing expires during the test: only the bound holds
    )
    with run_pixyproxy(env, workers=1) as server, httpx.Client(base_url=server.url) as client:
        (worker,) = wait_for_workers(server.process.pid, 1)
        cursors: list[str | None] = [None]
        for _ in range(3):  # the cursors of the first pages, so every image is read
            after = {"cursor": cursors[-1]} if cursors[-1] else {}
            page = client.get("/image", params={"limit": 50, **after})
            link = page.headers["link"]
            cursors.append(httpx.URL(link[1 : link.index(">")]).params["cursor"])
        for _ in range(20):  # warm: every image once, the allocator's first arenas
            client.get("/image", params={"limit": 50})
        before = memory(worker)
        assert before is not None
        for i in range(REQUESTS):
            # A distinct query each time (the q is in every prompt): a distinct page.
            params = {"q": shared[i : i + 3], "limit": 50, "cursor": cursors[i % 4]}
            response = client.get("/image", params={k: v for k, v in params.items() if v})
            assert response.status_code == 200 and len(response.json()) == 50, response.text
        after = memory(worker)
    assert after is not None
    grown_kib = after.hwm_kib - before.rss_kib
    bound_kib = (2 * CACHE_BYTES + MARGIN) // 1024
    assert grown_kib <= bound_kib, f"the worker grew by {grown_kib} KiB (bound {bound_kib} KiB)"
