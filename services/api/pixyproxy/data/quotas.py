"""Generations per caller and time window, counted in the database so the limit holds
across workers and pods (a fixed window: simple, and exact at its edges of one window)."""

from __future__ import annotations

import time
from typing import Protocol

from pixyproxy.data.database import Database

_INCREMENT = {
    "mysql": "ON DUPLICATE KEY UPDATE generations = generations + 1",
    "sqlite": "ON CONFLICT (owner, window_start) DO UPDATE SET generations = generations + 1",
}
_PURGE_EVERY_S = 600


class QuotaRepository(Protocol):
    def count_generation(self, owner: str, window_start: int, window_s: int) -> int:
        """Count one more generation in the window; returns the window's count."""
        ...

    def uncount_generation(self, owner: str, window_start: int) -> None:
        """Take back one generation counted in the window (never below zero)."""
        ...


class SqlQuotaRepository:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._purged_at = 0.0

    def count_generation(self, owner: str, window_start: int, window_s: int) -> int:
        params = {"owner": owner, "window_start": window_start}
        with self._db.writing() as cursor:
            cursor.execute(
                "INSERT INTO generation_counts (owner, window_start, generations)"
                f" VALUES (%(owner)s, %(window_start)s, 1) {_INCREMENT[self._db.dialect]}",
                params,
            )
            cursor.execute(
                "SELECT generations FROM generation_counts"
                " WHERE owner = %(owner)s AND window_start = %(window_start)s",
                params,
            )
            row = cursor.fetchone()
            if time.monotonic() - self._purged_at >= _PURGE_EVERY_S:
                self._purged_at = time.monotonic()
                cursor.execute(
                    "DELETE FROM generation_counts WHERE window_start < %(oldest)s",
                    {"oldest": window_start - window_s},
                )
        return int(row["generations"]) if row else 1

    def uncount_generation(self, owner: str, window_start: int) -> None:
        with self._db.writing() as cursor:
            cursor.execute(
                "UPDATE generation_counts SET generations = generations - 1"
                " WHERE owner = %(owner)s AND window_start = %(window_start)s"
                " AND generations > 0",
                {"owner": owner, "window_start": window_start},
            )
