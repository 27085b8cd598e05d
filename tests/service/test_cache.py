"""The public image cache: bounded in bytes by what its views really hold, expiring, and
never holding a private image."""

from __future__ import annotations

import gc

import pytest

from pixyproxy.core.models import ImageDetail, ImageRecord
from pixyproxy.service.cache import ImageView, PublicImageCache
from tests.support.allocations import retained
from tests.support.records import make_record


def record(*, private: bool = False, prompt: str = "a lighthouse at dusk") -> ImageRecord:
    return make_record(prompt, author="alice", private=private)


def detail(record: ImageRecord) -> ImageDetail:
    return ImageDetail.from_record(record)


def seen(cache: PublicImageCache, record: ImageRecord) -> ImageDetail | None:
    view = cache.get(str(record.guid))
    return view.detail if view else None


def test_a_view_holds_the_detail_and_encodes_it_once() -> None:
    cache = PublicImageCache(1 << 20)
    kept = record()
    view = cache.put(kept)
    assert view.detail == detail(kept) and view.sha256 == kept.sha256
    cached = cache.get(str(kept.guid))
    assert cached is view and cached.detail.encoded is view.detail.encoded
    assert ImageDetail.model_validate_json(view.detail.encoded) == view.detail
    assert view.detail.etag == detail(kept).etag


def test_a_view_is_one_object_to_the_garbage_collector() -> None:
    """What each full collection walks per cached image (``ImageView`` says why)."""
    view = PublicImageCache(1 << 20).put(make_record("a fox", tags=["a", "b"], author="al"))
    held = [view, *(item for item in gc.get_referents(view) if item is not ImageView)]
    assert [type(item).__name__ for item in held if gc.is_tracked(item)] == ["ImageView"]


def test_least_recently_used_entries_go_first() -> None:
    a, b, c = record(), record(), record()
    cache = PublicImageCache(max_bytes=2 * ImageView.of(a).size_bytes + 2000)
    cache.put(a)
    cache.put(b)
    assert seen(cache, a) == detail(a)  # a is now the most recent
    cache.put(c)
    assert cache.get(str(b.guid)) is None
    assert seen(cache, a) == detail(a) and seen(cache, c) == detail(c)
    assert len(cache) == 2


@pytest.mark.parametrize("prompt", ["x" * 4000, "字" * 4000, "😀" * 4000, "a" * 3999 + "😀"])
def test_the_bound_is_in_bytes_whatever_the_images_hold(prompt: str) -> None:
    cache = PublicImageCache(max_bytes=1 << 20)
    for _ in range(400):  # more than 1 MiB of views, whatever the prompt's characters
        cache.put(record(prompt=prompt))
        assert cache.size_bytes <= 1 << 20
    assert 0 < len(cache) < 400


@pytest.mark.parametrize("prompt", ["short", "x" * 4000, "é" * 4000, "字" * 4000, "😀" * 4000])
def test_a_view_costs_at_least_what_it_holds(prompt: str) -> None:
    """Measured with tracemalloc: views made from records read afresh (as from a
    database), the records gone, the JSON made."""
    count = 300

    def make_views() -> list[ImageView]:
        views = []
        for i in range(count):
            fresh = ImageRecord.model_validate_json(
                make_record(f"{prompt}{i}", tags=["a", "b"], author="alice").model_dump_json()
            )
            views.append(ImageView.of(fresh))
            views[-1].size_bytes  # noqa: B018 - makes the JSON, as the cache does
        return views

    views, used = retained(make_views)
    estimated = sum(view.size_bytes for view in views)
    assert used <= estimated <= 1.5 * used + 1000 * count, (used / count, estimated / count)


def test_private_records_are_never_cached() -> None:
    cache = PublicImageCache(1 << 20)
    secret = record(private=True)
    view = cache.put(secret)
    assert view.detail == detail(secret) and view.sha256 == secret.sha256  # for this request
    assert cache.get(str(secret.guid)) is None and len(cache) == 0


def test_entries_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PublicImageCache(1 << 20, ttl_s=60)
    now = [1000.0]
    monkeypatch.setattr("pixyproxy.service.bounded.time.monotonic", lambda: now[0])
    kept = record()
    cache.put(kept)
    now[0] += 59
    assert seen(cache, kept) == detail(kept)
    now[0] += 2
    assert cache.get(str(kept.guid)) is None and len(cache) == 0


def test_evict_and_clear() -> None:
    cache = PublicImageCache(1 << 20)
    a, b = record(), record()
    cache.put(a)
    cache.put(b)
    cache.evict(a.guid)
    assert cache.get(str(a.guid)) is None and seen(cache, b) == detail(b)
    cache.clear()
    assert len(cache) == 0 and cache.size_bytes == 0


def test_size_zero_turns_it_off() -> None:
    cache = PublicImageCache(0)
    cache.put(record())
    assert len(cache) == 0
