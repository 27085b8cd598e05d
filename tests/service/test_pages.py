"""The list page cache: kept under one change generation, all dropped when it moves, bounded in
bytes and expiring; a page is its JSON, made once from its details' encodings."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from pixyproxy.service.pages import DetailPage, PageCache
from tests.support.allocations import retained
from tests.support.records import details, make_detail


def page(*prompts: str) -> DetailPage:
    return DetailPage.of([make_detail(p) for p in prompts], next_cursor=None)


def test_a_page_is_kept_while_the_change_count_stays() -> None:
    cache = PageCache(1 << 20)
    kept = page("a", "b")
    cache.put("first", 7, kept)
    assert cache.get("first", 7) is kept
    assert cache.get("first", 8) is None  # an image was added since
    assert len(cache) == 0


def test_every_page_goes_when_the_count_moves_and_late_pages_are_not_kept() -> None:
    cache = PageCache(1 << 20)
    cache.put("a", 3, page("a"))
    cache.put("b", 3, page("b"))
    assert cache.get("c", 4) is None and len(cache) == 0  # no need to ask for a or b
    cache.put("read before the change", 3, page("old"))
    assert len(cache) == 0


def test_the_bytes_are_bounded() -> None:
    one = page("x" * 3000)
    cache = PageCache(10 * one.size_bytes(("k", 0)))
    for i in range(100):
        cache.put(("k", i), 0, one)
        assert cache.size_bytes <= 10 * one.size_bytes(("k", 0))
    assert 5 <= len(cache) < 10
    assert cache.get(("k", 99), 0) is one and cache.get(("k", 0), 0) is None


def test_pages_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("pixyproxy.service.bounded.time.monotonic", lambda: now[0])
    cache = PageCache(1 << 20, ttl_s=5)
    kept = page("a")
    cache.put("a", 0, kept)
    now[0] += 4.9
    assert cache.get("a", 0) is kept
    now[0] += 0.2
    assert cache.get("a", 0) is None


def test_evict_drops_the_pages_that_show_an_image() -> None:
    cache = PageCache(1 << 20)
    first, second = page("a", "b"), page("c")
    cache.put("first", 0, first)
    cache.put("second", 0, second)
    cache.evict(UUID(first.guids[1]))
    assert cache.get("first", 0) is None and cache.get("second", 0) is second
    cache.clear()
    assert len(cache) == 0 and cache.size_bytes == 0


def test_size_zero_turns_it_off() -> None:
    cache = PageCache(0)
    cache.put("a", 0, page("a"))
    assert len(cache) == 0


def test_a_page_is_the_array_of_its_details_encoded_once() -> None:
    items = [make_detail(p) for p in ("a", "b", "c")]
    made = DetailPage.of(items, next_cursor="next")
    assert json.loads(made.encoded) == [json.loads(d.model_dump_json()) for d in items]
    assert details(made) == items and made.guids == tuple(str(d.guid) for d in items)
    assert page().encoded == b"[]"


def test_a_page_costs_what_it_says() -> None:
    """Measured: what a page holds once its details are gone (they live in the image
    cache, which counts them), its key included."""
    count = 200

    def make_pages() -> list[tuple[tuple[object, ...], DetailPage]]:
        return [
            (
                (None, f"author {i}", "q" * 200, 50, UUID(int=i)),
                DetailPage.of([make_detail("é" * 300) for _ in range(50)], "c"),
            )
            for i in range(count)
        ]

    pages, used = retained(make_pages)
    estimated = sum(made.size_bytes(key) for key, made in pages)
    assert used <= estimated <= 1.5 * used, (used / count, estimated / count)
