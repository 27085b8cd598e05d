"""A bounded in-process cache of the list pages anonymous callers ask for.

A page is valid while no image has been added since it was read: each page remembers the
change count (``data/changes.py``) it was read under, and the count is bumped after every
new image is committed, by whichever worker of the server wrote it. A page read while a
write was in flight carries the count from before that write, so it is dropped too.

Changes the count cannot see (images written by another server, rows removed by
``pixyproxy storage check --fix``) are shown within ``ttl_s``. Lists of authenticated
callers, which may hold their own private images, are never cached. Used from the event
loop thread only, so it needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from functools import cached_property

from pixyproxy.core.models import ImageDetail


@dataclass(frozen=True)
class DetailPage:
    items: list[ImageDetail]
    next_cursor: str | None

    @cached_property
    def encoded(self) -> bytes:
        """The page as a JSON array, made once from the details' own encodings."""
        return b"[" + b",".join([detail.encoded for detail in self.items]) + b"]"


class PageCache:
    def __init__(self, max_pages: int, ttl_s: float = 5.0) -> None:
        self.max_pages = max_pages
        self.ttl_s = ttl_s
        self._pages: OrderedDict[Hashable, tuple[int, float, DetailPage]] = OrderedDict()

    def get(self, key: Hashable, changes: int) -> DetailPage | None:
        entry = self._pages.get(key)
        if entry is None:
            return None
        read_under, read_at, page = entry
        if read_under != changes or time.monotonic() - read_at > self.ttl_s:
            del self._pages[key]
            return None
        self._pages.move_to_end(key)
        return page

    def put(self, key: Hashable, changes: int, page: DetailPage) -> None:
        """Keep ``page``, read under the change count ``changes`` (taken before reading)."""
        if self.max_pages <= 0:
            return
        self._pages[key] = (changes, time.monotonic(), page)
        self._pages.move_to_end(key)
        while len(self._pages) > self.max_pages:
            self._pages.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pages)
