"""A count of changes to the images, seen at once by every worker of a server.

Workers keep list pages in memory (``service/pages.py``) and must drop them as soon as any
worker of the same server adds an image. The count lives in an 8-byte file that every
worker maps into memory: reading it is a memory read, and an increment holds an exclusive
file lock, so none is lost. ``pixyproxy serve`` makes the file's directory before the
workers start (``PIXY_SHARED_DIR``, ``serving/startup.py``). A process on its own (tests,
``serve --reload``) counts in memory.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path
from typing import Protocol

COUNTER_FILE = "image-changes"
_FORMAT = struct.Struct("=Q")


class ChangeCounter(Protocol):
    def value(self) -> int: ...

    def bump(self) -> None:
        """Count one change; call it after the change is committed."""
        ...

    def close(self) -> None: ...


class LocalChangeCounter:
    """The count for one process."""

    def __init__(self) -> None:
        self._value = 0

    def value(self) -> int:
        return self._value

    def bump(self) -> None:
        self._value += 1

    def close(self) -> None:
        return None


class SharedChangeCounter:
    """The count shared through a memory-mapped file by the processes that open it."""

    def __init__(self, directory: Path) -> None:
        self._fd = os.open(directory / COUNTER_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < _FORMAT.size:
            os.ftruncate(self._fd, _FORMAT.size)  # zero-filled; several openers agree
        self._map = mmap.mmap(self._fd, _FORMAT.size)

    def value(self) -> int:
        # An aligned 8-byte read is never torn on the platforms we run on.
        return int(_FORMAT.unpack_from(self._map)[0])

    def bump(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            _FORMAT.pack_into(self._map, 0, self.value() + 1)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


def open_change_counter(directory: Path | None) -> ChangeCounter:
    return SharedChangeCounter(directory) if directory is not None else LocalChangeCounter()
