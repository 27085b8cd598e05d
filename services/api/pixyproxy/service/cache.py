"""A cache of public images, bounded in bytes.

A public image is served from memory by every worker without asking the database: its
detail as it is sent (its JSON and ETag, made once however often it is served), and what
serving its content needs (the content hash, the media type). Images change (edits,
deletes): ``coherence.py`` evicts a changed image from every worker's cache within its
bound. Private images are never cached: whether a caller may see one is decided by the
database query, per caller, every time.

Images enter when they are first read, not when they are generated (a burst of
generations would push out the images callers are reading); the least recently read go
first once the cache holds ``max_bytes`` (``PIXY_DETAIL_CACHE_BYTES``). Entries live at
most ``ttl_s``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from uuid import UUID

from pixyproxy.core.models import ImageDetail, ImageRecord
from pixyproxy.service.bounded import BoundedCache

# What a view holds beyond its texts and JSON: the view itself (the media type is one
# shared string); measured with tracemalloc at 190 to 300 bytes (tests/service/test_cache.py
# checks the estimate against it).
VIEW_OVERHEAD_BYTES = 320


@dataclass(frozen=True, slots=True)
class ImageView:
    """An image as the cache holds it: its detail's JSON and ETag, and the stored fields
    serving its content needs.

    It keeps no model on purpose: tens of thousands of views live in each worker, and a
    detail model is seven objects that every full pass of the garbage collector walks (at
    10,000 cached images, about 100 ms per pass on the bench machine, with the event loop
    waiting) and about 2.4 kB; a view is one object and about 1 kB. ``detail`` parses the
    JSON again when a caller needs the model (about 2 µs).
    """

    guid: str
    encoded: bytes
    etag: str
    sha256: str
    content_type: str
    private: bool

    @classmethod
    def of(cls, record: ImageRecord) -> ImageView:
        detail = ImageDetail.from_record(record)
        return cls(
            guid=str(record.guid),
            encoded=detail.encoded,
            etag=detail.etag,
            sha256=record.sha256,
            content_type=sys.intern(record.content_type),
            private=record.private,
        )

    @property
    def detail(self) -> ImageDetail:
        return ImageDetail.from_encoded(self.encoded, self.etag)

    @property
    def size_bytes(self) -> int:
        """The memory the view holds of its own."""
        texts = (self.guid, self.encoded, self.etag, self.sha256)
        return VIEW_OVERHEAD_BYTES + sum(map(sys.getsizeof, texts))


class PublicImageCache:
    def __init__(self, max_bytes: int, ttl_s: float = 300.0) -> None:
        # Keyed by the guid's text (as stored, and as list pages carry it).
        self._views: BoundedCache[str, ImageView] = BoundedCache(max_bytes, ttl_s=ttl_s)

    def get(self, guid: str) -> ImageView | None:
        return self._views.get(guid)

    def put(self, record: ImageRecord, *, keep: bool = True) -> ImageView:
        """The view of ``record``, kept for later when the image is public and ``keep``."""
        view = ImageView.of(record)
        if keep and not record.private and self._views.max_bytes > 0:
            self._views.put(view.guid, view, view.size_bytes)
        return view

    def evict(self, guid: UUID | str) -> None:
        self._views.evict(str(guid))

    def clear(self) -> None:
        self._views.clear()

    @property
    def size_bytes(self) -> int:
        return self._views.size_bytes

    def __len__(self) -> int:
        return len(self._views)
