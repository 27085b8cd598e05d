"""The change log: one row per change to an image, written in the change's own transaction.

Every write to an image (a new one, an edit, a delete, a prune, ``storage check --fix``)
adds its rows to ``image_changes`` with ``record_changes`` on the cursor of that write's
transaction, so a change is in the log exactly when it is committed. Every worker of every
replica reads the log every ``PIXY_CHANGE_POLL_S`` (``service/coherence.py``) to drop what
its caches hold of the images changed: the database is the one place all of them share.

Ids are given out when a row is inserted, not when it is committed, so a reader may see id
11 before id 10 commits (or id 10 may never exist: its transaction rolled back). Readers
ask again for the ids they skipped (``read``'s ``missing``) until the longest a write
transaction can take has passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

from pixyproxy.data.database import Cursor, Database, db_timestamp, expand_list

ChangeKind = Literal["insert", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    guid: str  # as the caches key images: the guid's text
    kind: ChangeKind


class ChangeLog(Protocol):
    def latest(self) -> int:
        """The highest id in the log (0 when it is empty)."""
        ...

    def read(self, after: int, missing: Sequence[int], limit: int) -> list[Change]:
        """Up to ``limit`` changes with an id above ``after`` or in ``missing``, by id."""
        ...

    def purge(self, before: datetime) -> int:
        """Remove the changes made before ``before``; how many went."""
        ...


def record_changes(
    cursor: Cursor, guids: Sequence[UUID | str], kind: ChangeKind, now: datetime
) -> None:
    """Log changes to ``guids`` on the cursor of the transaction that makes them."""
    if not guids:
        return
    rows = ", ".join(f"(%(guid_{i})s, %(kind)s, %(now)s)" for i in range(len(guids)))
    params = {f"guid_{i}": str(guid) for i, guid in enumerate(guids)}
    cursor.execute(
        f"INSERT INTO image_changes (guid, kind, changed_at) VALUES {rows}",
        {**params, "kind": kind, "now": db_timestamp(now)},
    )


class SqlChangeLog:
    def __init__(self, database: Database) -> None:
        self._db = database

    def latest(self) -> int:
        with self._db.reading() as cursor:
            cursor.execute("SELECT COALESCE(MAX(id), 0) AS latest FROM image_changes")
            row = cursor.fetchone()
        return int(row["latest"]) if row else 0

    def read(self, after: int, missing: Sequence[int], limit: int) -> list[Change]:
        condition, params = "id > %(after)s", {"after": after, "limit": limit}
        if missing:
            placeholders, ids = expand_list("missing", list(missing))
            condition += f" OR id IN ({placeholders})"
            params.update(ids)
        with self._db.reading() as cursor:
            cursor.execute(
                f"SELECT id, guid, kind FROM image_changes WHERE {condition}"
                " ORDER BY id LIMIT %(limit)s",
                params,
            )
            rows = cursor.fetchall()
        return [Change(int(row["id"]), row["guid"], row["kind"]) for row in rows]

    def purge(self, before: datetime) -> int:
        with self._db.writing() as cursor:
            return cursor.execute(
                "DELETE FROM image_changes WHERE changed_at < %(before)s",
                {"before": db_timestamp(before)},
            )
