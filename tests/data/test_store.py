"""The filesystem image store on a real filesystem."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from uuid import uuid4

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
