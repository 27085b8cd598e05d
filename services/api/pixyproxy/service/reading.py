"""Reading images as one viewer may see them: a detail, a page of the list, the content,
a thumbnail.

Visibility is decided by the repository's queries for the viewer (``None`` for anonymous
callers); this module adds the two caches in front of them. Public images are served from
the image cache (``cache.py``) once read; anonymous list pages from the page cache
(``pages.py``), a page missed by several callers at once read once for all of them
(``singleflight.py``). Both caches are used only while ``coherence.py`` says they are
fresh, and filled only by reads no change raced. Blocking work (SQL, file metadata) runs
in the threadpool.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import KW_ONLY, dataclass, field
from uuid import UUID

from anyio import to_thread

from pixyproxy.core.errors import ImageNotFound
from pixyproxy.core.models import WEBP_CONTENT_TYPE, ImageDetail, ImageListQuery, ThumbnailWidth
from pixyproxy.data.images import ImageRepository
from pixyproxy.data.store import ORIGINAL, ImageStore, StoredContent
from pixyproxy.service.cache import ImageView, PublicImageCache
from pixyproxy.service.coherence import CacheCoherence
from pixyproxy.service.cursors import InvalidCursor, decode_cursor, encode_cursor
from pixyproxy.service.pages import DetailPage, PageCache
from pixyproxy.service.singleflight import SingleFlight
from pixyproxy.service.thumbnails import Thumbnails


@dataclass(frozen=True, slots=True)
class ImageContent:
    """What serving an image's bytes needs: where they are, and their validators."""

    stored: StoredContent
    content_type: str
    etag: str
    private: bool


@dataclass(frozen=True)
class ImageReader:
    repository: ImageRepository
    store: ImageStore
    _: KW_ONLY
    cache: PublicImageCache
    pages: PageCache
    coherence: CacheCoherence
    thumbnails: Thumbnails
    _page_reads: SingleFlight[tuple[Hashable, int], DetailPage] = field(
        default_factory=SingleFlight, init=False, repr=False
    )

    async def get(self, guid: UUID, viewer: str | None) -> ImageDetail:
        return (await self._visible(guid, viewer)).detail

    async def list(self, query: ImageListQuery, viewer: str | None) -> DetailPage:
        """One page. Anonymous callers' pages are kept until an image changes; lists that
        may hold the viewer's own private images are read each time."""
        after = decode_cursor(query.cursor) if query.cursor else None
        if viewer is not None or not self.coherence.fresh():
            return await self._read_page(query, after, viewer)
        # Decoded values only: each page has one key however its query was spelled.
        key = (query.tag, query.author, query.q, query.limit, after)
        generation = self.coherence.generation  # before reading: a change drops the page
        if (cached := self.pages.get(key, generation)) is not None:
            return cached

        async def read() -> DetailPage:
            page = await self._read_page(query, after, viewer)
            self.pages.put(key, generation, page)
            return page

        # Shared only by callers of one generation: after a change, a new read.
        return await self._page_reads.run((key, generation), read)

    async def content(self, guid: UUID, viewer: str | None) -> ImageContent:
        view = await self._visible(guid, viewer)
        stored = await to_thread.run_sync(self.store.open, guid, ORIGINAL)
        return ImageContent(
            stored=stored,
            content_type=view.content_type,
            etag=f'"{view.sha256}"',
            private=view.private,
        )

    async def thumbnail(
        self, guid: UUID, width: ThumbnailWidth, viewer: str | None
    ) -> ImageContent:
        """The thumbnail, as visible as its image. Its ETag is the original's hash and the
        width: known before the store is asked, the same on every worker and replica, and
        it names one content: a thumbnail's bytes follow from the original's and the width
        (``data/webp.py``; for one Pillow and libwebp, and a stored thumbnail is kept, never
        made again unless it was lost)."""
        view = await self._visible(guid, viewer)
        return ImageContent(
            stored=await self.thumbnails.open(guid, width),
            content_type=WEBP_CONTENT_TYPE,
            etag=f'"{view.sha256}-w{width.value}"',
            private=view.private,
        )

    async def _visible(self, guid: UUID, viewer: str | None) -> ImageView:
        coherence = self.coherence
        fresh = coherence.fresh()
        if fresh and (cached := self.cache.get(str(guid))) is not None:
            return cached  # public: visible to everyone
        generation, repository = coherence.generation, self.repository
        record = await to_thread.run_sync(lambda: repository.get(guid, viewer=viewer))
        if record is None:
            raise ImageNotFound(str(guid))
        # Kept only if no change was applied while the row was read: it may be older.
        return self.cache.put(record, keep=fresh and coherence.generation == generation)

    async def _read_page(
        self, query: ImageListQuery, after: UUID | None, viewer: str | None
    ) -> DetailPage:
        """The page's guids from the database, the images from the image cache where it has
        them (every public one, once seen), the rest in one more query."""
        repository, cache = self.repository, self.cache
        generation = self.coherence.generation
        page = await to_thread.run_sync(
            lambda: repository.list(viewer=viewer, filter=query, limit=query.limit, after=after)
        )
        if page.after_missing:
            raise InvalidCursor()
        fresh = self.coherence.fresh()
        views = {guid: view for guid in page.guids if fresh and (view := cache.get(guid))}
        if missing := [guid for guid in page.guids if guid not in views]:
            records = await to_thread.run_sync(lambda: repository.get_many(missing, viewer=viewer))
            keep = fresh and self.coherence.generation == generation
            views.update((str(record.guid), cache.put(record, keep=keep)) for record in records)
        # A row removed between the two queries (storage check --fix) is left out.
        items = [views[guid] for guid in page.guids if guid in views]
        next_cursor = encode_cursor(page.next_after) if page.next_after else None
        return DetailPage.of(items, next_cursor)
