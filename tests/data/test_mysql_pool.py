"""The MySQL pool: bounded (when it runs dry a caller waits briefly, then gets a 503), and
connections that died while idle in it are replaced."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import uuid4

import pymysql
import pytest

from pixyproxy.core.errors import DatabaseUnavailable
from pixyproxy.core.settings import Settings
from pixyproxy.data.database import ping
from pixyproxy.data.init import open_database
from tests.support.threads import held_elsewhere

pytestmark = pytest.mark.mysql


def test_dry_pool_answers_unavailable_instead_of_hanging(
    mysql_url: str, make_settings: Callable[..., Settings]
) -> None:
    database = open_database(
        make_settings(database_url=mysql_url, db_pool_size=1, db_pool_timeout_s=0.5)
    )
    with held_elsewhere(database.reading):  # the only connection
        assert database.pool_status() == (1, 1)
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="busy"):
            ping(database)
        assert time.monotonic() - started < 5
    ping(database)  # the connection is back in the pool
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
            ping(database)
        assert time.monotonic() - started < 5
        database.close()


def test_connections_that_died_in_the_pool_are_replaced_for_reads_and_writes(
    mysql_url: str, make_settings: Callable[..., Settings]
) -> None:
    """Nothing pings a connection leaving the pool: a read re-runs on a fresh connection,
    and a write's ``begin()`` reconnects before anything is sent, so it runs exactly once."""
    database = open_database(make_settings(database_url=mysql_url, db_pool_size=1))
    table = f"pool_probe_{uuid4().hex[:8]}"

    def session_id() -> int:
        with database.reading() as cursor:
            cursor.execute("SELECT CONNECTION_ID() AS id")
            row = cursor.fetchone()
        assert row is not None
        return int(row["id"])

    def kill_pooled_connection() -> int:
        victim = session_id()  # the pool's only connection, idle in the pool again
        killer = pymysql.connect(**_connect_args(mysql_url))
        try:
            with killer.cursor() as cursor:
                cursor.execute(f"KILL CONNECTION {victim}")
        finally:
            killer.close()
        return victim

    try:
        with database.writing() as cursor:
            cursor.execute(f"CREATE TABLE {table} (n INT NOT NULL)")
        killed = kill_pooled_connection()
        assert session_id() != killed  # the read ran again on a new connection
        killed = kill_pooled_connection()
        with database.writing() as cursor:
            cursor.execute(f"INSERT INTO {table} (n) VALUES (1)")
        assert session_id() != killed
        with database.reading() as cursor:
            cursor.execute(f"SELECT COUNT(*) AS rows_ FROM {table}")
            assert cursor.fetchone() == {"rows_": 1}
    finally:
        with database.writing() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        database.close()


def _connect_args(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "host": parts.hostname,
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/"),
    }
