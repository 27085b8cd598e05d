"""The image repository: its contract and its one SQL implementation for both dialects.

Visibility is part of every query: a private image exists only for its author, so callers
can never learn about one they may not see, whatever filter or cursor they send.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol
from uuid import UUID

from pixyproxy.core.models import ImageFilter, ImagePage, ImageRecord
from pixyproxy.data.database import Cursor, Database, Dialect, expand_list
from pixyproxy.data.records import Columns

# The images table is the record's fields; its tags live in image_tags.
IMAGES = Columns(ImageRecord, generated=["id"], elsewhere=["tags"])
_COLUMNS = IMAGES.select("i")
_INSERT = IMAGES.insert("images")


def _visible(alias: str) -> str:
    """The visibility rule, for the ``images`` row named ``alias``."""
    return f"({alias}.private = 0 OR {alias}.author = %(viewer)s)"


_VISIBLE = _visible("i")
_LIKE_ESCAPE = "!"
# ``q``: the prompts that contain it, code point for code point (README, "Search"): case,
# accents, spaces and invisible characters count, and nothing in it is a wildcard. MySQL's
# LIKE under a binary collation (the column's own folds case and accents, and ignores some
# characters) with LIKE's wildcards escaped; SQLite's instr(), which compares bytes (its
# LIKE folds ASCII case).
_CONTAINS = {
    "mysql": f"i.prompt COLLATE utf8mb4_bin LIKE %(q)s ESCAPE '{_LIKE_ESCAPE}'",
    "sqlite": "instr(i.prompt, %(q)s) > 0",
}


class ImageRepository(Protocol):
    def insert(self, record: ImageRecord) -> ImageRecord:
        """Store a new image and its tags in one transaction; returns it with its id."""
        ...

    def get(self, guid: UUID, *, viewer: str | None) -> ImageRecord | None:
        """The image if it exists and ``viewer`` may see it."""
        ...

    def get_many(self, guids: Sequence[str], *, viewer: str | None) -> list[ImageRecord]:
        """Those of the images that exist and ``viewer`` may see, in no particular order."""
        ...

    def list(
        self, *, viewer: str | None, filter: ImageFilter, limit: int, after: UUID | None
    ) -> ImagePage:
        """The guids of up to ``limit`` visible images, newest first, older than ``after``.

        An ``after`` that names no image the viewer may see gives an empty page marked
        ``after_missing``, never an empty list that looks like the end."""
        ...

    def exists(self, guid: UUID) -> bool:
        """Whether a row exists, whoever may see it."""
        ...

    def delete(self, guid: UUID) -> bool: ...

    def iter_files(self) -> Iterator[tuple[UUID, str]]:
        """(guid, filename) of every image, for reconciling with the image store."""
        ...

    def guid_page(self, after: UUID | None, limit: int) -> Sequence[UUID]:
        """The next ``limit`` guids after ``after`` in the order of their text (keyset, on
        the unique index): how ``storage check`` pages the rows beside the store's scan."""
        ...


class SqlImageRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    def insert(self, record: ImageRecord) -> ImageRecord:
        """Two statements whatever the tags: how long a write can take is bounded by its
        round trips (``deadlines.py``)."""
        with self._db.writing() as cursor:
            cursor.execute(_INSERT, IMAGES.to_params(record))
            image_id = cursor.lastrowid
            if record.tags:
                rows = ", ".join(
                    f"(%(image_id)s, %(tag_{i})s, {i})" for i in range(len(record.tags))
                )
                tags = {f"tag_{i}": tag for i, tag in enumerate(record.tags)}
                cursor.execute(
                    f"INSERT INTO image_tags (image_id, tag, position) VALUES {rows}",
                    {"image_id": image_id, **tags},
                )
        return record.model_copy(update={"id": image_id})

    def get(self, guid: UUID, *, viewer: str | None) -> ImageRecord | None:
        with self._db.reading() as cursor:
            cursor.execute(
                f"SELECT {_COLUMNS} FROM images i WHERE i.guid = %(guid)s AND {_VISIBLE}",
                {"guid": str(guid), "viewer": viewer},
            )
            row = cursor.fetchone()
            if row is None:
                return None
            tags = _tags_by_image(cursor, [row["id"]])
        return IMAGES.to_record(row, tags=tags.get(row["id"], []))

    def get_many(self, guids: Sequence[str], *, viewer: str | None) -> list[ImageRecord]:
        if not guids:
            return []
        placeholders, params = expand_list("guid", list(guids))
        with self._db.reading() as cursor:
            cursor.execute(
                f"SELECT {_COLUMNS} FROM images i WHERE i.guid IN ({placeholders}) AND {_VISIBLE}",
                {**params, "viewer": viewer},
            )
            rows = cursor.fetchall()
            tags = _tags_by_image(cursor, [row["id"] for row in rows])
        return [IMAGES.to_record(row, tags=tags.get(row["id"], [])) for row in rows]

    def list(
        self, *, viewer: str | None, filter: ImageFilter, limit: int, after: UUID | None
    ) -> ImagePage:
        dialect = self._db.dialect
        with self._db.reading() as cursor:
            cursor.execute(
                *list_query(
                    viewer=viewer, filter=filter, limit=limit + 1, after=after, dialect=dialect
                )
            )
            rows = cursor.fetchall()
            if dialect == "mysql":
                text = rows[0]["guids"] if rows else None
                guids = text.split(",") if text else []
            else:
                guids = [row["guid"] for row in rows]
            if not guids and after is not None and not _visible_image(cursor, after, viewer):
                return ImagePage(guids=[], more=False, after_missing=True)
        return ImagePage(guids=guids[:limit], more=len(guids) > limit)

    def exists(self, guid: UUID) -> bool:
        with self._db.reading() as cursor:
            cursor.execute(
                "SELECT 1 AS found FROM images WHERE guid = %(guid)s", {"guid": str(guid)}
            )
            return cursor.fetchone() is not None

    def delete(self, guid: UUID) -> bool:
        with self._db.writing() as cursor:
            return (
                cursor.execute("DELETE FROM images WHERE guid = %(guid)s", {"guid": str(guid)}) > 0
            )

    def guid_page(self, after: UUID | None, limit: int) -> Sequence[UUID]:
        # guid is ASCII text compared bytewise (ascii_bin; SQLite's BINARY): the store's
        # listing order. The empty string sorts before every guid.
        with self._db.reading() as cursor:
            cursor.execute(
                "SELECT guid FROM images WHERE guid > %(after)s ORDER BY guid LIMIT %(limit)s",
                {"after": "" if after is None else str(after), "limit": limit},
            )
            return [UUID(row["guid"]) for row in cursor.fetchall()]

    def iter_files(self) -> Iterator[tuple[UUID, str]]:
        last_id, batch = 0, 1000
        while True:
            with self._db.reading() as cursor:
                cursor.execute(
                    "SELECT id, guid, filename FROM images WHERE id > %(last)s"
                    " ORDER BY id LIMIT %(batch)s",
                    {"last": last_id, "batch": batch},
                )
                rows = cursor.fetchall()
            for row in rows:
                yield UUID(row["guid"]), row["filename"]
            if len(rows) < batch:
                return
            last_id = rows[-1]["id"]


def list_query(
    *,
    viewer: str | None,
    filter: ImageFilter,
    limit: int,
    after: UUID | None,
    dialect: Dialect = "mysql",
) -> tuple[str, dict[str, Any]]:
    """The SQL of one list page: guids only, keyset on the id, newest first, visibility
    always applied. The cursor's image is found in the same query (a constant subquery on
    the unique guid), so a page is one round trip.

    On MySQL the page comes back as one row, its guids joined by commas: pymysql decodes
    every row in Python, and fifty of them cost more than one. (SQLite, the embedded
    default, cannot order inside ``group_concat`` before 3.44 and answers row by row.)"""
    params: dict[str, Any] = {"viewer": viewer, "limit": limit}
    joins, conditions = "", [_VISIBLE]
    if filter.tag is not None:
        joins = " JOIN image_tags t ON t.image_id = i.id AND t.tag = %(tag)s"
        params["tag"] = filter.tag
    if filter.author is not None:
        conditions.append("i.author = %(author)s")
        params["author"] = filter.author
    if filter.q is not None:
        conditions.append(_CONTAINS[dialect])
        params["q"] = f"%{_escape_like(filter.q)}%" if dialect == "mysql" else filter.q
    if after is not None:
        conditions.append(
            f"i.id < (SELECT a.id FROM images a WHERE a.guid = %(after)s AND {_visible('a')})"
        )
        params["after"] = str(after)
    sql = (
        f"SELECT i.id, i.guid FROM images i{joins} WHERE {' AND '.join(conditions)}"
        " ORDER BY i.id DESC LIMIT %(limit)s"
    )
    if dialect == "mysql":
        sql = (
            f"SELECT GROUP_CONCAT(p.guid ORDER BY p.id DESC SEPARATOR ',') AS guids FROM ({sql}) p"
        )
    return sql, params


def _visible_image(cursor: Cursor, guid: UUID, viewer: str | None) -> bool:
    """After an empty page: whether the list ended, or ``guid`` names no image the viewer
    may see."""
    cursor.execute(
        f"SELECT 1 AS found FROM images i WHERE i.guid = %(guid)s AND {_VISIBLE}",
        {"guid": str(guid), "viewer": viewer},
    )
    return cursor.fetchone() is not None


def _tags_by_image(cursor: Cursor, image_ids: list[int]) -> dict[int, list[str]]:
    if not image_ids:
        return {}
    placeholders, params = expand_list("id", image_ids)
    cursor.execute(
        f"SELECT image_id, tag FROM image_tags WHERE image_id IN ({placeholders})"
        " ORDER BY image_id, position",
        params,
    )
    tags: dict[int, list[str]] = {}
    for row in cursor.fetchall():
        tags.setdefault(row["image_id"], []).append(row["tag"])
    return tags


def _escape_like(text: str) -> str:
    for char in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, _LIKE_ESCAPE + char)
    return text
