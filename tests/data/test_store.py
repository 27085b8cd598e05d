"""The filesystem image store on a real filesystem."""

from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import replace
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from pixyproxy.core.errors import ImageNotFound, StorageUnavailable
from pixyproxy.data.filestore import FileImageStore
from pixyproxy.data.store import ORIGINAL


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
