"""Every list query shape reads through an index at 100,000 images, on MariaDB/MySQL and on
SQLite: the first page, a cursor page, the tag, author and ``q`` filters and their
combinations, for an anonymous and for a signed-in viewer (whose own private images are
a set of their own: ``data/images.py``'s ``list_query``).

On MySQL, EXPLAIN shows no table read whole (access type ALL), and the rows a page reads
(the session's handler counters, which MySQL and MariaDB both keep) stay a small multiple
of the page for every shape; a ``q`` page reads its window more, the ``WORD_SCAN_ROWS``
newest images its words are looked for in before the full-text index is asked
(``word_scan_query``). On SQLite, EXPLAIN QUERY PLAN never says ``SCAN i``.
The tables are seeded in one statement each (INSERT ... SELECT from a numbers table)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pymysql
import pytest

from pixyproxy.core.models import ImageFilter
from pixyproxy.core.settings import load_settings
from pixyproxy.data.database import Cursor, Database, Dialect
from pixyproxy.data.images import WORD_SCAN_ROWS, list_query, words_are_common
from pixyproxy.data.init import migrate, open_database
from pixyproxy.data.search import WORD_MARK, token
from tests.support.mysql import (
    admin_connection,
    mysql_base_url,
    mysql_required,
    throwaway_database,
)

ROWS = 100_000
PAGE = 51
VIEWER = "user3"  # has public and private images
_DIGITS = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
# 0..99999 on MySQL and MariaDB alike (no sequence engine, no recursion limits).
NUMBERS = (
    "SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * g.d AS n"
    f" FROM ({_DIGITS}) a, ({_DIGITS}) b, ({_DIGITS}) c, ({_DIGITS}) e, ({_DIGITS}) g"
)
# Every prompt is "prompt <n>"; one in ten also holds "fox" (a common word), and each
# number is a rare one. The search words are written as the repository writes them.
_PROMPT = {
    "mysql": "CONCAT('prompt ', n, IF(n % 10 = 0, ' fox', ''))",
    "sqlite": "'prompt ' || n || iif(n % 10 = 0, ' fox', '')",
}
_WORDS = {
    "mysql": f"CONCAT('{token('prompt')} {WORD_MARK}', n, IF(n % 10 = 0, ' {token('fox')}', ''))",
    "sqlite": f"'{token('prompt')} {WORD_MARK}' || n || iif(n % 10 = 0, ' {token('fox')}', '')",
}
_IMAGES = (
    "INSERT INTO images (guid, filename, prompt, prompt_words, author, private, size_bytes,"
    " width, height, model, sha256, created_at, updated_at)"
    " SELECT {guid}, 'f.png', {prompt}, {words}, {author}, n % 7 = 0, 1, 1024,"
    " 1024, 'm', 'h', '2025-01-01', '2025-01-01' FROM ({numbers}) numbers WHERE n < {rows}"
)
# Image ``id`` (``n + 1``) has tag ``tag<id % 40>`` and author ``user<n % 50>``.
_TAGS = "INSERT INTO image_tags (image_id, tag, position) SELECT id, {tag}, 0 FROM images"
_AUTHOR = {"mysql": "CONCAT('user', n % 50)", "sqlite": "'user' || (n % 50)"}
_TAG = {"mysql": "CONCAT('tag', id % 40)", "sqlite": "'tag' || (id % 40)"}

FILTERS = [
    ImageFilter(),
    ImageFilter(tag="tag7"),
    ImageFilter(author="user3"),
    ImageFilter(author="user4"),
    ImageFilter(q="12345"),
    ImageFilter(q="fox"),
    ImageFilter(tag="tag8", author="user7"),
    ImageFilter(tag="tag1", q="fox"),
    ImageFilter(author="user3", q="prompt 12"),
    ImageFilter(tag="tag4", author="user3", q="prompt"),
]
SHAPES = [
    pytest.param(filter, viewer, after, id=f"{filter!r}-{viewer}-{'cursor' if after else 'first'}")
    for filter in FILTERS
    for viewer in (None, VIEWER)
    for after in (None, 50_000)
]


def _seed(database: Database, *, guid: str, numbers: str, prefix: str = "") -> None:
    dialect = database.dialect
    images = _IMAGES.format(
        guid=guid,
        prompt=_PROMPT[dialect],
        words=_WORDS[dialect],
        author=_AUTHOR[dialect],
        numbers=numbers,
        rows=ROWS,
    )
    with database.writing() as cursor:
        cursor.execute(prefix + images)
        cursor.execute(_TAGS.format(tag=_TAG[dialect]))
    with database.reading() as cursor:
        cursor.execute("ANALYZE TABLE images, image_tags" if dialect == "mysql" else "ANALYZE")
        cursor.fetchall()


@pytest.fixture(scope="module")
def mariadb() -> Iterator[Database]:
    try:
        admin = admin_connection(mysql_base_url())
    except pymysql.err.MySQLError as exc:
        if mysql_required():
            pytest.fail(f"MySQL not reachable ({exc}); PIXY_REQUIRE_MYSQL is set")
        pytest.skip(f"MySQL not reachable ({exc})")
    with admin, throwaway_database(admin, mysql_base_url()) as url:
        database = open_database(load_settings(secrets_dirs=(), database_url=url))
        migrate(database)
        _seed(database, guid="UUID()", numbers=NUMBERS)
        yield database
        database.close()


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path: Path = tmp_path_factory.mktemp("plans") / "plans.db"
    database = open_database(load_settings(secrets_dirs=(), database_url=f"sqlite:///{path}"))
    migrate(database)
    _seed(
        database,
        guid="printf('%08x-0000-4000-8000-%012x', n, n)",
        numbers="SELECT n FROM c",
        prefix=f"WITH RECURSIVE c(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM c WHERE n < {ROWS}) ",
    )
    yield database
    database.close()


def guid_at(database: Database, position: int) -> UUID:
    with database.reading() as cursor:
        cursor.execute("SELECT guid FROM images ORDER BY id LIMIT 1 OFFSET %(n)s", {"n": position})
        row = cursor.fetchone()
    assert row is not None
    return UUID(row["guid"])


def query(
    database: Database, filter: ImageFilter, viewer: str | None, after: int | None
) -> tuple[str, dict[str, Any]]:
    """The page's SQL, as the repository makes it (on MySQL a ``q`` first asks
    ``words_are_common``)."""
    dialect: Dialect = database.dialect
    cursor_guid = guid_at(database, after) if after is not None else None
    return list_query(
        viewer=viewer,
        filter=filter,
        limit=PAGE,
        after=cursor_guid,
        dialect=dialect,
        scan_words=scans_words(database, filter, viewer, cursor_guid),
    )


def scans_words(
    database: Database, filter: ImageFilter, viewer: str | None, after: UUID | None
) -> bool:
    if filter.q is None or database.dialect != "mysql":
        return False
    with database.reading() as cursor:
        return words_are_common(cursor, viewer, filter, PAGE, after, WORD_SCAN_ROWS)


def explained_tables(database: Database, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with database.reading() as cursor:
        cursor.execute("EXPLAIN FORMAT=JSON " + sql, params)
        row = cursor.fetchone()
    assert row is not None
    tables: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("table"), dict):
                tables.append(node["table"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(next(iter(row.values()))))
    return tables


def rows_read(cursor: Cursor) -> int:
    cursor.execute("SHOW SESSION STATUS LIKE 'Handler_read%%'")
    return sum(int(row["Value"]) for row in cursor.fetchall())


@pytest.mark.mysql
@pytest.mark.parametrize(("filter", "viewer", "after"), SHAPES)
def test_no_list_shape_reads_a_table_whole_on_mysql(
    mariadb: Database, filter: ImageFilter, viewer: str | None, after: int | None
) -> None:
    sql, params = query(mariadb, filter, viewer, after)
    tables = explained_tables(mariadb, sql, params)
    assert any(t["table_name"] == "i" for t in tables), tables
    for table in tables:
        if not table["table_name"].startswith(("<derived", "<union")):  # a page, or two
            assert table["access_type"] != "ALL", table
    cursor_guid = guid_at(mariadb, after) if after is not None else None
    full_text = any(t.get("access_type") == "fulltext" for t in tables)
    if filter.q is not None:  # the public images through the full-text index, or the newest
        assert full_text != scans_words(mariadb, filter, viewer, cursor_guid), tables
    with mariadb.reading() as cursor:
        before = rows_read(cursor)
        if filter.q is not None:
            words_are_common(cursor, viewer, filter, PAGE, cursor_guid, WORD_SCAN_ROWS)
        window = rows_read(cursor) - before
        cursor.execute(sql, params)
        row = cursor.fetchone()
        read = rows_read(cursor) - before - window
    assert row is not None and row["guids"], "every shape has images"
    # A q's window reads each of its images, the private ones it passes over, each one's
    # tag when a tag is asked for, and the derived table it fills: four reads an image at
    # most. A page found in the window stops within it.
    assert window <= 4 * WORD_SCAN_ROWS, f"{window} rows read in the window"
    if filter.q is not None and not full_text:
        assert read <= window, f"{read} rows read for a page the window held ({window})"
    else:
        assert read < 40 * PAGE, f"{read} rows read for a page of {PAGE} ({ROWS} images)"


@pytest.mark.mysql
@pytest.mark.parametrize(
    ("q", "scanned"), [("fox", True), ("prompt", True), ("12345", False), ("prompt 9999", False)]
)
def test_a_common_word_is_found_among_the_newest_images_a_rare_one_by_the_index(
    mariadb: Database, q: str, scanned: bool
) -> None:
    """One prompt in ten holds "fox": a page of it is among the newest 5,000 images; a
    number is in one prompt (or a few, as a prefix), which the index finds at once."""
    assert scans_words(mariadb, ImageFilter(q=q), None, None) is scanned
    assert scans_words(mariadb, ImageFilter(q=q), None, guid_at(mariadb, 60_000)) is scanned


@pytest.mark.parametrize(("filter", "viewer", "after"), SHAPES)
def test_no_list_shape_scans_images_on_sqlite(
    sqlite: Database, filter: ImageFilter, viewer: str | None, after: int | None
) -> None:
    sql, params = query(sqlite, filter, viewer, after)
    with sqlite.reading() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = [row["detail"] for row in cursor.fetchall()]
        cursor.execute(sql, params)
        assert cursor.fetchall(), "every shape has images"
    assert not [step for step in plan if step.startswith(("SCAN i", "SCAN t", "SCAN a"))], plan
