"""Two ways to write many rows to MySQL; the seeder uses either (``--seed-method``).

``load-data``: ``LOAD DATA LOCAL INFILE`` from a tab-separated file (the server parses the
rows itself). ``insert``: pymysql's ``executemany``, which sends multi-row INSERTs of up to
about 1 MB each. Both write one transaction per call. bench/README.md has what each took
on this machine.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pymysql

Writer = Callable[
    ["pymysql.connections.Connection[Any]", str, Sequence[str], list[dict[str, Any]], Path], None
]
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def tsv_field(value: Any) -> str:
    """One value as LOAD DATA reads it back with its default escaping (``\\N`` is NULL)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return str(int(value))
    return str(value).translate(_ESCAPES)


def load_data(
    connection: pymysql.connections.Connection[Any],
    table: str,
    columns: Sequence[str],
    rows: list[dict[str, Any]],
    work_dir: Path,
) -> None:
    if not rows:
        return
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", suffix=".tsv", dir=work_dir, newline="\n"
    ) as data:
        data.writelines("\t".join(tsv_field(row[c]) for c in columns) + "\n" for row in rows)
        data.flush()
        with connection.cursor() as cursor:
            cursor.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4"
                f" ({', '.join(columns)})",
                (data.name,),
            )


def insert(
    connection: pymysql.connections.Connection[Any],
    table: str,
    columns: Sequence[str],
    rows: list[dict[str, Any]],
    work_dir: Path,
) -> None:
    if not rows:
        return
    values = ", ".join(f"%({c})s" for c in columns)
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})", rows)
        cursor.execute("COMMIT")


WRITERS: dict[str, Writer] = {"load-data": load_data, "insert": insert}
