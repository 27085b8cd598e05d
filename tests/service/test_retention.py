"""Retention on fakes: ``prune_images`` removes the rows first, in batches, then the files,
and a file that cannot be removed is counted for ``storage check``, never kept as a row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from pixyproxy.core.errors import StorageUnavailable
from pixyproxy.data.store import ORIGINAL, Variant
from pixyproxy.service.retention import prune_images
from tests.support.fakes import FakeImageRepository, FakeImageStore
from tests.support.records import make_record


def test_prune_removes_rows_oldest_first_then_files_and_counts_what_it_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repository, store = FakeImageRepository(), FakeImageStore()
    now = datetime.now(UTC)
    old = [repository.insert(make_record(at=now - timedelta(days=40 + i))) for i in range(3)]
    new = repository.insert(make_record(at=now))
    for record in (*old, new):
        store.put(record.guid, ORIGINAL, b"png")
    cutoff = now - timedelta(days=30)
    dry = prune_images(repository, store, before=cutoff, dry_run=True)
    assert dry.images == 3 and len(repository.rows) == 4
    real_delete = store.delete

    def failing_delete(guid: UUID, variant: Variant) -> None:
        if guid == old[0].guid:
            raise StorageUnavailable()
        real_delete(guid, variant)

    monkeypatch.setattr(store, "delete", failing_delete)
    report = prune_images(repository, store, before=cutoff, batch=2)
    assert (report.images, report.files_left) == (3, 1)
    assert list(repository.rows) == [new.guid]  # every row went, whatever the files did
    assert set(store.contents) == {(old[0].guid, ORIGINAL), (new.guid, ORIGINAL)}
    assert "storage check --fix" in report.lines()[-1]
