"""The image store's contract: content addressed by an image's guid and a variant.

The variants of an image are its original PNG and its WebP thumbnails, one per width the
API offers, stored beside the original under the same rules. Whatever holds the bytes
(files under a directory, objects in a bucket) implements ``ImageStore``; only the
implementation knows where they are, and every implementation names an image's variants
after its guid the same way (``content_name``), so ``scan`` can tell what each one is. A
write is atomic: a reader sees all of the content or none of it, and a failed write leaves
nothing under the content's name.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args
from uuid import UUID

from pixyproxy.core.models import ThumbnailWidth

Variant = Literal["original", "thumbnail-128", "thumbnail-256", "thumbnail-512"]
ORIGINAL: Variant = "original"
VARIANTS: tuple[Variant, ...] = get_args(Variant)
# How each variant's content is named after its guid: "<guid>.png", "<guid>.w256.webp".
_SUFFIXES: dict[Variant, str] = {
    ORIGINAL: ".png",
    "thumbnail-128": ".w128.webp",
    "thumbnail-256": ".w256.webp",
    "thumbnail-512": ".w512.webp",
}
# The thumbnail variant of each width the API offers.
THUMBNAILS: dict[ThumbnailWidth, Variant] = {
    ThumbnailWidth.W128: "thumbnail-128",
    ThumbnailWidth.W256: "thumbnail-256",
    ThumbnailWidth.W512: "thumbnail-512",
}


def content_name(guid: UUID, variant: Variant) -> str:
    return f"{guid}{_SUFFIXES[variant]}"


def parse_content_name(name: str) -> tuple[UUID, Variant] | None:
    """The guid and variant ``content_name`` gave ``name``; None for any other name."""
    for variant, suffix in _SUFFIXES.items():
        stem = name.removesuffix(suffix)
        if stem == name:
            continue
        try:
            guid = UUID(stem)
        except ValueError:
            return None
        return (guid, variant) if str(guid) == stem else None
    return None


@dataclass(frozen=True, slots=True)
class LocalFile:
    """Stored content the server can send from a local file (ranges included)."""

    path: Path
    stat: os.stat_result

    @property
    def size_bytes(self) -> int:
        return self.stat.st_size


class ObjectSource(Protocol):
    """Where a ``RemoteObject``'s bytes come from (``s3store.py``)."""

    def chunks(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """The bytes ``[start, end)`` of the object, as they arrive (on the event loop);
        ``StorageUnavailable`` when they cannot be read."""
        ...

    def redirect_url(self, key: str, *, private: bool) -> str | None:
        """A URL the caller may fetch the object from itself, or None: send the bytes."""
        ...


@dataclass(frozen=True, slots=True)
class RemoteObject:
    """Stored content in an object store: fetched to be sent (ranges too), or handed out
    as a URL."""

    key: str
    size_bytes: int
    modified: float  # seconds since the epoch
    source: ObjectSource


# What ``ImageStore.open`` gives: how the web layer can send the content
# (web/content.py). A store whose content is neither adds its own kind here.
StoredContent = LocalFile | RemoteObject


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
        """The stored content, to send; ``ImageNotFound`` when there is none."""
        ...

    def read(self, guid: UUID, variant: Variant) -> bytes:
        """The stored bytes (to make a thumbnail from); ``ImageNotFound`` when there are
        none, ``StorageUnavailable`` when they cannot be read."""
        ...

    def check_writable(self) -> None:
        """Raise unless content can be written now (readiness)."""
        ...

    def scan(self) -> Iterator[StoredItem]:
        """Everything in the store, ours or not; an image's variants in the order of their
        guid's text (``storage check`` merges them with the rows in that order)."""
        ...

    def discard(self, item: StoredItem) -> None:
        """Remove an item ``scan`` found (``storage check --fix``)."""
        ...


def delete_variants(store: ImageStore, guid: UUID) -> None:
    """Remove an image's original and its thumbnails (after its row: DESIGN §6)."""
    for variant in VARIANTS:
        store.delete(guid, variant)
