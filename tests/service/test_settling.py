"""Settling the files of writes whose commit the database could not confirm, on the fakes
(the real database, cut mid-COMMIT: test_commit_outcome.py)."""

from __future__ import annotations

from uuid import UUID, uuid4

import anyio
import pytest

from pixyproxy.data.store import ORIGINAL, THUMBNAILS, Variant
from pixyproxy.service.settling import UnsettledImages
from tests.support.fakes import FakeImageRepository, FakeImageStore
from tests.support.records import make_record

pytestmark = pytest.mark.anyio

VARIANTS: list[Variant] = [ORIGINAL, *THUMBNAILS.values()]


@pytest.fixture
def repository() -> FakeImageRepository:
    return FakeImageRepository()


@pytest.fixture
def store() -> FakeImageStore:
    return FakeImageStore()


def stored(store: FakeImageStore, *, variants: list[Variant] = VARIANTS) -> list[UUID]:
    """The files of an image that has no row."""
    guid = uuid4()
    for variant in variants:
        store.put(guid, variant, b"png")
    return [guid]


async def test_files_without_a_row_go_and_files_of_a_row_stay(
    repository: FakeImageRepository, store: FakeImageStore
) -> None:
    kept = make_record()
    repository.insert(kept)
    for variant in VARIANTS:
        store.put(kept.guid, variant, b"png")
    [orphan] = stored(store)
    unsettled = UnsettledImages(repository, store)
    unsettled.add(orphan)
    unsettled.add(kept.guid)

    await unsettled.settle_pending()

    assert unsettled.pending() == []
    assert sorted(store.contents) == sorted((kept.guid, variant) for variant in VARIANTS)


async def test_nothing_is_decided_while_the_database_is_away(
    repository: FakeImageRepository, store: FakeImageStore
) -> None:
    orphans = stored(store) + stored(store, variants=[ORIGINAL])
    unsettled = UnsettledImages(repository, store)
    for guid in orphans:
        unsettled.add(guid)
    repository.unavailable = True

    await unsettled.settle_pending()
    assert unsettled.pending() == orphans
    assert len(store.contents) == len(VARIANTS) + 1

    repository.unavailable = False
    await unsettled.settle_pending()
    assert unsettled.pending() == []
    assert store.contents == {}


async def test_the_app_task_settles_on_its_own_once_the_database_is_back(
    repository: FakeImageRepository, store: FakeImageStore
) -> None:
    [orphan] = stored(store)
    unsettled = UnsettledImages(repository, store, retry_s=0.01)
    unsettled.add(orphan)
    repository.unavailable = True
    with anyio.fail_after(10):
        async with anyio.create_task_group() as background:
            background.start_soon(unsettled.run)
            await anyio.sleep(0.05)
            assert unsettled.pending() == [orphan]
            repository.unavailable = False
            for _ in range(500):  # a few rounds; fail_after bounds the wait
                await anyio.sleep(0.01)
                if not unsettled.pending():
                    break
            background.cancel_scope.cancel()
    assert store.contents == {}


async def test_what_is_pending_is_bounded_and_the_rest_left_for_storage_check(
    repository: FakeImageRepository, store: FakeImageStore
) -> None:
    guids = stored(store) + stored(store) + stored(store)
    unsettled = UnsettledImages(repository, store, max_pending=2)
    for guid in guids:
        unsettled.add(guid)
    assert unsettled.pending() == guids[:2]
    await unsettled.settle_pending()
    assert {guid for guid, _ in store.contents} == {guids[2]}
