"""What the repositories need of a database: a cursor to read with and one inside a transaction.

SQL in this package is written once, with ``%(name)s`` named parameters as pymysql takes
them; the SQLite backend rewrites them to ``:name``. Rows always come back as dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

Row = dict[str, Any]
Params = Mapping[str, Any]
Dialect = Literal["mysql", "sqlite"]


class DuplicateKey(Exception):
    """An insert hit a primary or unique key that already exists."""


class Cursor(Protocol):
    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run one statement; returns the number of affected rows."""
        ...

    def fetchone(self) -> Row | None: ...

    def fetchall(self) -> list[Row]: ...

    @property
    def lastrowid(self) -> int: ...


class Database(Protocol):
    dialect: Dialect

    def reading(self) -> AbstractContextManager[Cursor]:
        """A cursor for reads, outside any transaction."""
        ...

    def writing(self) -> AbstractContextManager[Cursor]:
        """A cursor inside a transaction: committed on success, rolled back on any error."""
        ...

    def pool_status(self) -> tuple[int, int]:
        """(connections in use, pool size)."""
        ...

    def close(self) -> None: ...


def ping(database: Database) -> None:
    """Raise ``DatabaseUnavailable`` unless the database answers a trivial query."""
    with database.reading() as cursor:
        cursor.execute("SELECT 1")


def expand_list(name: str, values: list[Any]) -> tuple[str, dict[str, Any]]:
    """Named placeholders for an ``IN (...)`` list: ``("%(id_0)s, %(id_1)s", {...})``."""
    params = {f"{name}_{i}": value for i, value in enumerate(values)}
    return ", ".join(f"%({key})s" for key in params), params


def db_timestamp(value: datetime) -> str:
    """UTC, as both MySQL DATETIME(6) and SQLite text columns take it."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def from_db_timestamp(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)
