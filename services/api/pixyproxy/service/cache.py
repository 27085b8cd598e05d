"""A bounded in-process cache of public images.

Images never change once written, so a public image can be served from memory by every
worker without asking the database: its detail, whose JSON is made once however often it
is served, and its content hash. Private images are never cached: whether a caller may see
one is decided by the database query, per caller, every time.

Images enter when they are first read, not when they are generated (a burst of
generations would push out the images callers are reading); the least recently read go
first. Entries live at most ``ttl_s``, which bounds how long a row removed by
``pixyproxy storage check --fix`` is still shown. Used from the event loop thread only, so
it needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from pixyproxy.core.models import ImageDetail, ImageRecord


@dataclass(frozen=True, slots=True)
class ImageView:
    """An image as the service holds it: the detail callers see, and the one stored field
    the detail leaves out (the content hash, for the ETag).

    Kept small on purpose: ten thousand of them live in each worker, and every object in
    them is memory and work for each of the garbage collector's full passes.
    """

    detail: ImageDetail
    sha256: str

    @classmethod
    def of(cls, record: ImageRecord) -> ImageView:
        return cls(ImageDetail.from_record(record), record.sha256)


class PublicImageCache:
    def __init__(self, max_entries: int, ttl_s: float = 300.0) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        # Keyed by the guid's text (as stored, and as list pages carry it).
        self._entries: OrderedDict[str, tuple[float, ImageView]] = OrderedDict()

    def get(self, guid: str) -> ImageView | None:
        entry = self._entries.get(guid)
        if entry is None:
            return None
        stored_at, view = entry
        if time.monotonic() - stored_at > self.ttl_s:
            del self._entries[guid]
            return None
        self._entries.move_to_end(guid)
        return view

    def put(self, record: ImageRecord) -> ImageView:
        """The view of ``record``, kept for later when the image is public."""
        view = ImageView.of(record)
        if record.private or self.max_entries <= 0:
            return view
        key = str(record.guid)
        self._entries[key] = (time.monotonic(), view)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return view

    def __len__(self) -> int:
        return len(self._entries)
