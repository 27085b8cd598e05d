"""How each recent ``q`` page was read on MySQL, remembered for a minute.

Whether a page is read from the newest images or through the full-text index
(``images.word_scan_query``) takes a query of its own over 5,000 rows: 3-4 ms of the
database's time, most of a rare word's page (5-6 ms in all, 1-2 ms without it, measured
on the bench's 10,000 images). How common a page's words are among the newest images
changes slowly, so the answer is kept per page (its words, filters, size and cursor,
and the viewer) for ``ttl_s``. Either way of reading gives the same page
(``tests/data/test_search.py``); a stale answer only costs time, and no more than the
index's answer for the images added meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

TTL_S = 60.0
MAX_PAGES = 1024  # 0.5 MB per worker when full, every page with a cursor (tracemalloc)


class WordPlans:
    def __init__(
        self,
        *,
        ttl_s: float = TTL_S,
        max_pages: int = MAX_PAGES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_pages = max_pages
        self._monotonic = monotonic
        self._plans: OrderedDict[Hashable, tuple[float, bool]] = OrderedDict()
        self._lock = threading.Lock()  # the repository is used from the threadpool

    def __len__(self) -> int:
        return len(self._plans)

    def scan_words(self, page: Hashable, decide: Callable[[], bool]) -> bool:
        """Whether ``page`` is read from the newest images: remembered, or ``decide()``."""
        now = self._monotonic()
        with self._lock:
            found = self._plans.get(page)
            if found is not None and now - found[0] < self.ttl_s:
                self._plans.move_to_end(page)
                return found[1]
        scan = decide()  # a query: outside the lock
        with self._lock:
            self._plans[page] = (now, scan)
            self._plans.move_to_end(page)
            while len(self._plans) > self.max_pages:
                self._plans.popitem(last=False)
        return scan
