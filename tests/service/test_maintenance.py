"""``storage check`` and an image's variants, on the in-memory fakes: the thumbnails of live
images are theirs, a thumbnail whose row is gone is an orphan that ``--fix`` removes, and
the thumbnails of a row without its original go with that row. (The same on a real
filesystem and database, through the command: tests/cli/test_storage_check.py.)"""

from __future__ import annotations

from uuid import UUID

from pixyproxy.core.models import ThumbnailWidth
from pixyproxy.data.store import ORIGINAL, THUMBNAILS, VARIANTS, Variant, delete_variants
from pixyproxy.service.maintenance import check_storage
from tests.support.fakes import FakeImageRepository, FakeImageStore
from tests.support.records import make_record

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
    report = check_storage(repository, store, fix=True, grace_s=0)
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

    found = check_storage(repository, store, grace_s=0)
    assert not found.clean
    assert sorted(i.location for i in found.files_without_rows) == sorted(
        f"memory:{gone}/{v}" for v in (SMALL, LARGE)
    )
    assert found.thumbnails == 1 and found.rows_without_files == []
    assert len(store.contents) == 4, "reporting removes nothing"

    fixed = check_storage(repository, store, fix=True, grace_s=0)
    assert fixed.fixed and set(store.contents) == {(kept, ORIGINAL), (kept, SMALL)}
    assert check_storage(repository, store, grace_s=0).clean


def test_the_thumbnails_of_a_row_without_its_original_go_with_the_row() -> None:
    repository, store = FakeImageRepository(), FakeImageStore()
    lost = an_image(repository, store, LARGE)
    store.delete(lost, ORIGINAL)
    found = check_storage(repository, store, grace_s=0)
    assert found.rows_without_files == [lost] and found.thumbnails == 0
    assert [i.guid for i in found.thumbnails_of_rows_without_files] == [lost]
    assert f"thumbnail of a row without file (found): memory:{lost}/{LARGE}" in found.lines()

    check_storage(repository, store, fix=True, grace_s=0)
    assert store.contents == {} and list(repository.iter_files()) == []


def test_delete_variants_removes_the_original_and_every_thumbnail() -> None:
    repository, store = FakeImageRepository(), FakeImageStore()
    guid = an_image(repository, store, *THUMBNAILS.values())
    other = an_image(repository, store, SMALL)
    assert len(VARIANTS) == 1 + len(ThumbnailWidth)
    delete_variants(store, guid)
    delete_variants(store, guid)  # nothing there any more: nothing happens
    assert set(store.contents) == {(other, ORIGINAL), (other, SMALL)}
