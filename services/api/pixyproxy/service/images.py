"""What a caller can do with images, whoever they are, and the parts that do it.

``public.py`` holds what an anonymous caller may do and its rules, ``private.py`` what an
authenticated caller may do; both offer the ``CallerImages`` methods, so the web layer
takes one or the other for each request and calls it the same way. Below them: reading
(``reading.py``, with ``thumbnails.py``), generating (``generating.py``, with ``limits.py`` and
``idempotency.py``) and the list cursor (``cursors.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from pixyproxy.core.models import GenerateRequest, ImageDetail, ImageListQuery, ThumbnailWidth
from pixyproxy.core.settings import Settings
from pixyproxy.data.changes import ChangeCounter
from pixyproxy.data.generators import ImageGenerator
from pixyproxy.data.idempotency import IdempotencyRepository
from pixyproxy.data.images import ImageRepository
from pixyproxy.data.quotas import QuotaRepository
from pixyproxy.data.store import ImageStore
from pixyproxy.service.cache import PublicImageCache
from pixyproxy.service.generating import ImageGeneration
from pixyproxy.service.idempotency import IdempotentRequests
from pixyproxy.service.limits import GenerationQuota, InFlightLimit
from pixyproxy.service.pages import DetailPage, PageCache
from pixyproxy.service.reading import ImageContent, ImageReader
from pixyproxy.service.thumbnails import Thumbnails


@dataclass(frozen=True)
class ImageServices:
    """The long-lived parts of the image use cases: built once per app, shared by the
    ``PublicImages`` and ``PrivateImages`` made for each request."""

    reading: ImageReader
    generation: ImageGeneration
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
        changes: ChangeCounter,
    ) -> ImageServices:
        """The parts, sized by ``settings``, on the given data implementations."""
        reading = ImageReader(
            repository,
            store,
            cache=PublicImageCache(settings.detail_cache_bytes),
            pages=PageCache(settings.list_cache_bytes, ttl_s=settings.list_cache_ttl_s),
            changes=changes,
            thumbnails=Thumbnails(store, concurrency=settings.thumbnail_concurrency),
        )
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
            changes=changes,
        )
        return cls(reading, generation, settings.anonymous_generation)


class CallerImages(Protocol):
    """The image use cases as one caller may use them."""

    async def get(self, guid: UUID) -> ImageDetail: ...

    async def list(self, query: ImageListQuery) -> DetailPage: ...

    async def content(self, guid: UUID) -> ImageContent: ...

    async def thumbnail(self, guid: UUID, width: ThumbnailWidth) -> ImageContent: ...

    async def generate(
        self, request: GenerateRequest, *, idempotency_key: str | None = None
    ) -> ImageDetail: ...
