"""The image store on a filesystem: files under a root directory (the PVC mount in
Kubernetes).

Paths come only from parsed UUIDs and the variant, never from caller text:
``<root>/<first two hex digits of the guid>/<content name>``, the store's name of the
variant (``<guid>.png`` for the original, ``<guid>.w256.webp`` for a thumbnail). A write goes
to a temp file in the same directory, is fsynced, then renamed into place, so a reader or
a crash never sees a partial file under the final name.

Files are 0640 and the directories made here 0750, whatever the process's umask: readable
by the group (a sidecar sharing the pod's fsGroup), never by others. The root, when it
exists already (a volume's mount point), keeps its own mode.
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
FILE_MODE = 0o640
DIRECTORY_MODE = 0o750
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
            _make_directories(final.parent)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            try:
                os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away
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
            _make_directories(self.root)
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
        """Every file under the root, with what it is: an image, a temp leftover, or other.

        Files come and go while it runs (writes, renames, deletes): one that is gone when
        it is looked at is left out, as is a shard directory that went."""
        now = time.time()
        for entry in _entries(self.root):
            if not entry.is_dir(follow_symlinks=False):
                if (item := _item(Path(entry.path), entry, now)) is not None:
                    yield item
                continue
            for child in _entries(Path(entry.path)):
                if (item := _item(Path(child.path), child, now)) is not None:
                    yield item

    def discard(self, item: StoredItem) -> None:
        path = Path(item.location)
        if not path.is_relative_to(self.root):
            raise ValueError(f"{path} is not in the store")
        path.unlink(missing_ok=True)


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    """The entries of ``directory`` by name; none when it is not there (or not a directory)."""
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _item(path: Path, entry: os.DirEntry[str], now: float) -> StoredItem | None:
    """What ``entry`` is and how old (from its last write); None when it is gone."""
    try:
        modified = entry.stat(follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return None
    guid, variant = _parse_name(path)
    is_temp = path.name.endswith(TEMP_SUFFIX)
    return StoredItem(guid, variant, str(path), is_temp, max(0.0, now - modified))


def _make_directories(path: Path) -> None:
    """``path`` and its missing parents, each made here 0750 whatever the umask."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIRECTORY_MODE)
        except FileExistsError:
            continue
        os.chmod(directory, DIRECTORY_MODE)  # the umask may have taken bits away


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
