"""A cache of the list pages anonymous callers ask for, bounded in bytes.

A page is valid while no image has been added, changed or deleted since it was read: each
page is read under the change generation (``coherence.py``) taken before reading, and the
generation moves with every change this worker makes or reads from the change log, by
whichever worker of whichever replica made it. A page read while a change was applied
carries the generation from before it, so it is not kept. When the generation moves, every
page kept goes at once. Lists of authenticated callers, which may hold their own private
images, are never cached.

A page is kept as it is sent, its JSON, so it holds no image details of its own (those
live in the image cache, which bounds them): what it costs is its bytes. Its key is made
of decoded values (``reading.py``), so one page is one entry however its query was spelled.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from pixyproxy.service.bounded import BoundedCache

# What a page holds beyond its JSON, guids and key text: the page object, its tuple, the key
# tuple.
PAGE_OVERHEAD_BYTES = 500


class EncodedImage(Protocol):
    """An image whose JSON is made: a detail, or the image cache's view of one."""

    @property
    def guid(self) -> UUID | str: ...

    @property
    def encoded(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class DetailPage:
    """One page of a list as it is sent: the JSON array of its images, made once from their
    details' own encodings; the guids it shows, newest first; the next page's cursor."""

    encoded: bytes
    guids: tuple[str, ...]
    next_cursor: str | None

    @classmethod
    def of(cls, items: Sequence[EncodedImage], next_cursor: str | None) -> DetailPage:
        encoded = b"[" + b",".join([item.encoded for item in items]) + b"]"
        return cls(encoded, tuple(str(item.guid) for item in items), next_cursor)

    def size_bytes(self, key: Hashable) -> int:
        texts = [*self.guids, self.next_cursor or ""]
        texts += [part for part in key if isinstance(part, str)] if isinstance(key, tuple) else []
        return (
            PAGE_OVERHEAD_BYTES
            + sys.getsizeof(self.encoded)
            + sys.getsizeof(self.guids)
            + sum(map(sys.getsizeof, texts))
        )


class PageCache:
    def __init__(self, max_bytes: int, ttl_s: float = 5.0) -> None:
        self._pages: BoundedCache[Hashable, DetailPage] = BoundedCache(max_bytes, ttl_s=ttl_s)
        self._changes = 0  # the change generation the pages kept were read under

    def get(self, key: Hashable, changes: int) -> DetailPage | None:
        self._catch_up(changes)
        return self._pages.get(key)

    def put(self, key: Hashable, changes: int, page: DetailPage) -> None:
        """Keep ``page``, read under the change generation ``changes`` (taken before)."""
        self._catch_up(changes)
        if changes == self._changes and self._pages.max_bytes > 0:
            self._pages.put(key, page, page.size_bytes(key))

    def evict(self, guid: UUID) -> None:
        """Drop every page that shows the image ``guid``."""
        shown = str(guid)
        for key, page in self._pages.items():
            if shown in page.guids:
                self._pages.evict(key)

    def clear(self) -> None:
        self._pages.clear()

    @property
    def size_bytes(self) -> int:
        return self._pages.size_bytes

    def __len__(self) -> int:
        return len(self._pages)

    def _catch_up(self, changes: int) -> None:
        """Pages read under an older generation are stale: all of them go at once."""
        if changes > self._changes:
            self._pages.clear()
            self._changes = changes
