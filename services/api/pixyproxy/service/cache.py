"""A cache of public images, bounded in bytes.

A public image is served from memory by every worker without asking the database: its
detail, whose JSON is made once however often it is served, and its content hash. Images
change (edits, deletes): ``coherence.py`` evicts a changed image from every worker's cache
within its bound. Private images are never cached: whether a caller may see one is decided
by the database query, per caller, every time.

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

# What a detail and its view hold beyond their text and JSON: the model's dict and field
# set, the guid, the timestamps, the tags list, the view; measured with tracemalloc at
# about 1,580 bytes (tests/service/test_cache.py checks the estimate against it). A larger
# figure only wastes the bound: at 2,000 the default 32 MiB held fewer than the bench's
# 10,000 images, and with random reads an LRU a little too small misses all the time.
VIEW_OVERHEAD_BYTES = 1700


@dataclass(frozen=True, slots=True)
class ImageView:
    """An image as the service holds it: the detail callers see, and the one stored field
    the detail leaves out (the content hash, for the ETag).

    Kept small on purpose: tens of thousands of them live in each worker, and every object
    in them is memory and work for each of the garbage collector's full passes.
    """

    detail: ImageDetail
    sha256: str

    @classmethod
    def of(cls, record: ImageRecord) -> ImageView:
        return cls(ImageDetail.from_record(record), record.sha256)

    @property
    def size_bytes(self) -> int:
        """The memory the view holds (its JSON made, as a cached view has it)."""
        detail = self.detail
        encoded = detail.encoded  # first: encoding may give a text its UTF-8 copy
        texts = (detail.prompt, detail.filename, detail.author or "", detail.model)
        text_bytes = sum(map(sys.getsizeof, (*texts, *detail.tags, detail.content_url)))
        return (
            VIEW_OVERHEAD_BYTES + sys.getsizeof(encoded) + text_bytes + sys.getsizeof(self.sha256)
        )


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
            key = str(record.guid)
            self._views.put(key, view, view.size_bytes + sys.getsizeof(key))
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
