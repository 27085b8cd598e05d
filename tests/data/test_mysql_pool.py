"""The MySQL pool is bounded: when it runs dry a caller waits briefly, then gets a 503."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from pixyproxy.core.errors import DatabaseUnavailable
from pixyproxy.core.settings import Settings
from pixyproxy.data.init import open_database

pytestmark = pytest.mark.mysql


def test_dry_pool_answers_unavailable_instead_of_hanging(
    mysql_url: str, make_settings: Callable[..., Settings]
) -> None:
    database = open_database(
        make_settings(database_url=mysql_url, db_pool_size=1, db_pool_timeout_s=0.5)
    )
    held, release = threading.Event(), threading.Event()

    def hold_the_only_connection() -> None:
        with database.reading() as cursor:
            cursor.execute("SELECT 1")
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_only_connection)
    holder.start()
    try:
        assert held.wait(10)
        assert database.pool_status() == (1, 1)
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="busy"):
            database.ping()
        assert time.monotonic() - started < 5
    finally:
        release.set()
        holder.join(10)
    database.ping()  # the connection is back in the pool
    assert database.pool_status() == (0, 1)
    database.close()


def test_unreachable_server_fails_within_the_connect_timeout(
    make_settings: Callable[..., Settings],
) -> None:
    # A listening socket that never answers the MySQL handshake.
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        database = open_database(
            make_settings(database_url=f"mysql://root@127.0.0.1:{port}/x", db_connect_timeout_s=1)
        )
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            database.ping()
        assert time.monotonic() - started < 5
        database.close()
