"""The byte-bounded cache: never over its bound, least recently used out first, expired
entries swept without being looked up, and its bookkeeping cost per entry as stated."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixyproxy.service import bounded
from pixyproxy.service.bounded import ENTRY_OVERHEAD_BYTES, BoundedCache
from tests.support.allocations import retained

OVERHEAD = ENTRY_OVERHEAD_BYTES


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(bounded.time, "monotonic", lambda: now[0])
    return now


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 3000)), max_size=60))
def test_the_bytes_held_never_pass_the_bound(puts: list[tuple[int, int]]) -> None:
    cache: BoundedCache[int, int] = BoundedCache(10_000, ttl_s=60)
    for key, size in puts:
        cache.put(key, size, size)
        assert cache.size_bytes <= cache.max_bytes
        assert cache.size_bytes == sum(v + OVERHEAD for _, v in cache.items())
        kept = size + OVERHEAD <= cache.max_bytes
        assert (cache.get(key) == size) == kept  # the newest entry is kept if it fits


def test_the_least_recently_used_go_first() -> None:
    cache: BoundedCache[str, str] = BoundedCache(3 * (100 + OVERHEAD), ttl_s=60)
    for key in "abc":
        cache.put(key, key, 100)
    assert cache.get("a") == "a"  # now the most recent
    cache.put("d", "d", 100)
    assert cache.get("b") is None
    assert [key for key, _ in cache.items()] == ["c", "a", "d"]


def test_an_entry_larger_than_the_bound_is_not_kept() -> None:
    cache: BoundedCache[str, str] = BoundedCache(1000, ttl_s=60)
    cache.put("small", "s", 10)
    cache.put("huge", "h", 10_000)
    assert cache.get("huge") is None and cache.get("small") == "s"


def test_expired_entries_are_swept_without_being_looked_up(clock: list[float]) -> None:
    cache: BoundedCache[str, str] = BoundedCache(1 << 20, ttl_s=10)
    cache.put("old", "o", 1000)
    clock[0] += 6
    cache.put("young", "y", 1000)
    clock[0] += 5  # "old" is 11 s old, "young" 5 s
    assert cache.get("something else") is None
    assert [key for key, _ in cache.items()] == ["young"]
    assert cache.size_bytes == 1000 + OVERHEAD
    clock[0] += 5
    cache.put("another", "a", 1)
    assert [key for key, _ in cache.items()] == ["another"]


def test_a_key_put_again_is_one_entry_and_lives_from_then(clock: list[float]) -> None:
    cache: BoundedCache[str, str] = BoundedCache(1 << 20, ttl_s=10)
    cache.put("k", "first", 500)
    clock[0] += 8
    cache.put("k", "second", 700)
    assert cache.size_bytes == 700 + OVERHEAD and len(cache) == 1
    clock[0] += 8
    assert cache.get("k") == "second"


def test_evict_and_clear() -> None:
    cache: BoundedCache[str, str] = BoundedCache(1 << 20, ttl_s=10)
    cache.put("a", "a", 10)
    cache.put("b", "b", 20)
    cache.evict("a")
    cache.evict("missing")
    assert cache.get("a") is None and cache.size_bytes == 20 + OVERHEAD
    cache.clear()
    assert len(cache) == 0 and cache.size_bytes == 0


def test_the_cost_per_entry_covers_the_bookkeeping() -> None:
    count = 20_000
    keys = [f"{i:036d}" for i in range(count)]
    values = [object() for _ in range(count)]

    def fill() -> BoundedCache[str, object]:
        cache: BoundedCache[str, object] = BoundedCache(1 << 40, ttl_s=60)
        for key, value in zip(keys, values, strict=True):
            cache.put(key, value, 0)
        return cache

    _, used = retained(fill)
    assert used / count <= OVERHEAD, used / count
