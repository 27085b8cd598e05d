"""A bounded in-process cache of public image records.

Images never change once written, so a public record can be served from memory by every
worker without asking the database. Private records are never cached: whether a caller
may see one is decided by the database query, per caller, every time. Entries live at most
``ttl_s``, which bounds how long a row removed by ``pixyproxy storage check --fix`` is
still shown. Used from the event loop thread only, so it needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from uuid import UUID

from pixyproxy.core.models import ImageRecord


class PublicRecordCache:
    def __init__(self, max_entries: int, ttl_s: float = 300.0) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: OrderedDict[UUID, tuple[float, ImageRecord]] = OrderedDict()

    def get(self, guid: UUID) -> ImageRecord | None:
        entry = self._entries.get(guid)
        if entry is None:
            return None
        stored_at, record = entry
        if time.monotonic() - stored_at > self.ttl_s:
            del self._entries[guid]
            return None
        self._entries.move_to_end(guid)
        return record

    def put(self, record: ImageRecord) -> None:
        if record.private or self.max_entries <= 0:
            return
        self._entries[record.guid] = (time.monotonic(), record)
        self._entries.move_to_end(record.guid)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
