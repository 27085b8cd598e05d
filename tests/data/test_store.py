"""The image store: the filesystem one on a real filesystem, and the contract every
implementation keeps (the filesystem one, the S3 one on the tests' own S3-compatible
server, and the fake the service tests use). The S3 store's own behaviour:
tests/data/test_s3store.py."""

from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import replace
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixyproxy.core.errors import ImageNotFound, StorageUnavailable
from pixyproxy.core.models import ThumbnailWidth
from pixyproxy.core.settings import Settings
from pixyproxy.data.filestore import FileImageStore
from pixyproxy.data.s3store import S3ImageStore
from pixyproxy.data.store import (
    ORIGINAL,
    THUMBNAILS,
    VARIANTS,
    ImageStore,
    Variant,
    content_name,
    delete_variants,
    parse_content_name,
)
from tests.support.fakes import FakeImageStore
from tests.support.s3 import S3Server


def test_write_places_file_under_sharded_path_atomically(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path / "images")
    guid = uuid4()
    store.put(guid, ORIGINAL, b"\x89PNG data")
    path = tmp_path / "images" / str(guid)[:2] / f"{guid}.png"
    assert store.path_for(guid, ORIGINAL) == path
    assert path.read_bytes() == b"\x89PNG data"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp left behind
    opened = store.open(guid, ORIGINAL)
    assert opened.path == path and opened.size_bytes == len(b"\x89PNG data")


def test_delete_is_idempotent(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    guid = uuid4()
    store.put(guid, ORIGINAL, b"x")
    store.delete(guid, ORIGINAL)
    store.delete(guid, ORIGINAL)
    with pytest.raises(ImageNotFound):
        store.open(guid, ORIGINAL)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_root_is_storage_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    store = FileImageStore(root)
    with pytest.raises(StorageUnavailable):
        store.put(uuid4(), ORIGINAL, b"x")
    with pytest.raises(StorageUnavailable):
        store.check_writable()


def test_root_that_is_a_file_is_storage_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    store = FileImageStore(blocker)
    with pytest.raises(StorageUnavailable):
        store.put(uuid4(), ORIGINAL, b"x")
    with pytest.raises(StorageUnavailable):
        store.check_writable()
    assert blocker.read_text() == "x"


def test_check_writable_leaves_nothing(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path / "images")
    store.check_writable()
    assert list((tmp_path / "images").iterdir()) == []


def test_scan_classifies_files(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    guid = uuid4()
    store.put(guid, ORIGINAL, b"x")
    shard = tmp_path / str(guid)[:2]
    (shard / f".{guid}.png.abcd.tmp").write_bytes(b"partial")
    (shard / "notes.txt").write_text("?")
    (tmp_path / "ff").mkdir()
    (tmp_path / "ff" / f"{guid}.png").write_bytes(b"a guid in the wrong shard")
    found = {Path(f.location).relative_to(tmp_path).as_posix(): f for f in store.scan()}
    image = found[f"{str(guid)[:2]}/{guid}.png"]
    assert (image.guid, image.variant, image.is_temp) == (guid, ORIGINAL, False)
    assert found[f"{str(guid)[:2]}/.{guid}.png.abcd.tmp"].is_temp
    notes = found[f"{str(guid)[:2]}/notes.txt"]
    assert notes.guid is None and not notes.is_temp
    assert found[f"ff/{guid}.png"].guid is None


def test_discard_removes_what_scan_found_and_nothing_outside(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path / "images")
    guid = uuid4()
    store.put(guid, ORIGINAL, b"x")
    (item,) = store.scan()
    store.discard(item)
    assert list(store.scan()) == []
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"keep")
    with pytest.raises(ValueError, match="not in the store"):
        store.discard(replace(item, location=str(outside)))
    assert outside.read_bytes() == b"keep"


# The variants: named after their guid the same way in every store, told apart by scan.


@pytest.fixture(params=["filesystem", "s3", "fake"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> ImageStore:
    """Each implementation of the store protocol the tests can run here."""
    if request.param == "fake":
        return FakeImageStore()
    if request.param == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        return S3ImageStore(Settings(**s3.settings(s3.new_bucket())))
    return FileImageStore(tmp_path / "images")


def test_every_variant_is_kept_read_and_deleted_on_its_own(any_store: ImageStore) -> None:
    guid = uuid4()
    for variant in VARIANTS:
        any_store.put(guid, variant, variant.encode())
    for variant in VARIANTS:
        assert any_store.read(guid, variant) == variant.encode()
        assert any_store.open(guid, variant).size_bytes == len(variant)
    found = {(item.guid, item.variant) for item in any_store.scan()}
    assert found == {(guid, variant) for variant in VARIANTS}
    any_store.delete(guid, THUMBNAILS[ThumbnailWidth.W256])
    with pytest.raises(ImageNotFound):
        any_store.read(guid, THUMBNAILS[ThumbnailWidth.W256])
    assert any_store.read(guid, ORIGINAL) == b"original", "the others stay"
    delete_variants(any_store, guid)
    assert list(any_store.scan()) == []
    with pytest.raises(ImageNotFound):
        any_store.read(guid, ORIGINAL)


def test_the_scan_lists_variants_in_the_order_of_their_guid(any_store: ImageStore) -> None:
    """``storage check`` merges the scan with rows read in guid order."""
    guids = [uuid4() for _ in range(12)]
    for guid in guids:
        for variant in (ORIGINAL, THUMBNAILS[ThumbnailWidth.W128]):
            any_store.put(guid, variant, b"x")
    listed = [str(item.guid) for item in any_store.scan()]
    assert listed == sorted(listed) and set(listed) == {str(guid) for guid in guids}


def test_a_write_replaces_the_content_whole(any_store: ImageStore) -> None:
    guid = uuid4()
    any_store.put(guid, ORIGINAL, b"first")
    any_store.put(guid, ORIGINAL, b"second, longer")
    assert any_store.read(guid, ORIGINAL) == b"second, longer"
    assert any_store.open(guid, ORIGINAL).size_bytes == len(b"second, longer")
    any_store.check_writable()
    assert [(item.guid, item.variant) for item in any_store.scan()] == [(guid, ORIGINAL)]


def test_every_width_the_api_offers_has_its_own_variant() -> None:
    assert set(THUMBNAILS) == set(ThumbnailWidth)
    assert {ORIGINAL, *THUMBNAILS.values()} == set(VARIANTS)
    assert len(set(THUMBNAILS.values())) == len(ThumbnailWidth)


@given(guid=st.uuids(), variant=st.sampled_from(VARIANTS))
def test_a_content_name_stands_for_its_guid_and_variant_alone(guid: UUID, variant: Variant) -> None:
    name = content_name(guid, variant)
    assert parse_content_name(name) == (guid, variant)
    assert name.startswith(str(guid)) and "/" not in name
    for other in (name.upper(), f"x{name}", f"{name}.tmp", f".{name}", name.replace("-", "")):
        assert parse_content_name(other) is None, other


@given(name=st.text(max_size=60))
def test_any_other_name_is_not_a_content_name(name: str) -> None:
    parsed = parse_content_name(name)
    assert parsed is None or content_name(*parsed) == name


def test_scan_classifies_thumbnails_beside_their_original(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    guid = uuid4()
    store.put(guid, ORIGINAL, b"png")
    store.put(guid, THUMBNAILS[ThumbnailWidth.W128], b"webp")
    shard = tmp_path / str(guid)[:2]
    assert sorted(p.name for p in shard.iterdir()) == [f"{guid}.png", f"{guid}.w128.webp"]
    (shard / f".{guid}.w512.webp.abcd.tmp").write_bytes(b"partial")
    (shard / f"{guid}.w300.webp").write_bytes(b"no such width")
    (shard / f"{guid}.webp").write_bytes(b"no width at all")
    (tmp_path / "ff").mkdir()
    (tmp_path / "ff" / f"{guid}.w256.webp").write_bytes(b"in the wrong shard")
    found = {Path(f.location).relative_to(tmp_path).as_posix(): f for f in store.scan()}
    prefix = str(guid)[:2]
    thumbnail = found[f"{prefix}/{guid}.w128.webp"]
    assert (thumbnail.guid, thumbnail.variant, thumbnail.is_temp) == (
        guid,
        "thumbnail-128",
        False,
    )
    assert found[f"{prefix}/{guid}.png"].variant == ORIGINAL
    assert found[f"{prefix}/.{guid}.w512.webp.abcd.tmp"].is_temp
    for other in (f"{prefix}/{guid}.w300.webp", f"{prefix}/{guid}.webp", f"ff/{guid}.w256.webp"):
        assert (found[other].guid, found[other].variant, found[other].is_temp) == (
            None,
            None,
            False,
        ), other


def test_read_refuses_what_is_not_a_regular_file_without_blocking(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    guid = uuid4()
    path = store.path_for(guid, THUMBNAILS[ThumbnailWidth.W256])
    path.parent.mkdir(parents=True)
    os.mkfifo(path)  # reading a FIFO would wait for a writer forever
    with pytest.raises(ImageNotFound):
        store.read(guid, THUMBNAILS[ThumbnailWidth.W256])
    path.unlink()
    path.mkdir()
    with pytest.raises(ImageNotFound):
        store.read(guid, THUMBNAILS[ThumbnailWidth.W256])


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_files_are_0640_and_directories_0750_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    store = FileImageStore(tmp_path / "var" / "images")
    guid = uuid4()
    previous = os.umask(umask)
    try:
        store.put(guid, ORIGINAL, b"x")
        store.check_writable()
    finally:
        os.umask(previous)
    path = store.path_for(guid, ORIGINAL)
    for directory in (path.parent, store.root, store.root.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o750, directory
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_an_existing_root_keeps_its_mode(tmp_path: Path) -> None:
    """The root is often a volume's mount point, its mode the platform's to set."""
    root = tmp_path / "mounted"
    root.mkdir()
    root.chmod(0o2775)
    FileImageStore(root).put(uuid4(), ORIGINAL, b"x")
    assert stat.S_IMODE(root.stat().st_mode) == 0o2775


def test_the_scan_leaves_out_what_vanishes_while_it_runs(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    guids = [UUID(f"{prefix}000000-0000-4000-8000-000000000000") for prefix in ("aa", "bb")]
    extra = [UUID(f"aa{i:06d}-0000-4000-8000-000000000000") for i in range(1, 4)]
    for guid in [*guids, *extra]:
        store.put(guid, ORIGINAL, b"x")
    scan = store.scan()
    first = next(scan)  # shard aa is listed now
    assert first.guid == guids[0]
    for guid in extra:  # deleted after the listing, before they are looked at
        store.delete(guid, ORIGINAL)
    shutil.rmtree(tmp_path / "bb")  # a whole shard gone
    assert list(scan) == []


def test_leftovers_at_the_top_of_the_store_get_their_real_age(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    probe = tmp_path / ".probe.abcd.tmp"  # a readiness probe killed mid-way
    probe.write_bytes(b"ok")
    an_hour_ago = time.time() - 3600
    os.utime(probe, (an_hour_ago, an_hour_ago))
    (item,) = store.scan()
    assert item.is_temp and 3590 <= item.age_s <= 3700
