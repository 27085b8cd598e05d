"""The MySQL/MariaDB server the tests (and the soak test) use: where it is, whether it must
be there, and databases of their own on it that are dropped afterwards."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import pymysql

DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/pixyproxy_test"


def mysql_base_url() -> str:
    return os.environ.get("PIXY_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)


def mysql_required() -> bool:
    """``PIXY_REQUIRE_MYSQL`` (set by CI): a test that needs MySQL fails instead of skipping."""
    return os.environ.get("PIXY_REQUIRE_MYSQL", "") not in ("", "0", "false")


def admin_connection(url: str, *, connect_timeout_s: float = 3) -> pymysql.Connection[Any]:
    """A connection to the server of ``url``, outside any database."""
    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        connect_timeout=connect_timeout_s,
        autocommit=True,
    )


def describe_error(exc: pymysql.err.MySQLError) -> str:
    return str(exc.args[-1] if exc.args else exc)


@contextlib.contextmanager
def throwaway_database(admin: pymysql.Connection[Any], base_url: str) -> Iterator[str]:
    """A new, empty database on the server, named after ``base_url``'s; dropped afterwards.
    Yields its URL."""
    parts = urlsplit(base_url)
    name = f"{parts.path.lstrip('/') or 'pixyproxy_test'}_{secrets.token_hex(4)}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with contextlib.suppress(pymysql.err.MySQLError), admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
