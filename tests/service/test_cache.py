"""The public image cache: bounded, expiring, and never holding a private image."""

from __future__ import annotations

import pytest

from pixyproxy.core.models import ImageDetail, ImageRecord
from pixyproxy.service.cache import PublicImageCache
from tests.support.records import make_record


def record(*, private: bool = False) -> ImageRecord:
    return make_record(author="alice", private=private)


def detail(record: ImageRecord) -> ImageDetail:
    return ImageDetail.from_record(record)


def seen(cache: PublicImageCache, record: ImageRecord) -> ImageDetail | None:
    view = cache.get(str(record.guid))
    return view.detail if view else None


def test_a_view_holds_the_detail_and_encodes_it_once() -> None:
    cache = PublicImageCache(max_entries=10)
    kept = record()
    view = cache.put(kept)
    assert view.detail == detail(kept) and view.sha256 == kept.sha256
    cached = cache.get(str(kept.guid))
    assert cached is view and cached.detail.encoded is view.detail.encoded
    assert ImageDetail.model_validate_json(view.detail.encoded) == view.detail


def test_least_recently_used_entries_go_first() -> None:
    cache = PublicImageCache(max_entries=2)
    a, b, c = record(), record(), record()
    cache.put(a)
    cache.put(b)
    assert seen(cache, a) == detail(a)  # a is now the most recent
    cache.put(c)
    assert cache.get(str(b.guid)) is None
    assert seen(cache, a) == detail(a) and seen(cache, c) == detail(c)
    assert len(cache) == 2


def test_private_records_are_never_cached() -> None:
    cache = PublicImageCache(max_entries=10)
    secret = record(private=True)
    view = cache.put(secret)
    assert view.detail == detail(secret) and view.sha256 == secret.sha256  # for this request
    assert cache.get(str(secret.guid)) is None and len(cache) == 0


def test_entries_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PublicImageCache(max_entries=10, ttl_s=60)
    now = [1000.0]
    monkeypatch.setattr("pixyproxy.service.cache.time.monotonic", lambda: now[0])
    kept = record()
    cache.put(kept)
    now[0] += 59
    assert seen(cache, kept) == detail(kept)
    now[0] += 2
    assert cache.get(str(kept.guid)) is None and len(cache) == 0


def test_size_zero_turns_it_off() -> None:
    cache = PublicImageCache(max_entries=0)
    cache.put(record())
    assert len(cache) == 0
