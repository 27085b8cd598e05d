"""The image store: PNG files under a root directory (the PVC mount in Kubernetes).

Paths come only from parsed UUIDs, never from caller text:
``<root>/<first two hex digits of the guid>/<guid>.png``. A write goes to a temp file in the
same directory, is fsynced, then renamed into place, so a reader or a crash never sees a
partial file under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from pixyproxy.core.errors import ImageNotFound, InsufficientStorage, StorageUnavailable

TEMP_SUFFIX = ".tmp"
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@dataclass(frozen=True, slots=True)
class StoredFile:
    guid: UUID | None  # None for names that are not ours
    path: Path
    is_temp: bool
    age_s: float


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def filename_for(guid: UUID) -> str:
        return f"{guid}.png"

    def path_for(self, guid: UUID) -> Path:
        text = str(guid)
        return self.root / text[:2] / f"{text}.png"

    def write(self, guid: UUID, data: bytes) -> Path:
        final = self.path_for(guid)
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
        return final

    def delete(self, guid: UUID) -> None:
        try:
            self.path_for(guid).unlink(missing_ok=True)
        except OSError as exc:
            raise _storage_error(exc) from exc

    def stat(self, guid: UUID) -> os.stat_result:
        """The stored file's metadata; ``ImageNotFound`` when there is no such file."""
        try:
            result = os.stat(self.path_for(guid))
        except (FileNotFoundError, NotADirectoryError):
            raise ImageNotFound(str(guid)) from None
        if not stat.S_ISREG(result.st_mode):
            raise ImageNotFound(str(guid))
        return result

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

    def scan(self) -> Iterator[StoredFile]:
        """Every file under the root, with what it is: an image, a temp leftover, or other."""
        now = time.time()
        if not self.root.is_dir():
            return
        for directory in sorted(self.root.iterdir()):
            if not directory.is_dir():
                yield StoredFile(None, directory, directory.name.endswith(TEMP_SUFFIX), 0.0)
                continue
            for path in sorted(directory.iterdir()):
                age = max(0.0, now - path.stat().st_mtime)
                yield StoredFile(_guid_of(path), path, path.name.endswith(TEMP_SUFFIX), age)


def _guid_of(path: Path) -> UUID | None:
    if path.suffix != ".png" or path.name.startswith("."):
        return None
    try:
        guid = UUID(path.stem)
    except ValueError:
        return None
    return guid if str(guid) == path.stem and path.parent.name == path.stem[:2] else None


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
