"""MySQL (and MariaDB) through pymysql, pooled with DBUtils ``PooledDB``.

Connections run in autocommit mode so reads hold no snapshot; every write opens an
explicit transaction with ``begin()``, because outside one DBUtils silently re-runs a
statement after a lost connection, which could write a row twice.

A connection is not pinged when it leaves the pool: that would be a second round trip for
every read. A read on a connection that died while idle (the server's ``wait_timeout``, a
restart) fails and is re-run on a fresh connection by DBUtils, which is safe for a read.
A transaction is never re-run, so ``begin()`` pings first and reconnects a dead connection
before the first statement is sent.

DBUtils' pool either blocks forever or fails at once when it runs dry; a semaphore in front
of it makes callers wait at most ``pool_timeout_s`` and then answer 503.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql
import pymysql.cursors
from dbutils.pooled_db import PooledDB, TooManyConnections

from pixyproxy.core import metrics
from pixyproxy.core.errors import CommitOutcomeUnknown, ConfigurationError, DatabaseUnavailable
from pixyproxy.data.database import Dialect, DuplicateKey, Params, Row

_DUPLICATE_ENTRY = 1062
# The client lost the server: whatever was in flight may or may not have been executed.
_CONNECTION_LOST = frozenset({2006, 2013, 2055})
# Client-side codes (2xxx) and server codes that mean "not reachable right now", among them
# a statement or connection KILLed by an operator (1317, MariaDB's 1927) and MySQL 8's
# notice that it closed an idle connection (4031).
_UNAVAILABLE_CODES = frozenset(
    {1040, 1053, 1205, 1317, 1927, 2002, 2003, 2005, 2006, 2013, 2014, 2055, 4031}
)


@dataclass(frozen=True)
class MySQLOptions:
    host: str
    port: int
    user: str
    password: str
    database: str
    pool_size: int
    pool_timeout_s: float
    connect_timeout_s: float
    read_timeout_s: float
    write_timeout_s: float

    @classmethod
    def from_url(cls, url: str, *, password: str | None = None, **tuning: Any) -> MySQLOptions:
        parts = urlsplit(url)
        database = parts.path.lstrip("/")
        if parts.scheme not in ("mysql", "mysql+pymysql") or not parts.hostname or not database:
            raise ConfigurationError(
                "PIXY_DATABASE_URL: expected mysql://user:password@host:3306/database"
            )
        if parts.query:
            raise ConfigurationError("PIXY_DATABASE_URL: query options are not supported")
        return cls(
            host=parts.hostname,
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=password if password is not None else unquote(parts.password or ""),
            database=database,
            **tuning,
        )


class _MySQLCursor:
    def __init__(self, raw: pymysql.cursors.DictCursor) -> None:
        self._raw = raw

    def execute(self, sql: str, params: Params | None = None) -> int:
        return int(self._raw.execute(sql, dict(params) if params else None))

    def fetchone(self) -> Row | None:
        row: Row | None = self._raw.fetchone()
        return row

    def fetchall(self) -> list[Row]:
        return list(self._raw.fetchall())

    @property
    def lastrowid(self) -> int:
        return int(self._raw.lastrowid)


class MySQLDatabase:
    dialect: Dialect = "mysql"

    def __init__(self, options: MySQLOptions) -> None:
        self.options = options
        self._slots = threading.BoundedSemaphore(options.pool_size)
        self._in_use = 0
        self._lock = threading.Lock()
        self._checkout_gate = threading.Lock()
        self._pool = PooledDB(
            creator=_connect,
            maxconnections=options.pool_size,
            maxcached=options.pool_size,
            blocking=False,
            reset=False,  # only transactions opened with begin() are rolled back on return
            ping=0,  # reads are re-run after a lost connection, writes ping in begin()
            host=options.host,
            port=options.port,
            user=options.user,
            password=options.password,
            database=options.database,
            charset="utf8mb4",
            autocommit=True,
            cursorclass=pymysql.cursors.DictCursor,
            connect_timeout=options.connect_timeout_s,
            read_timeout=options.read_timeout_s,
            write_timeout=options.write_timeout_s,
            # A list page comes back as one GROUP_CONCAT of up to 101 guids: MySQL's
            # default limit (1024 bytes) would cut it short.
            init_command="SET time_zone = '+00:00', group_concat_max_len = 65536",
        )
        metrics.DB_POOL_SIZE.set(options.pool_size)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if not self._slots.acquire(blocking=False):
            metrics.DB_POOL_WAITS.inc()
            if not self._slots.acquire(timeout=self.options.pool_timeout_s):
                metrics.DB_POOL_TIMEOUTS.inc()
                raise DatabaseUnavailable("All database connections are busy; try again.")
        self._count(+1)
        try:
            connection = self._checkout()
            try:
                yield connection
            finally:
                connection.close()  # back to the pool
        finally:
            self._count(-1)
            self._slots.release()

    def _checkout(self) -> Any:
        """A pooled connection that is alive, or ``DatabaseUnavailable``.

        DBUtils pings and opens connections while it holds the pool's lock, so against a hung
        server one slow checkout would hold up every other in turn, far past any timeout.
        Waiting for our own gate first bounds that wait by ``pool_timeout_s``.
        """
        if not self._checkout_gate.acquire(timeout=self.options.pool_timeout_s):
            metrics.DB_POOL_TIMEOUTS.inc()
            raise DatabaseUnavailable()
        try:
            with _translated_errors():
                return self._pool.connection()
        finally:
            self._checkout_gate.release()

    def _count(self, delta: int) -> None:
        with self._lock:
            self._in_use += delta
            metrics.DB_POOL_IN_USE.set(self._in_use)

    @contextmanager
    def reading(self) -> Iterator[_MySQLCursor]:
        with self._connection() as connection, _translated_errors():
            cursor = connection.cursor()
            try:
                yield _MySQLCursor(cursor)
            finally:
                cursor.close()

    @contextmanager
    def writing(self) -> Iterator[_MySQLCursor]:
        with self._connection() as connection, _translated_errors():
            connection.begin()
            cursor = connection.cursor()
            try:
                yield _MySQLCursor(cursor)
                _commit(connection)
            except BaseException:
                _rollback_quietly(connection)
                raise
            finally:
                cursor.close()

    def pool_status(self) -> tuple[int, int]:
        return self._in_use, self.options.pool_size

    def close(self) -> None:
        self._pool.close()


class _Connection(pymysql.connections.Connection):
    _read_timeout: float | None  # pymysql's own, stable since 0.7; not in its stubs

    def connect(self, sock: Any = None) -> None:
        """Connect, with the handshake bounded by the connect timeout.

        pymysql waits for the server's greeting with the read timeout (meant for slow
        queries), so a server that accepts TCP but never answers would hold a request that
        long.
        """
        read_timeout, self._read_timeout = self._read_timeout, self.connect_timeout
        try:
            super().connect(sock)
        finally:
            self._read_timeout = read_timeout

    def begin(self) -> None:
        """Begin on a connection known to be alive: a transaction is never re-run."""
        try:
            self.ping(reconnect=False)
        except pymysql.err.MySQLError:
            self.connect()  # raises when the server is still unreachable
        super().begin()


def _connect(**options: Any) -> _Connection:
    return _Connection(**options)


_connect.dbapi = pymysql  # type: ignore[attr-defined]  # DBUtils finds the error classes here


def _commit(connection: Any) -> None:
    try:
        connection.commit()
    except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        if isinstance(exc, pymysql.err.InterfaceError) or code in _CONNECTION_LOST:
            raise CommitOutcomeUnknown() from exc
        raise  # the server answered: the transaction was not committed


def _rollback_quietly(connection: Any) -> None:
    # If the connection is gone, the server rolls the transaction back itself.
    with contextlib.suppress(pymysql.err.MySQLError):
        connection.rollback()


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except pymysql.err.IntegrityError as exc:
        if exc.args and exc.args[0] == _DUPLICATE_ENTRY:
            raise DuplicateKey(f"duplicate key: {exc.args[-1]}") from exc
        raise
    except TooManyConnections:
        raise DatabaseUnavailable("All database connections are busy; try again.") from None
    except (pymysql.err.OperationalError, pymysql.err.InternalError) as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        if code in _UNAVAILABLE_CODES:
            raise DatabaseUnavailable() from exc
        raise
    except pymysql.err.InterfaceError as exc:
        raise DatabaseUnavailable() from exc
