"""The image store on a filesystem: files under a root directory (the PVC mount in
Kubernetes).

Paths come only from parsed UUIDs and the variant, never from caller text:
``<root>/<first two hex digits of the guid>/<content name>``, the store's name of the
variant (``<guid>.png`` for the original, ``<guid>.w256.webp`` for a thumbnail). A write goes
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
from pixyproxy.data.store import (
    ORIGINAL,
    LocalFile,
    StoredItem,
    Variant,
    content_name,
    parse_content_name,
)

TEMP_SUFFIX = ".tmp"
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_UNREADABLE = "The image store cannot be read."


class FileImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, guid: UUID, variant: Variant = ORIGINAL) -> Path:
        return self.root / str(guid)[:2] / content_name(guid, variant)

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

    def read(self, guid: UUID, variant: Variant) -> bytes:
        """The file's bytes; ``ImageNotFound`` unless it is a regular file (opened without
        blocking, so that nothing else under the name can hold a thread)."""
        try:
            fd = os.open(self.path_for(guid, variant), os.O_RDONLY | os.O_NONBLOCK)
        except (FileNotFoundError, NotADirectoryError):
            raise ImageNotFound(str(guid)) from None
        except OSError as exc:
            raise StorageUnavailable(_UNREADABLE) from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ImageNotFound(str(guid))
            with os.fdopen(fd, "rb", closefd=False) as file:
                return file.read()
        except OSError as exc:
            raise StorageUnavailable(_UNREADABLE) from exc
        finally:
            os.close(fd)

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
    """The guid and variant a final file name stands for, in its guid's shard directory;
    (None, None) for any other name."""
    parsed = parse_content_name(path.name)
    if parsed is None or path.parent.name != str(parsed[0])[:2]:
        return None, None
    return parsed


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
