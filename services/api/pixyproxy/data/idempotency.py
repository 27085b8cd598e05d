"""Idempotency keys, stored in the database so they hold across workers and pods.

A key is claimed by inserting a ``pending`` row; the primary key (owner, key) makes the
insert the lock. A finished request stores its response for replay. A claim left pending by
a process that died, or a key past its expiry, is taken over by compare-and-delete.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pixyproxy.data.database import Database, DuplicateKey, db_timestamp, from_db_timestamp

ClaimOutcome = Literal["claimed", "replay", "in_progress", "mismatch"]
_PURGE_EVERY_S = 600


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    response: str | None = None


class IdempotencyRepository(Protocol):
    def claim(
        self, owner: str, key: str, request_hash: str, *, now: datetime, ttl_s: int, stale_s: int
    ) -> Claim: ...

    def complete(self, owner: str, key: str, response: str) -> None: ...

    def release(self, owner: str, key: str) -> None: ...


class SqlIdempotencyRepository:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._purged_at = 0.0

    def claim(
        self, owner: str, key: str, request_hash: str, *, now: datetime, ttl_s: int, stale_s: int
    ) -> Claim:
        self._purge_expired(now)
        for _ in range(2):
            try:
                self._insert(owner, key, request_hash, now, ttl_s)
                return Claim("claimed")
            except DuplicateKey:
                pass
            with self._db.reading() as cursor:
                cursor.execute(
                    "SELECT request_hash, state, response, created_at, expires_at"
                    " FROM idempotency_keys WHERE owner = %(owner)s AND idem_key = %(key)s",
                    {"owner": owner, "key": key},
                )
                row = cursor.fetchone()
            if row is None:
                continue  # released meanwhile: claim again
            created = from_db_timestamp(row["created_at"])
            expired = from_db_timestamp(row["expires_at"]) <= now
            abandoned = row["state"] == "pending" and created <= now - timedelta(seconds=stale_s)
            if expired or abandoned:
                self._delete_if_unchanged(owner, key, row["created_at"])
                continue
            if row["request_hash"] != request_hash:
                return Claim("mismatch")
            if row["state"] == "pending":
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
                " WHERE owner = %(owner)s AND idem_key = %(key)s AND state = 'pending'",
                {"owner": owner, "key": key},
            )

    def _insert(self, owner: str, key: str, request_hash: str, now: datetime, ttl_s: int) -> None:
        with self._db.writing() as cursor:
            cursor.execute(
                "INSERT INTO idempotency_keys"
                " (owner, idem_key, request_hash, state, created_at, expires_at)"
                " VALUES (%(owner)s, %(key)s, %(hash)s, 'pending', %(now)s, %(expires)s)",
                {
                    "owner": owner,
                    "key": key,
                    "hash": request_hash,
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
