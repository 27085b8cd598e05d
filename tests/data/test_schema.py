"""One schema on both dialects: after ``migrate`` MySQL and SQLite have the same tables,
columns, keys and indexes; every field of a record is a column of its table; reading the
version changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pixyproxy.core.models import ImageFilter
from pixyproxy.data.database import Cursor, Database
from pixyproxy.data.idempotency import SqlIdempotencyRepository
from pixyproxy.data.images import IMAGES, SqlImageRepository
from pixyproxy.data.init import migrate, schema_version
from pixyproxy.data.schema import LATEST_VERSION, MIGRATIONS, VERSION_TABLE
from pixyproxy.data.sqlite import SQLiteDatabase
from tests.support.records import make_record

_INTEGER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}

# What one dialect has and the other spells differently or not at all, named here so the
# comparison leaves it out: a MySQL FULLTEXT index as (table, index name), SQLite's FTS5
# tables (and their shadow tables) by name. Collations are not compared at all.
MYSQL_ONLY_INDEXES: set[tuple[str, str]] = {("images", "ft_images_prompt_words")}
SQLITE_ONLY_TABLES: set[str] = {
    "images_fts", "images_fts_config", "images_fts_data", "images_fts_docsize", "images_fts_idx",
}  # fmt: skip


@dataclass(frozen=True)
class Column:
    name: str
    integer: bool  # MySQL's integer types and SQLite's INTEGER; everything else is text
    nullable: bool
    default: str | None


@dataclass(frozen=True)
class Shape:
    """What the code relies on of a table, in terms both dialects can state."""

    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    unique: frozenset[tuple[str, ...]]
    indexes: frozenset[tuple[str, tuple[str, ...]]]
    foreign_keys: frozenset[tuple[tuple[str, ...], str, tuple[str, ...], str]]


def shape(database: Database) -> dict[str, Shape]:
    with database.reading() as cursor:
        describe = _describe_mysql if database.dialect == "mysql" else _describe_sqlite
        return dict(describe(cursor))


def _describe_mysql(cursor: Cursor) -> Iterator[tuple[str, Shape]]:
    cursor.execute(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()"
    )
    for table in sorted(row["name"] for row in cursor.fetchall()):
        params = {"table": table}
        cursor.execute(
            "SELECT column_name AS name, data_type AS type, is_nullable AS nullable,"
            " column_default AS dflt FROM information_schema.columns"
            " WHERE table_schema = DATABASE() AND table_name = %(table)s"
            " ORDER BY ordinal_position",
            params,
        )
        columns = tuple(
            Column(
                row["name"],
                row["type"].lower() in _INTEGER_TYPES,
                row["nullable"] == "YES",
                _default(row["dflt"]),
            )
            for row in cursor.fetchall()
        )
        cursor.execute(
            "SELECT index_name AS name, non_unique AS non_unique, column_name AS col"
            " FROM information_schema.statistics"
            " WHERE table_schema = DATABASE() AND table_name = %(table)s"
            " ORDER BY index_name, seq_in_index",
            params,
        )
        keys: dict[str, tuple[bool, list[str]]] = {}
        for row in cursor.fetchall():
            keys.setdefault(row["name"], (not row["non_unique"], []))[1].append(row["col"])
        cursor.execute(
            "SELECT k.constraint_name AS name, k.column_name AS col,"
            " k.referenced_table_name AS ref, k.referenced_column_name AS ref_col,"
            " r.delete_rule AS on_delete"
            " FROM information_schema.key_column_usage k"
            " JOIN information_schema.referential_constraints r"
            " ON r.constraint_schema = k.constraint_schema"
            " AND r.constraint_name = k.constraint_name"
            " WHERE k.table_schema = DATABASE() AND k.table_name = %(table)s"
            " AND k.referenced_table_name IS NOT NULL"
            " ORDER BY k.constraint_name, k.ordinal_position",
            params,
        )
        fks: dict[str, tuple[list[str], str, list[str], str]] = {}
        for row in cursor.fetchall():
            fk = fks.setdefault(row["name"], ([], row["ref"], [], row["on_delete"]))
            fk[0].append(row["col"])
            fk[2].append(row["ref_col"])
        primary = tuple(keys.pop("PRIMARY", (True, []))[1])
        yield (
            table,
            Shape(
                columns=columns,
                primary_key=primary,
                unique=frozenset(tuple(cols) for unique, cols in keys.values() if unique),
                indexes=frozenset(
                    (name, tuple(cols)) for name, (unique, cols) in keys.items() if not unique
                ),
                foreign_keys=frozenset(
                    (tuple(cols), ref, tuple(ref_cols), on_delete.upper())
                    for cols, ref, ref_cols, on_delete in fks.values()
                ),
            ),
        )


def _describe_sqlite(cursor: Cursor) -> Iterator[tuple[str, Shape]]:
    cursor.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    for table in sorted(row["name"] for row in cursor.fetchall()):
        cursor.execute(f"PRAGMA table_info({table})")
        info = cursor.fetchall()
        columns = tuple(
            Column(
                row["name"],
                row["type"].upper() == "INTEGER",
                not row["notnull"] and not row["pk"],
                _default(row["dflt_value"]),
            )
            for row in info
        )
        primary = tuple(row["name"] for row in sorted(info, key=lambda r: r["pk"]) if row["pk"])
        cursor.execute(f"PRAGMA index_list({table})")
        unique, indexes = set(), set()
        for index in cursor.fetchall():
            if index["origin"] == "pk":
                continue
            cursor.execute(f"PRAGMA index_info({index['name']})")
            cols = tuple(row["name"] for row in sorted(cursor.fetchall(), key=lambda r: r["seqno"]))
            if index["unique"]:
                unique.add(cols)
            else:
                indexes.add((index["name"], cols))
        cursor.execute(f"PRAGMA foreign_key_list({table})")
        fks: dict[int, tuple[list[str], str, list[str], str]] = {}
        for row in sorted(cursor.fetchall(), key=lambda r: (r["id"], r["seq"])):
            fk = fks.setdefault(row["id"], ([], row["table"], [], row["on_delete"]))
            fk[0].append(row["from"])
            fk[2].append(row["to"])
        yield (
            table,
            Shape(
                columns=columns,
                primary_key=primary,
                unique=frozenset(unique),
                indexes=frozenset(indexes),
                foreign_keys=frozenset(
                    (tuple(cols), ref, tuple(ref_cols), on_delete.upper())
                    for cols, ref, ref_cols, on_delete in fks.values()
                ),
            ),
        )


def _default(value: Any) -> str | None:
    """MariaDB reports NULL defaults as the text NULL, SQLite as no default."""
    return None if value is None or str(value).upper() == "NULL" else str(value)


@pytest.mark.mysql
def test_both_dialects_migrate_to_the_same_schema(
    sqlite_database: Database, mysql_database: Database
) -> None:
    sqlite, mysql = shape(sqlite_database), shape(mysql_database)
    for name in SQLITE_ONLY_TABLES:
        del sqlite[name]
    for table, index in MYSQL_ONLY_INDEXES:
        shown = mysql[table]
        kept = frozenset(entry for entry in shown.indexes if entry[0] != index)
        mysql[table] = replace(shown, indexes=kept)
    assert sorted(sqlite) == sorted(mysql)
    for table in sqlite:
        assert sqlite[table] == mysql[table], table
    assert set(sqlite) == {
        "images", "image_tags", "image_changes", "idempotency_keys", "generation_counts",
        "schema_version",
    }  # fmt: skip


def test_every_field_of_an_image_is_a_column(database: Database) -> None:
    columns = [column.name for column in shape(database)["images"].columns]
    assert sorted(columns) == sorted([*IMAGES.read, "prompt_words"])  # and q's words
    assert "tags" not in columns and "id" in columns
    assert "id" not in IMAGES.written


def test_every_migration_is_written_for_both_dialects() -> None:
    assert list(MIGRATIONS) == list(range(1, LATEST_VERSION + 1))  # in order, none missing
    for version, statements in MIGRATIONS.items():
        assert statements.mysql and statements.sqlite, version


def test_reading_the_version_runs_no_ddl(tmp_path: Path) -> None:
    database = SQLiteDatabase(str(tmp_path / "fresh.db"))
    try:
        assert schema_version(database) == 0
        with database.reading() as cursor:
            cursor.execute("SELECT name FROM sqlite_master")
            assert cursor.fetchall() == [], "reading the version created something"
        assert migrate(database) == list(range(1, LATEST_VERSION + 1))
        assert schema_version(database) == LATEST_VERSION
        assert migrate(database) == []
    finally:
        database.close()


@pytest.mark.mysql
def test_reading_the_version_of_an_empty_mysql_database_runs_no_ddl(
    empty_mysql_database: Database,
) -> None:
    assert schema_version(empty_mysql_database) == 0
    with empty_mysql_database.reading() as cursor:
        cursor.execute(
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE()"
        )
        row = cursor.fetchone()
    assert row is not None and row["n"] == 0


@pytest.mark.mysql
def test_migrating_an_existing_database_makes_its_identities_exact(
    empty_mysql_database: Database,
) -> None:
    """A database made before migration 3 keeps its rows, and from then on "ALICE" and
    "alice " are not alice: not as a viewer, an author filter or an owner of keys."""
    database = empty_mysql_database
    with database.writing() as cursor:
        for statement in VERSION_TABLE.mysql + MIGRATIONS[1].mysql + MIGRATIONS[2].mysql:
            assert isinstance(statement, str)
            cursor.execute(statement)
        cursor.execute("INSERT INTO schema_version VALUES (1, NOW(6)), (2, NOW(6))")
        cursor.execute(  # a claim as version 2 made it
            "INSERT INTO idempotency_keys VALUES ('José', 'k', 'h', 'pending', NULL,"
            " UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL 1 MINUTE)"
        )
        made = make_record(author="José", private=True)  # an image as version 2 wrote it
        cursor.execute(IMAGES.insert("images"), IMAGES.to_params(made))
    repo = SqlImageRepository(database)
    secret = repo.get(made.guid, viewer="JOSÉ")  # the defect: folded alike
    assert secret is not None

    assert migrate(database) == list(range(3, LATEST_VERSION + 1))
    keys, now = SqlIdempotencyRepository(database), datetime.now(UTC)
    assert repo.get(secret.guid, viewer="José") == secret  # the author is unchanged
    for other in ("JOSÉ", "jose", "José ", "Jose\u0301"):
        assert repo.get(secret.guid, viewer=other) is None, other
        page = repo.list(viewer=other, filter=ImageFilter(author="José"), limit=5, after=None)
        assert page.guids == []
        assert keys.claim(other, "k", "h", now=now, ttl_s=60, stale_s=60).outcome == "claimed"
    assert keys.claim("José", "k", "h", now=now, ttl_s=60, stale_s=60).outcome == "in_progress"
