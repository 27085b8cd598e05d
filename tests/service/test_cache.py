"""The public record cache: bounded, expiring, and never holding a private image."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from pixyproxy.core.models import ImageRecord
from pixyproxy.service.cache import PublicRecordCache


def record(*, private: bool = False) -> ImageRecord:
    now = datetime.now(UTC)
    guid = uuid4()
    return ImageRecord(
        guid=guid, prompt="p", filename=f"{guid}.png", author="alice", private=private,
        size_bytes=1, width=1, height=1, model="m", sha256="0" * 64, created_at=now,
        updated_at=now,
    )  # fmt: skip


def test_least_recently_used_entries_go_first() -> None:
    cache = PublicRecordCache(max_entries=2)
    a, b, c = record(), record(), record()
    cache.put(a)
    cache.put(b)
    assert cache.get(a.guid) == a  # a is now the most recent
    cache.put(c)
    assert cache.get(b.guid) is None
    assert cache.get(a.guid) == a and cache.get(c.guid) == c
    assert len(cache) == 2


def test_private_records_are_never_cached() -> None:
    cache = PublicRecordCache(max_entries=10)
    secret = record(private=True)
    cache.put(secret)
    assert cache.get(secret.guid) is None and len(cache) == 0


def test_entries_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PublicRecordCache(max_entries=10, ttl_s=60)
    now = [1000.0]
    monkeypatch.setattr("pixyproxy.service.cache.time.monotonic", lambda: now[0])
    kept = record()
    cache.put(kept)
    now[0] += 59
    assert cache.get(kept.guid) == kept
    now[0] += 2
    assert cache.get(kept.guid) is None and len(cache) == 0


def test_size_zero_turns_it_off() -> None:
    cache = PublicRecordCache(max_entries=0)
    cache.put(record())
    assert len(cache) == 0
