"""``storage check`` on fakes: the grace period never goes below its floor, the floor
follows the database timeouts, ages count from when the rows were read; and an image's
variants: the thumbnails of live images are theirs, a thumbnail whose row is gone is an
orphan that ``--fix`` removes, and the thumbnails of a row without its original go with
that row. (The same on a real filesystem and database, through the command:
tests/cli/test_storage_check.py.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import chain, repeat
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixyproxy.core.models import ThumbnailWidth
from pixyproxy.core.settings import Settings
from pixyproxy.data.store import (
    ORIGINAL,
    THUMBNAILS,
    VARIANTS,
    StoredItem,
    Variant,
    delete_variants,
)
from pixyproxy.service import maintenance
from pixyproxy.service.maintenance import FILESYSTEM_ALLOWANCE_S, check_storage, grace_floor_s
from tests.support.fakes import FakeImageRepository, FakeImageStore
from tests.support.records import make_record


class AgedStore(FakeImageStore):
    """The fake store, its items as old as ``age_s`` says."""

    age_s = 0.0

    def scan(self) -> Iterator[StoredItem]:
        for item in super().scan():
            yield replace(item, age_s=self.age_s)


@pytest.fixture
def orphan() -> AgedStore:
    """A store holding one file whose row is not (or not yet) there."""
    store = AgedStore()
    store.put(uuid4(), ORIGINAL, b"png")
    return store


@pytest.mark.parametrize("grace_s", [0.0, -30.0, 99.0])
def test_a_grace_below_the_floor_is_raised_to_it(orphan: AgedStore, grace_s: float) -> None:
    orphan.age_s = 100.0
    young = check_storage(FakeImageRepository(), orphan, fix=True, grace_s=grace_s, floor_s=150)
    assert young.grace_s == 150 and len(young.too_young_to_judge) == 1
    assert len(orphan.contents) == 1, "a file that may be waiting for its row stays"
    orphan.age_s = 151.0
    old = check_storage(FakeImageRepository(), orphan, fix=True, grace_s=grace_s, floor_s=150)
    assert len(old.files_without_rows) == 1 and orphan.contents == {}


def test_ages_count_from_when_the_rows_were_read(
    orphan: AgedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the rows of a large database takes a while: a file 950 s old when the scan
    looks at it was 850 s old when its row could last have been seen."""
    clock = chain([1000.0], repeat(1100.0))  # rows read, then the scan looks at the file
    monkeypatch.setattr(maintenance.time, "time", lambda: next(clock))
    orphan.age_s = 950.0
    report = check_storage(FakeImageRepository(), orphan, fix=True, grace_s=900, floor_s=0)
    assert len(report.too_young_to_judge) == 1 and len(orphan.contents) == 1


def test_the_floor_follows_the_database_timeouts(make_settings: Callable[..., Settings]) -> None:
    mysql = make_settings(
        database_url="mysql://root@db/pixyproxy",
        db_pool_timeout_s=5,
        db_connect_timeout_s=5,
        db_read_timeout_s=30,
        db_write_timeout_s=30,
    )
    # Two pool waits, two connections of six round trips, six round trips of a write.
    assert grace_floor_s(mysql) == 2 * 5 + 2 * 6 * 5 + 6 * 60 + FILESYSTEM_ALLOWANCE_S
    slower = mysql.model_copy(update={"db_read_timeout_s": 300.0})
    assert grace_floor_s(slower) == grace_floor_s(mysql) + 6 * 270
    sqlite = make_settings(db_pool_timeout_s=7)
    assert grace_floor_s(sqlite) == 7 + FILESYSTEM_ALLOWANCE_S
    assert grace_floor_s(make_settings()) < maintenance.DEFAULT_GRACE_S
    assert grace_floor_s(mysql) < maintenance.DEFAULT_GRACE_S


SMALL, LARGE = THUMBNAILS[ThumbnailWidth.W128], THUMBNAILS[ThumbnailWidth.W512]


def an_image(repository: FakeImageRepository, store: FakeImageStore, *variants: Variant) -> UUID:
    guid = repository.insert(make_record()).guid
    for variant in (ORIGINAL, *variants):
        store.contents[(guid, variant)] = b"x"
    return guid


def test_thumbnails_of_live_images_are_counted_and_left_alone() -> None:
    repository, store = FakeImageRepository(), FakeImageStore()
    an_image(repository, store, SMALL, LARGE)
    an_image(repository, store)
    report = check_storage(repository, store, fix=True, grace_s=0, floor_s=0)
    assert report.clean and (report.images, report.thumbnails) == (2, 2)
    assert report.unknown_files == [] and report.files_without_rows == []
    assert len(store.contents) == 4
    assert report.lines()[0] == "2 images in the database, 2 thumbnails stored"


def test_a_thumbnail_whose_row_is_gone_is_found_then_removed() -> None:
    repository, store = FakeImageRepository(), FakeImageStore()
    kept = an_image(repository, store, SMALL)
    gone = an_image(repository, store, SMALL, LARGE)
    repository.delete(gone)  # the row first, as a delete does; its files stayed behind
    store.delete(gone, ORIGINAL)

    found = check_storage(repository, store, grace_s=0, floor_s=0)
    assert not found.clean
    assert sorted(i.location for i in found.files_without_rows) == sorted(
        f"memory:{gone}/{v}" for v in (SMALL, LARGE)
    )
    assert found.thumbnails == 1 and found.rows_without_files == []
    assert len(store.contents) == 4, "reporting removes nothing"

    fixed = check_storage(repository, store, fix=True, grace_s=0, floor_s=0)
    assert fixed.fixed and set(store.contents) == {(kept, ORIGINAL), (kept, SMALL)}
    assert check_storage(repository, store, grace_s=0, floor_s=0).clean


def test_the_thumbnails_of_a_row_without_its_original_go_with_the_row() -> None:
    repository, store = FakeImageRepository(), FakeImageStore()
    lost = an_image(repository, store, LARGE)
    store.delete(lost, ORIGINAL)
    found = check_storage(repository, store, grace_s=0, floor_s=0)
    assert found.rows_without_files == [lost] and found.thumbnails == 0
    assert [i.guid for i in found.thumbnails_of_rows_without_files] == [lost]
    assert f"thumbnail of a row without file (found): memory:{lost}/{LARGE}" in found.lines()

    check_storage(repository, store, fix=True, grace_s=0, floor_s=0)
    assert store.contents == {} and list(repository.iter_files()) == []


def test_delete_variants_removes_the_original_and_every_thumbnail() -> None:
    repository, store = FakeImageRepository(), FakeImageStore()
    guid = an_image(repository, store, *THUMBNAILS.values())
    other = an_image(repository, store, SMALL)
    assert len(VARIANTS) == 1 + len(ThumbnailWidth)
    delete_variants(store, guid)
    delete_variants(store, guid)  # nothing there any more: nothing happens
    assert set(store.contents) == {(other, ORIGINAL), (other, SMALL)}


# The merge: the store's scan beside keyset pages of rows, both in guid order.

KINDS = (
    "live",
    "live_with_thumbnail",
    "row_only",
    "thumbnail_only_row",
    "orphan",
    "orphan_thumbnail",
)


@settings(max_examples=60, deadline=None)
@given(kinds=st.lists(st.sampled_from(KINDS), max_size=14), page_size=st.integers(1, 4))
def test_any_store_and_rows_are_judged_alike_whatever_the_page_size(
    kinds: list[str], page_size: int
) -> None:
    repository, store = FakeImageRepository(), FakeImageStore()
    expected: dict[str, set[UUID]] = {name: set() for name in ("rows", "orphans", "thumbs")}
    for kind in kinds:
        guid = repository.insert(make_record()).guid
        if kind.startswith("live"):
            store.contents[(guid, ORIGINAL)] = b"png"
        if kind in ("live_with_thumbnail", "thumbnail_only_row", "orphan_thumbnail"):
            store.contents[(guid, SMALL)] = b"webp"
        if kind in ("row_only", "thumbnail_only_row"):
            expected["rows"].add(guid)
        if kind.startswith("orphan"):
            repository.delete(guid)
            store.contents[(guid, ORIGINAL)] = b"png"
            expected["orphans"].add(guid)
        if kind == "live_with_thumbnail":
            expected["thumbs"].add(guid)
    report = check_storage(repository, store, grace_s=0, floor_s=0, page_size=page_size)
    assert report.images == len(repository.rows)
    assert set(report.rows_without_files) == expected["rows"]
    assert {item.guid for item in report.files_without_rows} == expected["orphans"]
    assert report.thumbnails == len(expected["thumbs"])
    assert {i.guid for i in report.thumbnails_of_rows_without_files} == {
        guid for guid in expected["rows"] if (guid, SMALL) in store.contents
    }
    whole = check_storage(repository, store, grace_s=0, floor_s=0, page_size=10_000)
    assert report.lines() == whole.lines()


class ListedEarly(FakeImageStore):
    """A store whose scan lists what it held when the scan began (as a listing page or a
    directory read is), whatever is written while the check runs."""

    def scan(self) -> Iterator[StoredItem]:
        items = list(super().scan())
        yield from items


def test_a_row_committed_after_the_listing_is_not_a_row_without_file() -> None:
    """The shard was listed before the image's object was written; its row committed
    before its page of rows was read. The check asks the store again before it reports
    (and --fix deletes) a row without its original."""
    repository, store = FakeImageRepository(), ListedEarly()
    early = UUID("00000000-0000-4000-8000-000000000000")
    late = UUID("ffffffff-0000-4000-8000-000000000000")  # its rows' page is read last
    repository.insert(make_record().model_copy(update={"guid": early}))
    store.contents[(early, ORIGINAL)] = b"png"
    scan = store.scan

    def scan_then_generate() -> Iterator[StoredItem]:
        listed = scan()
        first = next(listed)  # the listing is taken now
        repository.insert(make_record().model_copy(update={"guid": late}))
        store.contents[(late, ORIGINAL)] = b"png"
        yield first
        yield from listed

    store.scan = scan_then_generate  # type: ignore[method-assign]
    report = check_storage(repository, store, fix=True, grace_s=0, floor_s=0, page_size=1)
    assert report.rows_without_files == [] and report.images == 2
    assert set(repository.rows) == {early, late}, "--fix deleted no row"


def test_a_scan_out_of_guid_order_stops_the_check() -> None:
    repository, store = FakeImageRepository(), FakeImageStore()
    guids = [an_image(repository, store) for _ in range(3)]

    def backwards() -> Iterator[StoredItem]:
        for guid in sorted(guids, key=str, reverse=True):
            yield StoredItem(guid, ORIGINAL, f"memory:{guid}", False, 3600.0)

    store.scan = backwards  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="not in guid order"):
        check_storage(repository, store, fix=True, grace_s=0, floor_s=0)
    assert len(repository.rows) == 3, "nothing removed"
