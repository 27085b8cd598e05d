"""The list queries use indexes on MySQL/MariaDB: no full scan of ``images`` for the tag and
author filters, checked with EXPLAIN on a table large enough for the optimizer to care."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest

from pixyproxy.core.models import ImageFilter
from pixyproxy.data.database import Cursor, Database
from pixyproxy.data.images import list_query

pytestmark = pytest.mark.mysql

ROWS = 5000
_DIGITS = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
# 0..9999 on MySQL and MariaDB alike (no sequence engine, no recursion limits).
NUMBERS = (
    "SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d AS n"
    f" FROM ({_DIGITS}) a, ({_DIGITS}) b, ({_DIGITS}) c, ({_DIGITS}) e"
)


@pytest.fixture
def seeded(mysql_database: Database) -> Database:
    with mysql_database.writing() as cursor:
        cursor.execute(
            "INSERT INTO images (guid, filename, prompt, author, private, size_bytes, width,"
            " height, model, sha256, created_at, updated_at)"
            " SELECT UUID(), 'f.png', CONCAT('prompt ', n), CONCAT('user', n % 50),"
            " n % 7 = 0, 1, 1024, 1024, 'm', REPEAT('a', 64), NOW(6), NOW(6)"
            f" FROM ({NUMBERS}) numbers WHERE n < {ROWS}"
        )
        cursor.execute(
            "INSERT INTO image_tags (image_id, tag, position)"
            " SELECT id, CONCAT('tag', id % 40), 0 FROM images"
        )
        cursor.execute("ANALYZE TABLE images, image_tags")
        cursor.fetchall()
    return mysql_database


def explain(database: Database, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with database.reading() as cursor:
        cursor.execute("EXPLAIN FORMAT=JSON " + sql, params)
        row = cursor.fetchone()
    assert row is not None
    plan = json.loads(next(iter(row.values())))
    tables: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "table" in node and isinstance(node["table"], dict):
                tables.append(node["table"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan)
    return tables


def guid_of(database: Database, position: int) -> UUID:
    """The guid of the image inserted ``position``-th (from 0)."""
    with database.reading() as cursor:
        cursor.execute("SELECT guid FROM images ORDER BY id LIMIT 1 OFFSET %(n)s", {"n": position})
        row = cursor.fetchone()
    assert row is not None
    return UUID(row["guid"])


@pytest.mark.parametrize(
    ("filter", "after_position"),
    [
        (ImageFilter(tag="tag7"), None),
        (ImageFilter(tag="tag7"), 2500),
        (ImageFilter(author="user3"), None),
        (ImageFilter(author="user3"), 2500),
        (ImageFilter(tag="tag7", author="user7"), None),
    ],
)
def test_filtered_lists_do_not_scan_images(
    seeded: Database, filter: ImageFilter, after_position: int | None
) -> None:
    after = guid_of(seeded, after_position) if after_position else None
    sql, params = list_query(viewer="user3", filter=filter, limit=51, after=after)
    tables = explain(seeded, sql, params)
    images = [t for t in tables if t["table_name"] == "i"]
    assert images, tables
    for table in tables:
        if not table["table_name"].startswith("<derived"):  # the page itself, at most 51 rows
            assert table["access_type"] != "ALL", table
    assert images[0]["access_type"] in ("ref", "eq_ref", "range", "const"), images[0]


def test_unfiltered_list_reads_the_primary_key_backwards(seeded: Database) -> None:
    sql, params = list_query(viewer=None, filter=ImageFilter(), limit=51, after=None)
    (images,) = [t for t in explain(seeded, sql, params) if t["table_name"] == "i"]
    assert images["access_type"] in ("index", "range"), images
    assert images.get("key") == "PRIMARY", images


def test_a_deep_page_starts_at_its_cursor(seeded: Database) -> None:
    """The cursor's id comes from a subquery on the unique guid, evaluated once, so a deep
    page is a range read from the cursor on, not a scan from the newest image down.

    Counted with the session's handler counters, which MySQL and MariaDB both keep."""
    after = guid_of(seeded, 1000)
    sql, params = list_query(viewer=None, filter=ImageFilter(), limit=51, after=after)
    with seeded.reading() as cursor:
        before = rows_read(cursor)
        cursor.execute(sql, params)
        row = cursor.fetchone()
        assert row is not None and len(row["guids"].split(",")) == 51
        read = rows_read(cursor) - before
    assert read < 200, f"{read} index entries read for a page of 51 ({ROWS} rows in all)"


def rows_read(cursor: Cursor) -> int:
    cursor.execute("SHOW SESSION STATUS LIKE 'Handler_read%%'")
    return sum(int(row["Value"]) for row in cursor.fetchall())
