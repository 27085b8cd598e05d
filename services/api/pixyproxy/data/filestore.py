"""The image store on a filesystem: files under a root directory (the PVC mount in
Kubernetes).

Paths come only from parsed UUIDs and the variant, never from caller text:
``<root>/<first two hex digits of the guid>/<guid>.png`` for the original. A write goes
to a temp file in the same directory, is fsynced, then renamed into place, so a reader or
a crash never sees a partial file under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

from pixyproxy.core.errors import ImageNotFound, InsufficientStorage, StorageUnavailable
from pixyproxy.data.store import ORIGINAL, LocalFile, StoredItem, Variant

TEMP_SUFFIX = ".tmp"
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# How each variant's file is named after its guid.
_SUFFIXES: dict[Variant, str] = {ORIGINAL: ".png"}


class FileImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, guid: UUID, variant: Variant = ORIGINAL) -> Path:
        text = str(guid)
        return self.root / text[:2] / f"{text}{_SUFFIXES[variant]}"

    def put(self, guid: UUID, variant: Variant, data: bytes) -> None:
        final = self.path_for(guid, variant)
        temp = final.with_name(f".{final.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, final)
            _fsync_directory(final.parent)
        except OSError as exc:
            _remove_quietly(temp)
            raise _storage_error(exc) from exc

    def delete(self, guid: UUID, variant: Variant) -> None:
        try:
            self.path_for(guid, variant).unlink(missing_ok=True)
        except OSError as exc:
            raise _storage_error(exc) from exc

    def open(self, guid: UUID, variant: Variant) -> LocalFile:
        """The file and its metadata (one ``stat``); ``ImageNotFound`` when there is none."""
        path = self.path_for(guid, variant)
        try:
            result = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise ImageNotFound(str(guid)) from None
        if not stat.S_ISREG(result.st_mode):
            raise ImageNotFound(str(guid))
        return LocalFile(path, result)

    def check_writable(self) -> None:
        """Raise unless a small file can be created, synced and removed under the root."""
        probe = self.root / f".probe.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, b"ok")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise _storage_error(exc) from exc
        finally:
            _remove_quietly(probe)

    def scan(self) -> Iterator[StoredItem]:
        """Every file under the root, with what it is: an image, a temp leftover, or other."""
        now = time.time()
        if not self.root.is_dir():
            return
        for directory in sorted(self.root.iterdir()):
            if not directory.is_dir():
                yield _item(directory, age_s=0.0)
                continue
            for path in sorted(directory.iterdir()):
                yield _item(path, age_s=max(0.0, now - path.stat().st_mtime))

    def discard(self, item: StoredItem) -> None:
        path = Path(item.location)
        if not path.is_relative_to(self.root):
            raise ValueError(f"{path} is not in the store")
        path.unlink(missing_ok=True)


def _item(path: Path, *, age_s: float) -> StoredItem:
    guid, variant = _parse_name(path)
    return StoredItem(guid, variant, str(path), path.name.endswith(TEMP_SUFFIX), age_s)


def _parse_name(path: Path) -> tuple[UUID | None, Variant | None]:
    """The guid and variant a final file name stands for; (None, None) for any other name."""
    for variant, suffix in _SUFFIXES.items():
        stem = path.name.removesuffix(suffix)
        if stem == path.name or path.name.startswith(".") or path.parent.name != stem[:2]:
            continue
        try:
            guid = UUID(stem)
        except ValueError:
            continue
        if str(guid) == stem:
            return guid, variant
    return None, None


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _storage_error(exc: OSError) -> Exception:
    if exc.errno in _FULL:
        return InsufficientStorage()
    return StorageUnavailable()
