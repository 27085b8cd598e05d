"""The bench's own MariaDB/MySQL database: where it is, connecting, creating its schema."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql

from pixyproxy.core.settings import load_settings
from pixyproxy.data.init import migrate as migrate_database
from pixyproxy.data.init import open_database

DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/pixyproxy_bench"


class SeedError(RuntimeError):
    """The database or the store could not be prepared."""


@dataclass(frozen=True)
class MySQLTarget:
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_url(cls, url: str) -> MySQLTarget:
        parts = urlsplit(url)
        database = parts.path.lstrip("/")
        if parts.scheme not in ("mysql", "mysql+pymysql") or not database:
            raise SeedError(f"expected mysql://user:password@host:port/database, got {url!r}")
        if not database.replace("_", "").isalnum():
            raise SeedError(f"database name {database!r}: letters, digits and '_' only")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=database,
        )

    @property
    def url(self) -> str:
        """The URL for ``PIXY_DATABASE_URL`` (password included: it is a local bench server)."""
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"mysql://{auth}@{self.host}:{self.port}/{self.database}"

    def with_suffix(self, suffix: str) -> MySQLTarget:
        """Another database of the same server: ``<database>_<suffix>``."""
        return replace(self, database=f"{self.database}_{suffix}")

    def connect(
        self, *, database: bool = True, local_infile: bool = False
    ) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database if database else None,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
            local_infile=local_infile,
        )


def migrate(target: MySQLTarget) -> None:
    """The package's own schema, through ``pixyproxy.data.init.migrate``."""
    settings = load_settings(secrets_dirs=(), database_url=target.url, db_pool_size=2)
    database = open_database(settings)
    try:
        migrate_database(database)
    finally:
        database.close()


def drop_database(target: MySQLTarget) -> None:
    with target.connect(database=False) as admin, admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{target.database}`")


# ``make bench-scale``: the server's buffer pool during the run. The million-image database
# is about 0.7 GB of rows and indexes; in MariaDB's default 128 MiB pool a random detail
# was a disk read, and the growth factors measured the disk rather than PixyProxy.
SCALE_BUFFER_POOL_BYTES = 2 * 1024**3
_RESIZE_WAIT_S = 120.0


def _buffer_pool_bytes(cursor: Any) -> int:
    cursor.execute("SELECT @@innodb_buffer_pool_size")
    (size,) = cursor.fetchone()
    return int(size)


def _resize_buffer_pool(target: MySQLTarget, size: int) -> int:
    """Ask for ``size`` bytes of buffer pool (MariaDB and MySQL resize online) and wait
    until the server has it; the size it settled on."""
    with target.connect(database=False) as admin, admin.cursor() as cursor:
        cursor.execute("SET GLOBAL innodb_buffer_pool_size = %s", (size,))
        deadline = time.monotonic() + _RESIZE_WAIT_S
        while (now := _buffer_pool_bytes(cursor)) < size and time.monotonic() < deadline:
            time.sleep(0.5)
        return now


@contextmanager
def buffer_pool_of_at_least(target: MySQLTarget, size: int) -> Iterator[dict[str, Any]]:
    """The server's buffer pool raised to ``size`` for the block, put back after; what it
    was and what it is, for the results. A user who may not resize it (no SUPER or
    SYSTEM_VARIABLES_ADMIN) runs on the pool as it is, and the results say why."""
    with target.connect(database=False) as admin, admin.cursor() as cursor:
        before = _buffer_pool_bytes(cursor)
    during, refused = before, None
    if before < size:
        try:
            during = _resize_buffer_pool(target, size)
        except pymysql.err.OperationalError as exc:
            refused = f"not raised: {exc.args[-1]}"
    try:
        yield {"before_bytes": before, "during_bytes": during, "refused": refused}
    finally:
        if during != before:
            _resize_buffer_pool(target, before)


def preload(target: MySQLTarget) -> None:
    """Read the images and their tags through each index once, so the run starts with them
    in the buffer pool, as a server that has served them a while has them."""
    with target.connect() as connection, connection.cursor() as cursor:
        for table, index in (
            ("images", "PRIMARY"),
            ("images", "uq_images_guid"),
            ("images", "ix_images_author"),
            ("images", "ix_images_private"),
            ("image_tags", "PRIMARY"),
            ("image_tags", "ix_image_tags_tag"),
        ):
            cursor.execute(f"SELECT COUNT(*) FROM {table} FORCE INDEX (`{index}`)")
            cursor.fetchall()
