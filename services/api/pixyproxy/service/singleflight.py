"""One read for many callers: concurrent misses of one cache key share the first one's work.

When a cached list page expires, every request for it that arrives before it is cached
again would read it from the database. For a cheap page that costs little; for a ``q``
page (a window of the newest images checked for the words, then the page) it cost each
worker a burst of identical queries every ``PIXY_LIST_CACHE_TTL_S``, which held up the
worker's other requests too: ``q`` p99 was 170 ms against 13 ms at p90 on the 2-core
bench machine, the slow ones every 5 s (``make bench-scale``).

Only a success is shared. When the first caller fails or is cancelled (its client went
away), each waiting caller does the work itself, so one caller's error or disconnect is
never another's. Everything here runs on the event loop; nothing is locked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import anyio

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Flight(Generic[V]):
    __slots__ = ("done", "ok", "value")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.value: V | None = None
        self.ok = False


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._flights: dict[K, _Flight[V]] = {}

    def __len__(self) -> int:
        """How many keys are being worked on now."""
        return len(self._flights)

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        """``work()``'s result, or that of the call of ``key`` already running."""
        if (flight := self._flights.get(key)) is not None:
            await flight.done.wait()
            if flight.ok:
                return flight.value  # type: ignore[return-value]  # set with ok
            return await work()
        flight = self._flights[key] = _Flight()
        try:
            flight.value = await work()
            flight.ok = True
            return flight.value
        finally:
            del self._flights[key]
            flight.done.set()
