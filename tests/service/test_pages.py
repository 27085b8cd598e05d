"""The list page cache: kept under one change count, dropped under another, bounded and
expiring; a page's JSON is its details' encodings, made once."""

from __future__ import annotations

import json

import pytest

from pixyproxy.service.pages import DetailPage, PageCache
from tests.support.records import make_detail


def page(*prompts: str) -> DetailPage:
    return DetailPage(items=[make_detail(p) for p in prompts], next_cursor=None)


def test_a_page_is_kept_while_the_change_count_stays() -> None:
    cache = PageCache(max_pages=10)
    kept = page("a", "b")
    cache.put("first", 7, kept)
    assert cache.get("first", 7) is kept
    assert cache.get("first", 8) is None  # an image was added since
    assert cache.get("first", 7) is None and len(cache) == 0  # and it is gone


def test_least_recently_used_pages_go_first() -> None:
    cache = PageCache(max_pages=2)
    a, b, c = page("a"), page("b"), page("c")
    cache.put("a", 0, a)
    cache.put("b", 0, b)
    assert cache.get("a", 0) is a
    cache.put("c", 0, c)
    assert cache.get("b", 0) is None
    assert cache.get("a", 0) is a and cache.get("c", 0) is c


def test_pages_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PageCache(max_pages=10, ttl_s=5)
    now = [100.0]
    monkeypatch.setattr("pixyproxy.service.pages.time.monotonic", lambda: now[0])
    kept = page("a")
    cache.put("a", 0, kept)
    now[0] += 4.9
    assert cache.get("a", 0) is kept
    now[0] += 0.2
    assert cache.get("a", 0) is None


def test_size_zero_turns_it_off() -> None:
    cache = PageCache(max_pages=0)
    cache.put("a", 0, page("a"))
    assert len(cache) == 0


def test_a_page_encodes_as_the_array_of_its_details_once() -> None:
    made = page("a", "b", "c")
    assert json.loads(made.encoded) == [json.loads(d.model_dump_json()) for d in made.items]
    assert made.encoded is made.encoded
    assert page().encoded == b"[]"
