"""Readiness follows its dependencies both ways: 503 naming the failed check while the
database is unreachable or the image store is not writable, 200 again once they are back,
with the same running server. Liveness never looks at either."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.servers import ServeApi
from tests.support.tcp_proxy import tcp_proxy


def wait_for_readiness(api: httpx.Client, status: int, timeout_s: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = api.get("/readyz")
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def assert_not_ready(response: httpx.Response, failed: str, reason: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["code"] == "not_ready" and failed in body["detail"]
    others = {name: "ok" for name in ("database", "storage") if name != failed}
    assert body["checks"] == {failed: reason, **others}
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.mark.mysql
def test_database_unreachable_then_back(serve_api: ServeApi, mysql_url: str) -> None:
    target = urlsplit(mysql_url)
    with tcp_proxy(target.hostname or "127.0.0.1", target.port or 3306) as proxy:
        netloc = target.netloc.rsplit("@", 1)[0] + "@" if "@" in target.netloc else ""
        proxied = target._replace(netloc=f"{netloc}127.0.0.1:{proxy.port}").geturl()
        # Every list read goes to the database (a cached page would answer from memory).
        api = serve_api(
            database_url=proxied, db_connect_timeout_s=2, db_pool_size=2, list_cache_bytes=0
        )
        assert wait_for_readiness(api, 200).status_code == 200
        assert api.get("/image").status_code == 200

        proxy.close()
        assert_not_ready(wait_for_readiness(api, 503), "database", "database_unavailable")
        assert api.get("/healthz").status_code == 200
        assert api.get("/image").status_code == 503

        proxy.open()
        back = wait_for_readiness(api, 200)
        assert back.status_code == 200, back.text
        assert back.json() == {"status": "ready", "checks": {"database": "ok", "storage": "ok"}}
        assert api.get("/image").status_code == 200


def test_store_not_writable_then_back(serve_api: ServeApi, tmp_path: Path) -> None:
    store = tmp_path / "images"
    api = serve_api(storage_dir=store, anonymous_generation=True)
    assert api.post("/image", json={"prompt": "before"}).status_code == 200
    assert wait_for_readiness(api, 200).status_code == 200

    # chmod does not bind root: put a file where the store directory was
    away = tmp_path / "images.away"
    store.rename(away)
    store.write_text("not a directory")
    assert_not_ready(wait_for_readiness(api, 503), "storage", "storage_unavailable")
    assert api.get("/healthz").status_code == 200

    store.unlink()
    away.rename(store)
    assert wait_for_readiness(api, 200).status_code == 200
    assert api.post("/image", json={"prompt": "after"}).status_code == 200
    assert len(list(store.rglob("*.png"))) == 2
