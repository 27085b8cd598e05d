"""Thumbnails: each made once from its original, on its first request, then kept in the
image store beside it (the variant of its width) and served from there.

Making one decodes the whole original, so it runs in the threadpool, at most
``PIXY_THUMBNAIL_CONCURRENCY`` at once per process: the first view of a gallery queues
there instead of decoding every picture on the screen at once. Requests in one process for
a thumbnail being made wait for it instead of making it again. Two processes (workers,
replicas) may both make it; that is harmless: they make the same bytes (``data/webp.py``)
and the store's put is atomic, so a reader sees one whole file or the other, never part.

A thumbnail has no row of its own: it lives as long as its image's row, and one whose
row is gone is removed by ``pixyproxy storage check --fix`` (``maintenance.py``).
"""

from __future__ import annotations

import time
from uuid import UUID

import anyio
from anyio import to_thread

from pixyproxy.core import metrics
from pixyproxy.core.errors import ImageNotFound, PixyProxyException
from pixyproxy.core.models import ThumbnailWidth
from pixyproxy.data.store import ORIGINAL, THUMBNAILS, ImageStore, StoredContent, Variant
from pixyproxy.data.webp import UnusableOriginal, webp_thumbnail


class Thumbnails:
    """The thumbnails of one process's images. Used from the event loop thread only."""

    def __init__(self, store: ImageStore, *, concurrency: int) -> None:
        self.store = store
        self._making = anyio.CapacityLimiter(concurrency)
        self._pending: dict[tuple[UUID, Variant], anyio.Event] = {}

    async def open(self, guid: UUID, width: ThumbnailWidth) -> StoredContent:
        """The stored thumbnail of an image the caller may see, made first when there is
        none; ``ImageNotFound`` when the original is missing too."""
        key = (guid, THUMBNAILS[width])
        while True:
            try:
                return await to_thread.run_sync(self.store.open, *key)
            except ImageNotFound:
                pass
            pending = self._pending.get(key)
            if pending is None:
                break
            await pending.wait()  # then look again: a failed making leaves nothing
        self._pending[key] = done = anyio.Event()
        try:
            # Only the making is bounded; storing the few KB made waits on the disk alone.
            webp = await to_thread.run_sync(self._make, guid, width, limiter=self._making)
            await to_thread.run_sync(self.store.put, *key, webp)
        finally:
            del self._pending[key]
            done.set()
        metrics.THUMBNAILS_MADE.labels(str(width.value)).inc()
        return await to_thread.run_sync(self.store.open, *key)

    def _make(self, guid: UUID, width: ThumbnailWidth) -> bytes:
        started = time.perf_counter()
        original = self.store.read(guid, ORIGINAL)
        try:
            webp = webp_thumbnail(original, width.value)
        except UnusableOriginal as exc:
            raise PixyProxyException("The thumbnail could not be made.") from exc
        metrics.THUMBNAIL_SECONDS.labels(str(width.value)).observe(time.perf_counter() - started)
        return webp
