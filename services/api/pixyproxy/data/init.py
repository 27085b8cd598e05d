"""Build the database from settings and bring its schema up to date.

``migrate`` is idempotent and safe when several pods run it at once: on MySQL it holds a
named lock (``GET_LOCK``) while it reads the version and applies what is missing; on
SQLite an immediate transaction does the same.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pixyproxy.core.errors import ConfigurationError, DatabaseUnavailable
from pixyproxy.core.settings import Settings
from pixyproxy.data.database import Cursor, Database, db_timestamp
from pixyproxy.data.mysql import MySQLDatabase, MySQLOptions
from pixyproxy.data.schema import MIGRATIONS, VERSION_TABLE, Step
from pixyproxy.data.sqlite import SQLiteDatabase, sqlite_path

MIGRATION_LOCK = "pixyproxy.schema"
MIGRATION_LOCK_TIMEOUT_S = 120


def open_database(settings: Settings) -> Database:
    url = settings.database_url.get_secret_value()
    if url.startswith("sqlite:"):
        return SQLiteDatabase(sqlite_path(url), busy_timeout_s=settings.db_pool_timeout_s)
    return MySQLDatabase(_mysql_options(settings))


def _mysql_options(settings: Settings) -> MySQLOptions:
    url = settings.database_url.get_secret_value()
    if not url.startswith("mysql"):
        raise ConfigurationError("PIXY_DATABASE_URL: expected a sqlite:/// or mysql:// URL")
    password = settings.database_password
    return MySQLOptions.from_url(
        url,
        password=password.get_secret_value() if password else None,
        pool_size=settings.db_pool_size,
        pool_timeout_s=settings.db_pool_timeout_s,
        connect_timeout_s=settings.db_connect_timeout_s,
        read_timeout_s=settings.db_read_timeout_s,
        write_timeout_s=settings.db_write_timeout_s,
    )


def migrate(database: Database) -> list[int]:
    """Apply every missing migration; returns the versions applied (empty when up to date)."""
    if database.dialect == "mysql":
        with database.reading() as cursor:  # one connection: the lock belongs to it
            cursor.execute(
                "SELECT GET_LOCK(%(name)s, %(timeout)s) AS locked",
                {"name": MIGRATION_LOCK, "timeout": MIGRATION_LOCK_TIMEOUT_S},
            )
            row = cursor.fetchone()
            if not row or row["locked"] != 1:
                raise DatabaseUnavailable("Another schema migration is still running.")
            try:
                return _apply(database, cursor)
            finally:
                cursor.execute("SELECT RELEASE_LOCK(%(name)s)", {"name": MIGRATION_LOCK})
    with database.writing() as cursor:
        return _apply(database, cursor)


def schema_version(database: Database) -> int:
    """The version the schema is at (0 before the first migration); reads only."""
    with database.reading() as cursor:
        cursor.execute(_VERSION_TABLE_EXISTS[database.dialect])
        row = cursor.fetchone()
        if not row or not row["found"]:
            return 0
        return _current_version(cursor)


# Whether the version table is there, asked of each dialect's catalogue.
_VERSION_TABLE_EXISTS = {
    "mysql": "SELECT COUNT(*) AS found FROM information_schema.tables"
    " WHERE table_schema = DATABASE() AND table_name = 'schema_version'",
    "sqlite": "SELECT COUNT(*) AS found FROM sqlite_master"
    " WHERE type = 'table' AND name = 'schema_version'",
}


def _current_version(cursor: Cursor) -> int:
    cursor.execute("SELECT COALESCE(MAX(version), 0) AS version FROM schema_version")
    row = cursor.fetchone()
    return int(row["version"]) if row else 0


def _apply(database: Database, cursor: Cursor) -> list[int]:
    _run(VERSION_TABLE.for_dialect(database.dialect), cursor)
    applied = []
    current = _current_version(cursor)
    for version in sorted(v for v in MIGRATIONS if v > current):
        _run(MIGRATIONS[version].for_dialect(database.dialect), cursor)
        cursor.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (%(version)s, %(at)s)",
            {"version": version, "at": db_timestamp(datetime.now(UTC))},
        )
        applied.append(version)
    return applied


def _run(steps: tuple[Step, ...], cursor: Cursor) -> None:
    for step in steps:
        if isinstance(step, str):
            cursor.execute(step)
        else:
            step(cursor)
