"""The image repository: its contract and its one SQL implementation for both dialects.

Visibility is part of every query: a private image exists only for its author, so callers
can never learn about one they may not see, whatever filter or cursor they send.

Every write logs its change in its own transaction (``data/changes.py``). An edit or a
delete reads the row it changes locked (``FOR UPDATE`` on MySQL; SQLite's writer holds the
database from ``BEGIN IMMEDIATE``), so what it checks (the owner, an ``If-Match``) is the
state it changes: two racing edits never lose one another. Deleting an image marks the
idempotency keys that name it ``deleted`` in the same transaction, so a replay never hands
it back (``data/idempotency.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from pixyproxy.core.models import ImageFilter, ImagePage, ImageRecord
from pixyproxy.data.changes import record_changes
from pixyproxy.data.database import Cursor, Database, Dialect, db_timestamp, expand_list
from pixyproxy.data.records import Columns
from pixyproxy.data.search import (
    MATCH_CONDITION,
    MATCH_FROM,
    MATCH_KEY,
    holds_words,
    match_params,
    prompt_words,
)
from pixyproxy.data.wordplans import WordPlans

# What an edit does with an image's current state: the new state (the same object when
# nothing changes), or an exception that refuses it (not the caller's, a stale If-Match).
Edit = Callable[[ImageRecord], ImageRecord]
Check = Callable[[ImageRecord], None]


# The images table is the record's fields, and the words ``q`` searches (data/search.py);
# its tags live in image_tags.
def edited(current: ImageRecord, edit: Edit) -> ImageRecord:
    """What ``edit`` makes of ``current``: ``current`` itself when nothing changes, else its
    new tags and privacy with ``updated_at`` moved (the only fields an edit may change)."""
    wanted = edit(current)
    if wanted is current:
        return current
    return current.model_copy(
        update={"tags": wanted.tags, "private": wanted.private, "updated_at": datetime.now(UTC)}
    )


IMAGES = Columns(ImageRecord, generated=["id"], elsewhere=["tags"])
WRITTEN = (*IMAGES.written, "prompt_words")
_COLUMNS = IMAGES.select("i")
_INSERT = (
    f"INSERT INTO images ({', '.join(WRITTEN)}) VALUES ({', '.join(f'%({c})s' for c in WRITTEN)})"
)


def row_params(record: ImageRecord) -> dict[str, Any]:
    """The INSERT's parameters for ``record``: its columns and its search words."""
    return {**IMAGES.to_params(record), "prompt_words": prompt_words(record.prompt)}


def _visible(alias: str, viewer: str | None) -> str:
    """The visibility rule, for the ``images`` row named ``alias``. For an anonymous
    viewer it is the public images alone, which an index on (private, id) reads in
    order."""
    if viewer is None:
        return f"{alias}.private = 0"
    return f"({alias}.private = 0 OR {alias}.author = %(viewer)s)"


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

    def update(self, guid: UUID, edit: Edit) -> ImageRecord | None:
        """Apply ``edit`` to the image's current state in one transaction, the row locked;
        the new state (``updated_at`` moved when it changed), or None when no such image.
        Only ``tags``, ``private`` and ``updated_at`` are written."""
        ...

    def delete(self, guid: UUID, check: Check | None = None) -> bool:
        """Remove the image's row and tags, after ``check`` passed on its locked current
        state; whether there was one."""
        ...

    def prune(self, before: datetime, limit: int) -> Sequence[UUID]:
        """Remove up to ``limit`` of the oldest images created before ``before``, in one
        transaction; their guids."""
        ...

    def count_created_before(self, before: datetime) -> int: ...

    def iter_files(self) -> Iterator[tuple[UUID, str]]:
        """(guid, filename) of every image, for reconciling with the image store."""
        ...

    def guid_page(self, after: UUID | None, limit: int) -> Sequence[UUID]:
        """The next ``limit`` guids after ``after`` in the order of their text (keyset, on
        the unique index): how ``storage check`` pages the rows beside the store's scan."""
        ...


# How many of the newest public images a ``q`` page on MySQL reads through the primary key
# before it asks the full-text index (``word_scan_query``).
WORD_SCAN_ROWS = 5000


class SqlImageRepository:
    def __init__(
        self,
        database: Database,
        *,
        word_scan_rows: int = WORD_SCAN_ROWS,
        word_plans: WordPlans | None = None,
    ) -> None:
        """``word_scan_rows``: see ``word_scan_query`` (tests make it small, so both ways
        of answering a ``q`` are taken on a few images); ``word_plans``: what was decided
        for recent pages (``wordplans.py``)."""
        self._db = database
        self._word_scan_rows = word_scan_rows
        self._word_plans = word_plans if word_plans is not None else WordPlans()

    def insert(self, record: ImageRecord) -> ImageRecord:
        """Three statements whatever the tags: how long a write can take is bounded by its
        round trips (``deadlines.py``)."""
        with self._db.writing() as cursor:
            cursor.execute(_INSERT, row_params(record))
            image_id = cursor.lastrowid
            _insert_tags(cursor, image_id, record.tags)
            record_changes(cursor, [record.guid], "insert", datetime.now(UTC))
        return record.model_copy(update={"id": image_id})

    def get(self, guid: UUID, *, viewer: str | None) -> ImageRecord | None:
        with self._db.reading() as cursor:
            found = _records(
                cursor,
                self._db.dialect,
                f"i.guid = %(guid)s AND {_visible('i', viewer)}",
                {"guid": str(guid), "viewer": viewer},
            )
        return found[0] if found else None

    def get_many(self, guids: Sequence[str], *, viewer: str | None) -> list[ImageRecord]:
        if not guids:
            return []
        placeholders, params = expand_list("guid", list(guids))
        with self._db.reading() as cursor:
            return _records(
                cursor,
                self._db.dialect,
                f"i.guid IN ({placeholders}) AND {_visible('i', viewer)}",
                {**params, "viewer": viewer},
            )

    def list(
        self, *, viewer: str | None, filter: ImageFilter, limit: int, after: UUID | None
    ) -> ImagePage:
        dialect = self._db.dialect
        with self._db.reading() as cursor:
            scan_words = (
                filter.q is not None
                and dialect == "mysql"
                and self._word_plans.scan_words(
                    (filter.q, filter.tag, filter.author, limit, after, viewer),
                    lambda: words_are_common(
                        cursor, viewer, filter, limit + 1, after, self._word_scan_rows
                    ),
                )
            )
            cursor.execute(
                *list_query(
                    viewer=viewer,
                    filter=filter,
                    limit=limit + 1,
                    after=after,
                    dialect=dialect,
                    scan_words=scan_words,
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

    def update(self, guid: UUID, edit: Edit) -> ImageRecord | None:
        with self._db.writing() as cursor:
            current = self._locked(cursor, guid)
            if current is None:
                return None
            changed = edited(current, edit)
            if changed is current:
                return current
            cursor.execute(
                "UPDATE images SET private = %(private)s, updated_at = %(updated_at)s"
                " WHERE id = %(id)s",
                {
                    "private": int(changed.private),
                    "updated_at": db_timestamp(changed.updated_at),
                    "id": current.id,
                },
            )
            if changed.tags != current.tags:
                cursor.execute("DELETE FROM image_tags WHERE image_id = %(id)s", {"id": current.id})
                _insert_tags(cursor, current.id, changed.tags)
            record_changes(cursor, [guid], "update", changed.updated_at)
        return changed

    def delete(self, guid: UUID, check: Check | None = None) -> bool:
        with self._db.writing() as cursor:
            current = self._locked(cursor, guid)
            if current is None:
                return False
            if check is not None:
                check(current)
            cursor.execute("DELETE FROM images WHERE id = %(id)s", {"id": current.id})
            _forget(cursor, [guid])
        return True

    def prune(self, before: datetime, limit: int) -> Sequence[UUID]:
        lock = " FOR UPDATE" if self._db.dialect == "mysql" else ""
        with self._db.writing() as cursor:
            cursor.execute(
                "SELECT id, guid FROM images WHERE created_at < %(before)s"
                f" ORDER BY id LIMIT %(limit)s{lock}",
                {"before": db_timestamp(before), "limit": limit},
            )
            rows = cursor.fetchall()
            if not rows:
                return []
            placeholders, params = expand_list("id", [row["id"] for row in rows])
            cursor.execute(f"DELETE FROM images WHERE id IN ({placeholders})", params)
            guids = [UUID(row["guid"]) for row in rows]
            _forget(cursor, guids)
        return guids

    def count_created_before(self, before: datetime) -> int:
        with self._db.reading() as cursor:
            cursor.execute(
                "SELECT COUNT(*) AS images FROM images WHERE created_at < %(before)s",
                {"before": db_timestamp(before)},
            )
            row = cursor.fetchone()
        return int(row["images"]) if row else 0

    def _locked(self, cursor: Cursor, guid: UUID) -> ImageRecord | None:
        """The image's current state, its row locked until the transaction ends."""
        lock = " FOR UPDATE" if self._db.dialect == "mysql" else ""
        cursor.execute(
            f"SELECT {_COLUMNS} FROM images i WHERE i.guid = %(guid)s{lock}", {"guid": str(guid)}
        )
        row = cursor.fetchone()
        if row is None:
            return None
        tags = _tags_by_image(cursor, [row["id"]])
        return IMAGES.to_record(row, tags=tags.get(row["id"], []))

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
    scan_words: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The SQL of one list page: guids only, keyset on the id, newest first, visibility
    always applied. The cursor's image is found in the same query (a constant subquery on
    the unique guid), so a page is one round trip.

    What a viewer may see is two sets, each read newest first from an index and cut at
    ``limit``, then merged: the public images, and (for a signed-in viewer) their own
    private ones. ``private = 0 OR author = ?`` in one query would leave the databases a
    choice between reading every public image and sorting, or walking the images newest
    first past whatever the filters drop. In each set one filter drives, the others are
    checked on its rows: ``q`` (the full-text index, or with ``scan_words`` the newest
    public images checked for the words: ``word_scan_query``), else for the viewer's own set their
    images (``ix_images_author``: a few, whatever the tag), else ``tag`` (``image_tags``
    by tag, newest first), else the author; with none, the public images come from
    ``ix_images_private``. ``tests/data/test_query_plans.py`` holds every shape
    to its index on both dialects.

    On MySQL the page comes back as one row, its guids joined by commas: pymysql decodes
    every row in Python, and fifty of them cost more than one. (SQLite, the embedded
    default, cannot order inside ``group_concat`` before 3.44 and answers row by row.)"""
    params = _list_params(viewer, filter, limit, after, dialect)
    public = "i.private = 0"
    sets = [
        _one_set(
            public, viewer=viewer, filter=filter, after=after, dialect=dialect, scan=scan_words
        )
    ]
    if viewer is not None and filter.author in (None, viewer):
        own = "i.private = 1 AND i.author = %(viewer)s"
        sets.append(
            _one_set(own, viewer=viewer, filter=filter, after=after, dialect=dialect, own=True)
        )
    if len(sets) == 1:
        sql = sets[0]
    else:
        merged = " UNION ALL ".join(f"SELECT id, guid FROM ({s}) s{n}" for n, s in enumerate(sets))
        sql = f"SELECT id, guid FROM ({merged}) u ORDER BY id DESC LIMIT %(limit)s"
    if dialect == "mysql":
        sql = (
            f"SELECT GROUP_CONCAT(p.guid ORDER BY p.id DESC SEPARATOR ',') AS guids FROM ({sql}) p"
        )
    return sql, params


def word_scan_query(
    *, viewer: str | None, filter: ImageFilter, limit: int, after: UUID | None, rows: int
) -> tuple[str, dict[str, Any]]:
    """On MySQL, whether a ``q`` page is read through the full-text index or by checking
    the newest public images for its words: how many of the newest ``rows`` public images
    from the cursor on (``scanned``) match the page's filters (``hits``).

    InnoDB's full-text index gives a search all its matches, in no order: a page of the
    newest costs about 5 us per match whatever its size (450 ms for a word in 100,000 of a
    million prompts, measured here). Read from the primary key, a common word's page is
    found in the first few hundred images. So when the newest ``rows`` hold a page
    (``hits >= limit``), or are all there is, the page is read that way, never looking at
    more than ``rows`` images; otherwise fewer than one image in ``rows / limit`` matches
    (at 5,000 rows, 1 %: at most some 10,000 matches at a million images), and the
    index's cost is bounded in turn. One more round trip, of 3-4 ms, for each ``q`` page
    not asked for in the last minute (``wordplans.py`` keeps the answer)."""
    assert filter.q is not None
    params = {**_list_params(viewer, filter, limit, after, "mysql"), "rows": rows}
    hit = [holds_words(filter.q, "mysql")]
    if filter.tag is not None:
        hit.append(
            "EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = i.id AND t.tag = %(tag)s)"
        )
    if filter.author is not None:
        hit.append("i.author = %(author)s")
    window = ["i.private = 0"]
    if after is not None:
        window.append(_before_cursor("i.id", viewer))
    sql = (
        "SELECT COUNT(*) AS scanned, COALESCE(SUM(w.hit), 0) AS hits"
        f" FROM (SELECT {' AND '.join(hit)} AS hit FROM {_NEWEST['mysql']}"
        f" WHERE {' AND '.join(window)} ORDER BY i.id DESC LIMIT %(rows)s) w"
    )
    return sql, params


def words_are_common(
    cursor: Cursor,
    viewer: str | None,
    filter: ImageFilter,
    limit: int,
    after: UUID | None,
    rows: int,
) -> bool:
    """``word_scan_query``'s answer: read the page by checking the newest images."""
    cursor.execute(
        *word_scan_query(viewer=viewer, filter=filter, limit=limit, after=after, rows=rows)
    )
    found = cursor.fetchone()
    assert found is not None  # an aggregate always answers
    return int(found["hits"]) >= limit or int(found["scanned"]) < rows


def _list_params(
    viewer: str | None, filter: ImageFilter, limit: int, after: UUID | None, dialect: Dialect
) -> dict[str, Any]:
    params: dict[str, Any] = {"viewer": viewer, "limit": limit}
    if filter.q is not None:
        params.update(match_params(filter.q, dialect))
    if filter.tag is not None:
        params["tag"] = filter.tag
    if filter.author is not None:
        params["author"] = filter.author
    if after is not None:
        params["after"] = str(after)
    return params


def _before_cursor(key: str, viewer: str | None) -> str:
    """Older than the cursor's image, found on its unique guid (when the viewer may see it:
    else the page is empty, and ``list`` tells an unknown cursor from the list's end)."""
    return (
        f"{key} < (SELECT a.id FROM images a WHERE a.guid = %(after)s AND {_visible('a', viewer)})"
    )


def _one_set(
    visible: str,
    *,
    viewer: str | None,
    filter: ImageFilter,
    after: UUID | None,
    dialect: Dialect,
    own: bool = False,
    scan: bool = False,
) -> str:
    """One of ``list_query``'s sets: the images ``visible`` names that pass the filters,
    newest first, read through the index of the filter that drives (``own``: the
    viewer's own images, found by their author; ``scan``: the newest images, checked for
    ``q``'s words)."""
    conditions = [visible]
    if filter.q is not None and own:  # the viewer's few images, each checked for the words
        source, key = _BY_AUTHOR[dialect], "i.id"
        conditions.append(holds_words(filter.q, dialect))
    elif filter.q is not None and scan:  # a common word: found among the newest images
        source, key = _NEWEST[dialect], "i.id"
        conditions.append(holds_words(filter.q, dialect))
    elif filter.q is not None:
        source, key = MATCH_FROM[dialect], MATCH_KEY[dialect]
        conditions.append(MATCH_CONDITION[dialect])
    elif filter.tag is not None and not own:
        source, key = _BY_TAG[dialect], "t.image_id"
    elif filter.author is not None or own:
        source, key = _BY_AUTHOR[dialect], "i.id"
    else:
        source, key = _NEWEST[dialect], "i.id"
    if filter.tag is not None and source == _BY_TAG[dialect]:
        conditions.append("t.tag = %(tag)s")
    elif filter.tag is not None:  # looked up for each image the driving index gives
        source += f" {_THEN[dialect]} image_tags t ON t.image_id = i.id AND t.tag = %(tag)s"
    if filter.author is not None:
        conditions.append("i.author = %(author)s")
    if after is not None:
        conditions.append(_before_cursor(key, viewer))
    return (
        f"SELECT i.id AS id, i.guid AS guid FROM {source} WHERE {' AND '.join(conditions)}"
        f" ORDER BY {key} DESC LIMIT %(limit)s"
    )


# The tables a set reads when a filter drives it, in the order they are read: a join
# whose first table is fixed (SQLite's CROSS JOIN, MySQL's STRAIGHT_JOIN), or the index
# named (a guess on equal statistics would otherwise read the public images newest first).
_BY_TAG = {
    "mysql": "image_tags t STRAIGHT_JOIN images i ON i.id = t.image_id",
    "sqlite": "image_tags t CROSS JOIN images i ON i.id = t.image_id",
}
_THEN = {"mysql": "STRAIGHT_JOIN", "sqlite": "CROSS JOIN"}
# The public images with no filter: MySQL would take ix_images_private by its constant and
# read it from the newest image down to a cursor; the primary key reads from the cursor.
_NEWEST = {"mysql": "images i FORCE INDEX (PRIMARY)", "sqlite": "images i"}
_BY_AUTHOR = {
    "mysql": "images i FORCE INDEX (ix_images_author)",
    "sqlite": "images i INDEXED BY ix_images_author",
}


def _insert_tags(cursor: Cursor, image_id: int | None, tags: Sequence[str]) -> None:
    """One statement for all of an image's tags, in their order."""
    if not tags:
        return
    rows = ", ".join(f"(%(image_id)s, %(tag_{i})s, {i})" for i in range(len(tags)))
    params = {f"tag_{i}": tag for i, tag in enumerate(tags)}
    cursor.execute(
        f"INSERT INTO image_tags (image_id, tag, position) VALUES {rows}",
        {"image_id": image_id, **params},
    )


def _forget(cursor: Cursor, guids: Sequence[UUID]) -> None:
    """After deleting the rows of ``guids`` (their tags go by the foreign key): the
    idempotency keys that name them answer ``deleted`` from now on, and the change is
    logged."""
    placeholders, params = expand_list("guid", [str(guid) for guid in guids])
    cursor.execute(
        "UPDATE idempotency_keys SET state = 'deleted', response = NULL"
        f" WHERE image_guid IN ({placeholders})",
        params,
    )
    record_changes(cursor, guids, "delete", datetime.now(UTC))


def _visible_image(cursor: Cursor, guid: UUID, viewer: str | None) -> bool:
    """After an empty page: whether the list ended, or ``guid`` names no image the viewer
    may see."""
    cursor.execute(
        f"SELECT 1 AS found FROM images i WHERE i.guid = %(guid)s AND {_visible('i', viewer)}",
        {"guid": str(guid), "viewer": viewer},
    )
    return cursor.fetchone() is not None


# An image's tags in their order, in its own row on MySQL: a tag is letters, digits, '_' and
# '-' (``core/models.py``), never a comma. SQLite cannot order inside ``group_concat`` before
# 3.44 and reads them with a second query. One round trip fewer made a detail read from
# the database 2,200 -> 2,610 req/s at a million images (random public guids, wrk -c50,
# medians of three 10 s runs; spread 2,110-2,480 and 2,585-2,975).
_TAG_LIST = (
    "(SELECT GROUP_CONCAT(t.tag ORDER BY t.position SEPARATOR ',')"
    " FROM image_tags t WHERE t.image_id = i.id) AS tag_list"
)


def _records(
    cursor: Cursor, dialect: Dialect, where: str, params: dict[str, Any]
) -> list[ImageRecord]:
    """The images ``where`` picks (of ``images i``), with their tags."""
    if dialect == "mysql":
        cursor.execute(f"SELECT {_COLUMNS}, {_TAG_LIST} FROM images i WHERE {where}", params)
        return [
            IMAGES.to_record(row, tags=row["tag_list"].split(",") if row["tag_list"] else [])
            for row in cursor.fetchall()
        ]
    cursor.execute(f"SELECT {_COLUMNS} FROM images i WHERE {where}", params)
    rows = cursor.fetchall()
    tags = _tags_by_image(cursor, [row["id"] for row in rows])
    return [IMAGES.to_record(row, tags=tags.get(row["id"], [])) for row in rows]


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
