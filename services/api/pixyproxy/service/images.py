"""What public and private image requests share: reading with visibility, and generation.

Blocking work (SQL, file I/O) runs in the threadpool; only the upstream call is awaited on
the event loop, and no database connection is held while it runs.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from anyio import CancelScope, to_thread

from pixyproxy.core import metrics
from pixyproxy.core.errors import (
    CommitOutcomeUnknown,
    DatabaseUnavailable,
    GenerationCapacityExceeded,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    ImageNotFound,
    InsufficientStorage,
    InvalidRequest,
    PixyProxyException,
    PromptRejected,
    RateLimited,
    ServiceUnavailable,
    StorageUnavailable,
    UpstreamFailed,
)
from pixyproxy.core.models import (
    LIST_LIMIT_DEFAULT,
    GeneratedImage,
    GenerateRequest,
    ImageDetail,
    ImageFilter,
    ImageRecord,
)
from pixyproxy.data.changes import ChangeCounter, LocalChangeCounter
from pixyproxy.data.generators import ImageGenerator
from pixyproxy.data.idempotency import IdempotencyRepository
from pixyproxy.data.images import ImageRepository
from pixyproxy.data.quotas import QuotaRepository
from pixyproxy.data.store import ImageStore
from pixyproxy.service.cache import ImageView, PublicImageCache
from pixyproxy.service.cursors import InvalidCursor, decode_cursor, encode_cursor
from pixyproxy.service.pages import DetailPage, PageCache

log = logging.getLogger(__name__)

# Whose idempotency keys and quota anonymous generations share (no subject can be empty).
ANONYMOUS_OWNER = ""


@dataclass(frozen=True)
class GenerationPolicy:
    """Who may generate, how often, and how many at once."""

    anonymous_generation: bool = False
    limit: int = 0  # generations per caller per window; 0 turns the limit off
    window_s: int = 3600
    idempotency_ttl_s: int = 24 * 3600
    # A pending key older than this belongs to a request that died; it may be taken over.
    idempotency_stale_s: int = 600


class InFlightLimit:
    """Generations running in this process. Checked on the event loop thread only."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.current = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.current >= self.limit:
            raise GenerationCapacityExceeded(
                "Too many generations are running; try again shortly.", retry_after_s=5
            )
        self.current += 1
        try:
            yield
        finally:
            self.current -= 1


@dataclass(frozen=True)
class ImageDeps:
    """The long-lived parts every image request uses; built once per app."""

    repository: ImageRepository
    store: ImageStore
    generator: ImageGenerator
    idempotency: IdempotencyRepository
    quotas: QuotaRepository
    in_flight: InFlightLimit
    policy: GenerationPolicy = field(default_factory=GenerationPolicy)
    cache: PublicImageCache = field(default_factory=lambda: PublicImageCache(0))
    pages: PageCache = field(default_factory=lambda: PageCache(0))
    changes: ChangeCounter = field(default_factory=LocalChangeCounter)

    @property
    def anonymous_generation(self) -> bool:
        return self.policy.anonymous_generation


@dataclass(frozen=True, slots=True)
class ImageContent:
    path: Path
    stat: os.stat_result
    size_bytes: int
    content_type: str
    etag: str
    private: bool


class ImageService:
    """Image use cases as seen by one viewer (``None`` for anonymous callers)."""

    def __init__(self, deps: ImageDeps, viewer: str | None) -> None:
        self._deps = deps
        self._viewer = viewer

    async def get(self, guid: UUID) -> ImageDetail:
        return (await self._visible(guid)).detail

    async def list(
        self, filter: ImageFilter, *, limit: int = LIST_LIMIT_DEFAULT, cursor: str | None = None
    ) -> DetailPage:
        """One page. Anonymous callers' pages are kept until an image is added (see
        ``pages.py``); others are read each time."""
        filter = ImageFilter.model_validate(filter)
        after = decode_cursor(cursor) if cursor else None
        if self._viewer is not None:
            return await self._read_page(filter, limit, after)
        pages = self._deps.pages
        key = (filter.tag, filter.author, filter.q, limit, cursor)
        changes = self._deps.changes.value()  # before reading: a write meanwhile drops it
        if (cached := pages.get(key, changes)) is not None:
            return cached
        page = await self._read_page(filter, limit, after)
        pages.put(key, changes, page)
        return page

    async def _read_page(self, filter: ImageFilter, limit: int, after: UUID | None) -> DetailPage:
        """The page's guids from the database, the images from the image cache where it has
        them (every public one, once seen), the rest in one more query."""
        repository, cache = self._deps.repository, self._deps.cache
        page = await to_thread.run_sync(
            lambda: repository.list(viewer=self._viewer, filter=filter, limit=limit, after=after)
        )
        if page.after_missing:
            raise InvalidCursor()
        views = {guid: view for guid in page.guids if (view := cache.get(guid)) is not None}
        if missing := [guid for guid in page.guids if guid not in views]:
            records = await to_thread.run_sync(
                lambda: repository.get_many(missing, viewer=self._viewer)
            )
            views.update((str(record.guid), cache.put(record)) for record in records)
        # A row removed between the two queries (storage check --fix) is left out.
        items = [views[guid].detail for guid in page.guids if guid in views]
        next_cursor = encode_cursor(page.next_after) if page.next_after else None
        return DetailPage(items=items, next_cursor=next_cursor)

    async def content(self, guid: UUID) -> ImageContent:
        view = await self._visible(guid)
        store = self._deps.store
        return ImageContent(
            path=store.path_for(guid),
            stat=await to_thread.run_sync(store.stat, guid),
            size_bytes=view.detail.size_bytes,
            content_type=view.detail.content_type,
            etag=f'"{view.sha256}"',
            private=view.detail.private,
        )

    async def _visible(self, guid: UUID) -> ImageView:
        cache = self._deps.cache
        if (cached := cache.get(str(guid))) is not None:
            return cached  # public: visible to everyone
        record = await to_thread.run_sync(
            lambda: self._deps.repository.get(guid, viewer=self._viewer)
        )
        if record is None:
            raise ImageNotFound(str(guid))
        return cache.put(record)

    async def _generate(
        self, request: GenerateRequest, *, author: str | None, idempotency_key: str | None
    ) -> ImageDetail:
        request = GenerateRequest.model_validate(request)
        if idempotency_key is None:
            return await self._generate_once(request, author)
        owner = author or ANONYMOUS_OWNER
        idempotency = self._deps.idempotency
        policy = self._deps.policy
        body_hash = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
        claim = await to_thread.run_sync(
            lambda: idempotency.claim(
                owner,
                idempotency_key,
                body_hash,
                now=datetime.now(UTC),
                ttl_s=policy.idempotency_ttl_s,
                stale_s=policy.idempotency_stale_s,
            )
        )
        if claim.outcome == "replay" and claim.response is not None:
            return ImageDetail.model_validate_json(claim.response)
        if claim.outcome == "mismatch":
            raise IdempotencyKeyReused()
        if claim.outcome != "claimed":
            raise IdempotencyInProgress()
        try:
            detail = await self._generate_once(request, author)
        except BaseException:
            with CancelScope(shield=True):
                await to_thread.run_sync(idempotency.release, owner, idempotency_key)
            raise
        with CancelScope(shield=True):
            await to_thread.run_sync(
                idempotency.complete, owner, idempotency_key, detail.model_dump_json()
            )
        return detail

    async def _generate_once(self, request: GenerateRequest, author: str | None) -> ImageDetail:
        """Ask the generator, then store the file, then the row; nothing is left on failure."""
        width, height = request.dimensions
        try:
            with self._deps.in_flight.slot():
                await self._count_against_limit(author or ANONYMOUS_OWNER)
                image = await self._deps.generator.generate(request.prompt, width, height)
                record = _new_record(request, author, image)
                stored = await to_thread.run_sync(self._persist, record, image.png)
        except PixyProxyException as exc:
            metrics.GENERATIONS.labels(_outcome(exc)).inc()
            raise
        except Exception:
            metrics.GENERATIONS.labels("error").inc()
            raise
        metrics.GENERATIONS.labels("ok").inc()
        metrics.STORED_BYTES.inc(stored.size_bytes)
        self._deps.changes.bump()  # committed: every worker's cached list pages are stale
        # Not cached here: images enter the cache when they are read, so a burst of
        # generations does not push out the images callers are reading.
        return ImageDetail.from_record(stored)

    async def _count_against_limit(self, owner: str) -> None:
        policy = self._deps.policy
        if policy.limit <= 0:
            return
        now = time.time()
        window_start = int(now // policy.window_s * policy.window_s)
        count = await to_thread.run_sync(
            self._deps.quotas.count_generation, owner, window_start, policy.window_s
        )
        if count > policy.limit:
            raise RateLimited(
                f"At most {policy.limit} generations per {policy.window_s} s; try again later.",
                retry_after_s=max(1, math.ceil(window_start + policy.window_s - now)),
            )

    def _persist(self, record: ImageRecord, png: bytes) -> ImageRecord:
        """The file, then the row; the file goes again if the row did not make it."""
        store, repository = self._deps.store, self._deps.repository
        store.write(record.guid, png)
        try:
            return repository.insert(record)
        except CommitOutcomeUnknown:
            landed = self._row_exists(record.guid)
            if landed:
                return record  # committed; only the acknowledgement was lost
            if landed is False:
                store.delete(record.guid)
            # Unknown: keep the file. `pixyproxy storage check` removes a file without a
            # row; a row without its file would be an image that cannot be served.
            raise
        except BaseException:
            store.delete(record.guid)
            raise

    def _row_exists(self, guid: UUID) -> bool | None:
        """Whether the row is there; None when the database cannot say."""
        try:
            return self._deps.repository.exists(guid)
        except PixyProxyException:
            return None


def _new_record(request: GenerateRequest, author: str | None, image: GeneratedImage) -> ImageRecord:
    now = datetime.now(UTC)
    guid = uuid4()
    return ImageRecord(
        guid=guid,
        prompt=request.prompt,
        filename=ImageStore.filename_for(guid),
        tags=request.tags,
        author=author,
        private=request.private,
        size_bytes=len(image.png),
        width=image.width,
        height=image.height,
        model=image.model,
        sha256=hashlib.sha256(image.png).hexdigest(),
        created_at=now,
        updated_at=now,
    )


def _outcome(exc: PixyProxyException) -> str:
    match exc:
        case PromptRejected() | InvalidRequest():
            return "rejected"
        case UpstreamFailed():
            return "upstream_error"
        case RateLimited():
            return "rate_limited"
        case DatabaseUnavailable():
            return "database_error"
        case InsufficientStorage() | StorageUnavailable():
            return "storage_error"
        case ServiceUnavailable():
            return "busy"
        case _:
            return "error"
