"""Idempotency keys, stored in the database so they hold across workers and pods.

A key is claimed by inserting a ``pending`` row; the primary key (owner, key) makes the
insert the lock. The row names the image its request will store (``image_guid``), and a
finished request stores its response for replay. A pending key whose image row exists is
finished, whatever the row says: only recording its answer failed, so a retry gets that
image (``committed``), and such a key is never released or taken over. A claim left pending
by a process that died (and no image), or a key past its expiry, is taken over by
compare-and-delete. Deleting an image marks the keys that name it ``deleted`` in the
delete's transaction (``images.py``): their requests answer ``deleted`` until they expire,
never the image and never a second generation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol
from uuid import UUID

from pixyproxy.data.database import Database, DuplicateKey, db_timestamp, from_db_timestamp

ClaimOutcome = Literal["claimed", "replay", "committed", "in_progress", "mismatch", "deleted"]
_PURGE_EVERY_S = 600
# Whether the image a key names was stored: its row is the proof.
_COMMITTED = "EXISTS (SELECT 1 FROM images i WHERE i.guid = idempotency_keys.image_guid)"


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    response: str | None = None  # replay: the answer recorded
    image_guid: UUID | None = None  # committed: the image stored, its answer not recorded


class IdempotencyRepository(Protocol):
    def claim(
        self,
        owner: str,
        key: str,
        request_hash: str,
        *,
        now: datetime,
        ttl_s: int,
        stale_s: int,
        image_guid: UUID | None = None,
    ) -> Claim:
        """Claim (owner, key) for a request that will store ``image_guid``, or say why not."""
        ...

    def complete(self, owner: str, key: str, response: str) -> None: ...

    def release(self, owner: str, key: str) -> None:
        """Free a pending claim for a retry, unless its image was stored."""
        ...


class SqlIdempotencyRepository:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._purged_at = 0.0

    def claim(
        self,
        owner: str,
        key: str,
        request_hash: str,
        *,
        now: datetime,
        ttl_s: int,
        stale_s: int,
        image_guid: UUID | None = None,
    ) -> Claim:
        self._purge_expired(now)
        for _ in range(2):
            try:
                self._insert(owner, key, request_hash, now, ttl_s, image_guid)
                return Claim("claimed")
            except DuplicateKey:
                pass
            with self._db.reading() as cursor:
                cursor.execute(
                    "SELECT request_hash, state, response, image_guid, created_at, expires_at,"
                    f" {_COMMITTED} AS committed"
                    " FROM idempotency_keys WHERE owner = %(owner)s AND idem_key = %(key)s",
                    {"owner": owner, "key": key},
                )
                row = cursor.fetchone()
            if row is None:
                continue  # released meanwhile: claim again
            pending = row["state"] == "pending"
            created = from_db_timestamp(row["created_at"])
            expired = from_db_timestamp(row["expires_at"]) <= now
            abandoned = pending and not row["committed"]
            abandoned = abandoned and created <= now - timedelta(seconds=stale_s)
            if expired or abandoned:
                self._delete_if_unchanged(owner, key, row["created_at"])
                continue
            if row["request_hash"] != request_hash:
                return Claim("mismatch")
            if row["state"] == "deleted":
                return Claim("deleted")
            if pending and row["committed"]:
                return Claim("committed", image_guid=UUID(row["image_guid"]))
            if pending:
                return Claim("in_progress")
            return Claim("replay", row["response"])
        return Claim("in_progress")

    def complete(self, owner: str, key: str, response: str) -> None:
        with self._db.writing() as cursor:
            cursor.execute(
                "UPDATE idempotency_keys SET state = 'done', response = %(response)s"
                " WHERE owner = %(owner)s AND idem_key = %(key)s",
                {"owner": owner, "key": key, "response": response},
            )

    def release(self, owner: str, key: str) -> None:
        with self._db.writing() as cursor:
            cursor.execute(
                "DELETE FROM idempotency_keys"
                " WHERE owner = %(owner)s AND idem_key = %(key)s AND state = 'pending'"
                f" AND NOT {_COMMITTED}",
                {"owner": owner, "key": key},
            )

    def _insert(
        self,
        owner: str,
        key: str,
        request_hash: str,
        now: datetime,
        ttl_s: int,
        image_guid: UUID | None,
    ) -> None:
        with self._db.writing() as cursor:
            cursor.execute(
                "INSERT INTO idempotency_keys"
                " (owner, idem_key, request_hash, state, image_guid, created_at, expires_at)"
                " VALUES (%(owner)s, %(key)s, %(hash)s, 'pending', %(image_guid)s, %(now)s,"
                " %(expires)s)",
                {
                    "owner": owner,
                    "key": key,
                    "hash": request_hash,
                    "image_guid": str(image_guid) if image_guid else None,
                    "now": db_timestamp(now),
                    "expires": db_timestamp(now + timedelta(seconds=ttl_s)),
                },
            )

    def _delete_if_unchanged(self, owner: str, key: str, created_at: object) -> None:
        with self._db.writing() as cursor:
            cursor.execute(
                "DELETE FROM idempotency_keys WHERE owner = %(owner)s AND idem_key = %(key)s"
                " AND created_at = %(created_at)s",
                {"owner": owner, "key": key, "created_at": created_at},
            )

    def _purge_expired(self, now: datetime) -> None:
        """Drop expired keys now and then; claims handle any that are still there."""
        if time.monotonic() - self._purged_at < _PURGE_EVERY_S:
            return
        self._purged_at = time.monotonic()
        with self._db.writing() as cursor:
            cursor.execute(
                "DELETE FROM idempotency_keys WHERE expires_at < %(now)s",
                {"now": db_timestamp(now)},
            )
