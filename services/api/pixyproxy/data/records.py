"""Rows to records and back, derived from a record's declaration (``core/models.py``).

A column of a table is the field of its record with the same name, and how a value is
written and read back follows from the field's type alone: UUIDs are stored as their text,
booleans as 0 and 1, timestamps as UTC text that MySQL's ``DATETIME(6)`` and SQLite both
take, and text comes back as text also from MySQL's binary columns (the author is
``VARBINARY`` there, to compare byte for byte: ``data/schema.py``). The SQL stays explicit:
the column list, the INSERT with its named ``%(name)s`` parameters, and the dicts going in
and coming out are all made here from those names.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, Union, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel

from pixyproxy.data.database import Row, db_timestamp, from_db_timestamp

R = TypeVar("R", bound=BaseModel)
Convert = Callable[[Any], Any]


def _text(value: str | bytes) -> str:
    """Text as stored: MySQL answers a binary column with its bytes, which are UTF-8."""
    return value.decode() if isinstance(value, bytes) else value


# type of the field -> (to the database, from the database), None where the value goes as
# it is; a type not named here goes both ways as it is
_CODECS: dict[type, tuple[Convert | None, Convert]] = {
    UUID: (str, UUID),
    bool: (int, bool),
    datetime: (db_timestamp, from_db_timestamp),
    str: (None, _text),
}


class Columns(Generic[R]):
    """The columns of one table, as the fields of its record.

    ``generated`` columns are read but never written (the auto-increment id);
    ``elsewhere`` fields are not columns of this table at all (an image's tags have a
    table of their own) and are passed to ``to_record`` by the caller.
    """

    def __init__(
        self,
        record: type[R],
        *,
        generated: Sequence[str] = (),
        elsewhere: Sequence[str] = (),
    ) -> None:
        self.record = record
        fields = record.model_fields
        self.read = tuple(name for name in fields if name not in elsewhere)
        self.written = tuple(name for name in self.read if name not in generated)
        self._encode = [(name, _codec(fields[name].annotation)[0]) for name in self.written]
        self._decode = [(name, _codec(fields[name].annotation)[1]) for name in self.read]

    def select(self, alias: str) -> str:
        """The column list of a SELECT, each column qualified by ``alias``."""
        return ", ".join(f"{alias}.{name}" for name in self.read)

    def insert(self, table: str) -> str:
        """``INSERT INTO table (...) VALUES (%(name)s, ...)`` for the written columns."""
        names = ", ".join(self.written)
        values = ", ".join(f"%({name})s" for name in self.written)
        return f"INSERT INTO {table} ({names}) VALUES ({values})"

    def to_params(self, record: R) -> dict[str, Any]:
        """The record's written columns as the INSERT's named parameters."""
        return {
            name: getattr(record, name) if encode is None else encode(getattr(record, name))
            for name, encode in self._encode
        }

    def to_record(self, row: Row, **elsewhere: Any) -> R:
        """The record of a row (``elsewhere`` adds the fields stored in other tables).

        Rows come from our own schema: building without validation halves a list's cost.
        """
        values = {
            name: row[name] if decode is None else decode(row[name])
            for name, decode in self._decode
        }
        return self.record.model_construct(**values, **elsewhere)


def _codec(annotation: Any) -> tuple[Convert | None, Convert | None]:
    """(to the database, from it) for a field's type; None where the value is stored as is."""
    optional = get_origin(annotation) in (Union, types.UnionType)
    if optional:
        (annotation,) = [arg for arg in get_args(annotation) if arg is not type(None)]
    if annotation not in _CODECS:
        return None, None
    encode, decode = _CODECS[annotation]
    return (_keep_none(encode), _keep_none(decode)) if optional else (encode, decode)


def _keep_none(convert: Convert | None) -> Convert | None:
    if convert is None:
        return None
    return lambda value: None if value is None else convert(value)
