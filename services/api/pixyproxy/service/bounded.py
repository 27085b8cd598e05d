"""A cache bounded in bytes: the memory it holds stays under ``max_bytes`` whatever callers
ask for.

Each entry is put with what it costs in memory (its caller knows what it holds), plus what
the cache's own bookkeeping costs per entry. When the total passes ``max_bytes`` the least
recently used entries go first; an entry larger than the whole bound is not kept at all.
An entry lives ``ttl_s`` at most, and expired entries are swept by every ``get`` and
``put`` (oldest first, so a sweep costs only what it removes), not left until they are
looked up. Used from the event loop thread only, so it needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# What one entry costs the cache itself (two ordered-dict nodes, the entry): measured with
# tracemalloc at about 250 bytes on CPython 3.11 (tests/service/test_bounded.py).
ENTRY_OVERHEAD_BYTES = 400


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    size_bytes: int
    expires_at: float


class BoundedCache(Generic[K, V]):
    def __init__(self, max_bytes: int, *, ttl_s: float) -> None:
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self.size_bytes = 0
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()  # least recently used first
        self._by_age: OrderedDict[K, float] = OrderedDict()  # first put first (expires first)
        self._sweep_at = float("inf")  # no entry expires before this

    def get(self, key: K) -> V | None:
        now = time.monotonic()
        self._sweep(now)
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry.value

    def put(self, key: K, value: V, size_bytes: int) -> None:
        """Keep ``value``, which holds ``size_bytes`` of memory, as ``key``'s."""
        now = time.monotonic()
        self._sweep(now)
        self.evict(key)
        size = size_bytes + ENTRY_OVERHEAD_BYTES
        if size > self.max_bytes:
            return
        expires_at = now + self.ttl_s
        self._entries[key] = _Entry(value, size, expires_at)
        self._by_age[key] = expires_at
        self._sweep_at = min(self._sweep_at, expires_at)
        self.size_bytes += size
        while self.size_bytes > self.max_bytes:
            self.evict(next(iter(self._entries)))

    def evict(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            del self._by_age[key]
            self.size_bytes -= entry.size_bytes

    def clear(self) -> None:
        self._entries.clear()
        self._by_age.clear()
        self.size_bytes = 0

    def items(self) -> Iterator[tuple[K, V]]:
        """The entries, least recently used first (a copy: evicting while iterating is fine)."""
        return iter([(key, entry.value) for key, entry in self._entries.items()])

    def __len__(self) -> int:
        return len(self._entries)

    def _sweep(self, now: float) -> None:
        if now < self._sweep_at:  # the common case: one comparison
            return
        while self._by_age:
            key, expires_at = next(iter(self._by_age.items()))
            if expires_at > now:
                self._sweep_at = expires_at
                return
            self.evict(key)
        self._sweep_at = float("inf")
