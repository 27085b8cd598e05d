"""Anonymous generation (``PIXY_ANONYMOUS_GENERATION``) against ``pixyproxy serve``: each
client address has its own idempotency keys and quota, the address being the one after
the proxies ``PIXY_FORWARDED_ALLOW_IPS`` trusts, so a client that forges
``X-Forwarded-For`` past an untrusted peer is still itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import ServerProcess, anonymous_server_env, run_pixyproxy


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    with ExitStack() as stack:

        def start(**settings: object) -> ServerProcess:
            env = anonymous_server_env(
                database_url=f"sqlite:///{tmp_path / 'pixyproxy.db'}",
                storage_dir=tmp_path / "images",
                generation_limit=2,
                **settings,
            )
            return stack.enter_context(run_pixyproxy(env, workers=1))

        yield start


def post(server: ServerProcess, client: str, key: str | None = None, **body: Any) -> httpx.Response:
    headers = {"X-Forwarded-For": client}
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(
        f"{server.url}/image", json={"prompt": "a fox", **body}, headers=headers, timeout=30
    )


def test_each_client_has_its_own_keys_and_quota(serve: Callable[..., ServerProcess]) -> None:
    server = serve()  # the proxy here is loopback, which PIXY_FORWARDED_ALLOW_IPS trusts
    first = post(server, "203.0.113.7", "order-1")
    assert first.status_code == 200, first.text
    # Another client's key of the same name is another request: no replay of the first's
    # answer, no 422 for another body.
    theirs = post(server, "198.51.100.9", "order-1")
    assert theirs.status_code == 200 and theirs.json()["guid"] != first.json()["guid"]
    other_body = post(server, "198.51.100.10", "order-1", prompt="an owl")
    assert other_body.status_code == 200, other_body.text
    # The first client's retry still gets its own answer back.
    assert post(server, "203.0.113.7", "order-1").json() == first.json()
    # Quotas: 203.0.113.7 spends its two, the others keep theirs.
    assert post(server, "203.0.113.7").status_code == 200
    assert post(server, "203.0.113.7").status_code == 429
    assert post(server, "198.51.100.9").status_code == 200


def test_an_ipv6_client_is_its_slash_64(serve: Callable[..., ServerProcess]) -> None:
    server = serve()
    assert post(server, "2001:db8:1:2::1").status_code == 200
    assert post(server, "2001:db8:1:2:ffff::9").status_code == 200
    assert post(server, "2001:db8:1:2::abcd").status_code == 429  # one /64, one quota
    assert post(server, "2001:db8:1:3::1").status_code == 200


def test_a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(
    serve: Callable[..., ServerProcess],
) -> None:
    server = serve(forwarded_allow_ips="192.0.2.1")  # some proxy, not this test's loopback
    assert post(server, "203.0.113.1", "k").status_code == 200
    replay = post(server, "203.0.113.2", "k", prompt="another body")
    assert replay.status_code == 422 and replay.json()["code"] == "idempotency_key_reused"
    assert post(server, "203.0.113.3").status_code == 200
    assert post(server, "203.0.113.4").status_code == 429  # one client, whatever it claims
