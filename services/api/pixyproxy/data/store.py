"""The image store's contract: content addressed by an image's guid and a variant.

The original PNG is the one variant today; thumbnails are stored beside it later under
the same rules. Whatever holds the bytes (files under a directory, objects in a bucket)
implements ``ImageStore``; only the implementation knows where they are. A write is
atomic: a reader sees all of the content or none of it, and a failed write leaves nothing
under the content's name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol
from uuid import UUID

Variant = Literal["original"]
ORIGINAL: Variant = "original"


@dataclass(frozen=True, slots=True)
class LocalFile:
    """Stored content the server can send from a local file (ranges included)."""

    path: Path
    stat: os.stat_result

    @property
    def size_bytes(self) -> int:
        return self.stat.st_size


# What ``ImageStore.open`` gives: how the web layer can send the content
# (web/content.py). A store whose content is not a local file adds its own kind here.
StoredContent = LocalFile


@dataclass(frozen=True, slots=True)
class StoredItem:
    """One thing found in the store, for reconciling it with the database."""

    guid: UUID | None  # None for what is not ours
    variant: Variant | None
    location: str  # where the store keeps it, as a report shows it
    is_temp: bool  # a write that never finished
    age_s: float


class ImageStore(Protocol):
    def put(self, guid: UUID, variant: Variant, data: bytes) -> None:
        """Store the content atomically; ``StorageUnavailable``/``InsufficientStorage``."""
        ...

    def delete(self, guid: UUID, variant: Variant) -> None:
        """Remove the content; nothing happens when there is none."""
        ...

    def open(self, guid: UUID, variant: Variant) -> StoredContent:
        """The stored content; ``ImageNotFound`` when there is none."""
        ...

    def check_writable(self) -> None:
        """Raise unless content can be written now (readiness)."""
        ...

    def scan(self) -> Iterator[StoredItem]:
        """Everything in the store, ours or not."""
        ...

    def discard(self, item: StoredItem) -> None:
        """Remove an item ``scan`` found (``storage check --fix``)."""
        ...
