"""The image store on a real filesystem."""

from __future__ import annotations

import os
from pathlib import Path
from uuid import uuid4

import pytest

from pixyproxy.core.errors import ImageNotFound, StorageUnavailable
from pixyproxy.data.store import ImageStore


def test_write_places_file_under_sharded_path_atomically(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    guid = uuid4()
    path = store.write(guid, b"\x89PNG data")
    assert path == tmp_path / "images" / str(guid)[:2] / f"{guid}.png"
    assert path.read_bytes() == b"\x89PNG data"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp left behind
    assert store.stat(guid).st_size == len(b"\x89PNG data")


def test_delete_is_idempotent(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    guid = uuid4()
    store.write(guid, b"x")
    store.delete(guid)
    store.delete(guid)
    with pytest.raises(ImageNotFound):
        store.stat(guid)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_root_is_storage_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    store = ImageStore(root)
    with pytest.raises(StorageUnavailable):
        store.write(uuid4(), b"x")
    with pytest.raises(StorageUnavailable):
        store.check_writable()


def test_root_that_is_a_file_is_storage_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    store = ImageStore(blocker)
    with pytest.raises(StorageUnavailable):
        store.write(uuid4(), b"x")
    with pytest.raises(StorageUnavailable):
        store.check_writable()
    assert blocker.read_text() == "x"


def test_check_writable_leaves_nothing(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    store.check_writable()
    assert list((tmp_path / "images").iterdir()) == []


def test_scan_classifies_files(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    guid = uuid4()
    store.write(guid, b"x")
    shard = tmp_path / str(guid)[:2]
    (shard / f".{guid}.png.abcd.tmp").write_bytes(b"partial")
    (shard / "notes.txt").write_text("?")
    found = {f.path.name: f for f in store.scan()}
    assert found[f"{guid}.png"].guid == guid and not found[f"{guid}.png"].is_temp
    assert found[f".{guid}.png.abcd.tmp"].is_temp
    assert found["notes.txt"].guid is None and not found["notes.txt"].is_temp
