"""SQLite: the embedded default, so ``make run`` needs no server.

One connection per thread (sqlite3 connections must not be shared), WAL so readers never
wait for the writer, and ``BEGIN IMMEDIATE`` so two writers queue on ``busy_timeout``
instead of failing half-way through a transaction.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from pixyproxy.core.errors import ConfigurationError, DatabaseUnavailable
from pixyproxy.data.database import Dialect, DuplicateKey, Params, Row

_NAMED_PARAM = re.compile(r"%\((\w+)\)s")


@lru_cache(maxsize=512)
def to_sqlite_params(sql: str) -> str:
    """``%(name)s`` -> ``:name``, and ``%%`` -> ``%``."""
    return _NAMED_PARAM.sub(r":\1", sql).replace("%%", "%")


def sqlite_path(url: str) -> str:
    """``sqlite:///relative.db``, ``sqlite:////absolute.db`` or ``sqlite://:memory:``."""
    prefix = "sqlite:///"
    if url == "sqlite://:memory:":
        return ":memory:"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigurationError("PIXY_DATABASE_URL: expected sqlite:///path/to/file.db")
    return url[len(prefix) :]


class _SQLiteCursor:
    def __init__(self, raw: sqlite3.Cursor) -> None:
        self._raw = raw

    def execute(self, sql: str, params: Params | None = None) -> int:
        self._raw.execute(to_sqlite_params(sql), dict(params) if params else {})
        return self._raw.rowcount

    def fetchone(self) -> Row | None:
        row = self._raw.fetchone()
        return dict(row) if row is not None else None

    def fetchall(self) -> list[Row]:
        return [dict(row) for row in self._raw.fetchall()]

    @property
    def lastrowid(self) -> int:
        return int(self._raw.lastrowid or 0)


class SQLiteDatabase:
    dialect: Dialect = "sqlite"

    def __init__(self, path: str, *, busy_timeout_s: float = 5.0) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_s,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,  # closed from the thread that shuts down
            )
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    @contextmanager
    def reading(self) -> Iterator[_SQLiteCursor]:
        with _translated_errors():
            cursor = self._connection().cursor()
            try:
                yield _SQLiteCursor(cursor)
            finally:
                cursor.close()

    @contextmanager
    def writing(self) -> Iterator[_SQLiteCursor]:
        with _translated_errors():
            connection = self._connection()
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteCursor(cursor)
                cursor.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            finally:
                cursor.close()

    def pool_status(self) -> tuple[int, int]:
        return 0, len(self._all)

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()
        self._local = threading.local()


# What a caller can only wait out: another writer holds the lock, the file cannot be opened
# or read (a volume gone away). Primary result codes: the low byte of the extended code.
_UNAVAILABLE = frozenset(
    {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR}
)
_DUPLICATE = frozenset({sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY})


@contextmanager
def _translated_errors() -> Iterator[None]:
    """sqlite3 errors by their result code (``sqlite_errorcode``), never by message text."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if exc.sqlite_errorcode in _DUPLICATE:
            raise DuplicateKey(f"duplicate key: {exc}") from exc
        raise
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF in _UNAVAILABLE:
            raise DatabaseUnavailable() from exc
        raise
