"""What a caller can do with images, whoever they are, and the parts that do it.

``public.py`` holds what an anonymous caller may do and its rules, ``private.py`` what an
authenticated caller may do; both offer the ``CallerImages`` methods, so the web layer
takes one or the other for each request and calls it the same way. Below them: reading
(``reading.py``, with ``thumbnails.py``), generating (``generating.py``, with ``limits.py`` and
``idempotency.py``), editing and deleting (``editing.py``), the files of writes whose
commit the database could not confirm (``settling.py``), the list cursor
(``cursors.py``), and the caches kept true across workers and replicas (``coherence.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from pixyproxy.core.models import (
    GenerateRequest,
    IfMatch,
    ImageDetail,
    ImageListQuery,
    ImagePatch,
    ThumbnailWidth,
)
from pixyproxy.core.settings import Settings
from pixyproxy.data.changes import ChangeLog
from pixyproxy.data.deadlines import EDIT_ROUND_TRIPS, longest_write_s
from pixyproxy.data.generators import ImageGenerator
from pixyproxy.data.idempotency import IdempotencyRepository
from pixyproxy.data.images import ImageRepository
from pixyproxy.data.quotas import QuotaRepository
from pixyproxy.data.store import ImageStore
from pixyproxy.service.cache import PublicImageCache
from pixyproxy.service.coherence import CacheCoherence
from pixyproxy.service.editing import ImageEditing
from pixyproxy.service.generating import ImageGeneration
from pixyproxy.service.idempotency import IdempotentRequests
from pixyproxy.service.limits import GenerationQuota, InFlightLimit
from pixyproxy.service.pages import DetailPage, PageCache
from pixyproxy.service.reading import ImageContent, ImageReader
from pixyproxy.service.settling import UnsettledImages
from pixyproxy.service.thumbnails import Thumbnails


@dataclass(frozen=True)
class ImageServices:
    """The long-lived parts of the image use cases: built once per app, shared by the
    ``PublicImages`` and ``PrivateImages`` made for each request."""

    reading: ImageReader
    generation: ImageGeneration
    editing: ImageEditing
    coherence: CacheCoherence
    unsettled: UnsettledImages
    anonymous_generation: bool = False  # PIXY_ANONYMOUS_GENERATION

    @classmethod
    def assemble(
        cls,
        settings: Settings,
        *,
        repository: ImageRepository,
        store: ImageStore,
        generator: ImageGenerator,
        idempotency_keys: IdempotencyRepository,
        quotas: QuotaRepository,
        changes: ChangeLog,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> ImageServices:
        """The parts, sized by ``settings``, on the given data implementations (and clock:
        how long ago the change log was read)."""
        cache = PublicImageCache(settings.detail_cache_bytes)
        pages = PageCache(settings.list_cache_bytes, ttl_s=settings.list_cache_ttl_s)
        coherence = CacheCoherence(
            changes,
            cache=cache,
            pages=pages,
            poll_s=settings.change_poll_s,
            gap_timeout_s=longest_write_s(settings, EDIT_ROUND_TRIPS),
            monotonic=monotonic,
        )
        reading = ImageReader(
            repository,
            store,
            cache=cache,
            pages=pages,
            coherence=coherence,
            thumbnails=Thumbnails(store, concurrency=settings.thumbnail_concurrency),
        )
        unsettled = UnsettledImages(repository, store)
        generation = ImageGeneration(
            repository,
            store,
            generator,
            in_flight=InFlightLimit(settings.max_in_flight_generations),
            quota=GenerationQuota(
                quotas, limit=settings.generation_limit, window_s=settings.generation_window_s
            ),
            idempotency=IdempotentRequests(
                idempotency_keys,
                # a claim outlives the slowest generation before it counts as abandoned
                stale_s=max(600, 2 * int(settings.openai_timeout_s)),
            ),
            coherence=coherence,
            unsettled=unsettled,
        )
        editing = ImageEditing(repository, store, coherence, unsettled)
        return cls(
            reading, generation, editing, coherence, unsettled, settings.anonymous_generation
        )


class CallerImages(Protocol):
    """The image use cases as one caller may use them."""

    async def get(self, guid: UUID) -> ImageDetail: ...

    async def list(self, query: ImageListQuery) -> DetailPage: ...

    async def content(self, guid: UUID) -> ImageContent: ...

    async def thumbnail(self, guid: UUID, width: ThumbnailWidth) -> ImageContent: ...

    async def generate(
        self, request: GenerateRequest, *, idempotency_key: str | None = None
    ) -> ImageDetail: ...

    async def edit(
        self, guid: UUID, patch: ImagePatch, *, if_match: IfMatch | None = None
    ) -> ImageDetail: ...

    async def delete(self, guid: UUID, *, if_match: IfMatch | None = None) -> None: ...
