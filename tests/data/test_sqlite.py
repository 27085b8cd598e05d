"""SQLite errors are told apart by their result codes: a held write lock or a file that
cannot be opened is ``DatabaseUnavailable`` (503), a duplicate key is ``DuplicateKey``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pixyproxy.core.errors import DatabaseUnavailable
from pixyproxy.data.database import DuplicateKey, ping
from pixyproxy.data.sqlite import SQLiteDatabase
from tests.support.threads import held_elsewhere


def test_a_writer_that_waits_too_long_for_the_lock_is_unavailable(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    holder, waiter = SQLiteDatabase(path), SQLiteDatabase(path, busy_timeout_s=0.1)
    try:
        with (
            held_elsewhere(holder.writing),  # the write lock
            pytest.raises(DatabaseUnavailable),
            waiter.writing() as cursor,
        ):
            cursor.execute("SELECT 1")
    finally:
        holder.close()
        waiter.close()


def test_a_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    database = SQLiteDatabase(str(tmp_path))  # a directory, not a database file
    with pytest.raises(DatabaseUnavailable):
        ping(database)
    database.close()


def test_duplicate_keys_are_named_as_such(tmp_path: Path) -> None:
    database = SQLiteDatabase(str(tmp_path / "db.sqlite"))
    try:
        with database.writing() as cursor:
            cursor.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, u TEXT UNIQUE)")
            cursor.execute("INSERT INTO t (k, u) VALUES (1, 'a')")
        for clash in (
            "INSERT INTO t (k, u) VALUES (1, 'b')",
            "INSERT INTO t (k, u) VALUES (2, 'a')",
        ):
            with pytest.raises(DuplicateKey), database.writing() as cursor:
                cursor.execute(clash)
        with database.writing() as cursor:
            cursor.execute("CREATE TABLE n (v TEXT NOT NULL)")
        with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"), database.writing() as cursor:
            cursor.execute("INSERT INTO n (v) VALUES (NULL)")  # not a duplicate: left as it is
    finally:
        database.close()
