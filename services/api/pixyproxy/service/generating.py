"""Generating an image: ask the generator, store the file, then the row.

Nothing is left behind on failure: the file goes again when its row does not make it
(and when the database cannot say whether the commit landed, the file is kept until it
can, ``settling.py``, rather than risk a row without its image). Generations are
bounded per process and per caller (``limits.py``); with an ``Idempotency-Key`` a retry
gets the first answer (``idempotency.py``). Only the upstream call is awaited on the event
loop; storing runs in the threadpool and holds no connection while the upstream works.
"""

from __future__ import annotations

import hashlib
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from anyio import to_thread

from pixyproxy.core import metrics
from pixyproxy.core.errors import (
    CommitOutcomeUnknown,
    DatabaseUnavailable,
    InsufficientStorage,
    InvalidRequest,
    PixyProxyException,
    PromptRejected,
    RateLimited,
    ServiceUnavailable,
    StorageUnavailable,
    UpstreamFailed,
)
from pixyproxy.core.models import GeneratedImage, GenerateRequest, ImageDetail, ImageRecord
from pixyproxy.data.generators import ImageGenerator
from pixyproxy.data.images import ImageRepository
from pixyproxy.data.store import ORIGINAL, ImageStore
from pixyproxy.service.coherence import CacheCoherence
from pixyproxy.service.idempotency import IdempotentRequests
from pixyproxy.service.limits import GenerationQuota, InFlightLimit
from pixyproxy.service.settling import UnsettledImages


@dataclass(frozen=True)
class ImageGeneration:
    repository: ImageRepository
    store: ImageStore
    generator: ImageGenerator
    _: KW_ONLY
    in_flight: InFlightLimit
    quota: GenerationQuota
    idempotency: IdempotentRequests
    coherence: CacheCoherence
    unsettled: UnsettledImages

    async def generate(
        self,
        request: GenerateRequest,
        *,
        author: str | None,
        owner: str,
        idempotency_key: str | None,
    ) -> ImageDetail:
        """A new image by ``author``; ``owner`` is whose quota and idempotency keys count."""

        async def produce(guid: UUID) -> ImageDetail:
            return await self._generate_once(request, author, owner, guid)

        async def recall(guid: UUID) -> ImageDetail | None:
            repository = self.repository
            record = await to_thread.run_sync(lambda: repository.get(guid, viewer=author))
            return ImageDetail.from_record(record) if record is not None else None

        if idempotency_key is None:
            return await produce(uuid4())
        return await self.idempotency.run(owner, idempotency_key, request, produce, recall)

    async def _generate_once(
        self, request: GenerateRequest, author: str | None, owner: str, guid: UUID
    ) -> ImageDetail:
        width, height = request.dimensions
        try:
            with self.in_flight.slot():
                async with self.quota.attempt(owner):
                    image = await self.generator.generate(request.prompt, width, height)
                # The record too: hashing the PNG is milliseconds, not for the event loop.
                stored = await to_thread.run_sync(self._store, request, author, image, guid)
        except PixyProxyException as exc:
            metrics.GENERATIONS.labels(outcome_of(exc)).inc()
            raise
        except Exception:
            metrics.GENERATIONS.labels("error").inc()
            raise
        metrics.GENERATIONS.labels("ok").inc()
        metrics.STORED_BYTES.inc(stored.size_bytes)
        # Committed: this worker's list pages go now, every other worker's through the
        # change log the insert wrote to.
        self.coherence.changed([guid], "insert")
        # Not cached here: images enter the cache when they are read, so a burst of
        # generations does not push out the images callers are reading.
        return ImageDetail.from_record(stored)

    def _store(
        self, request: GenerateRequest, author: str | None, image: GeneratedImage, guid: UUID
    ) -> ImageRecord:
        return self._persist(new_record(request, author, image, guid), image.png)

    def _persist(self, record: ImageRecord, png: bytes) -> ImageRecord:
        """The file, then the row; the file goes again if the row did not make it."""
        store, repository = self.store, self.repository
        store.put(record.guid, ORIGINAL, png)
        try:
            return repository.insert(record)
        except CommitOutcomeUnknown:
            landed = self._row_exists(record.guid)
            if landed:
                return record  # committed; only the acknowledgement was lost
            if landed is False:
                store.delete(record.guid, ORIGINAL)
            # Unknown: keep the file until the database can say; a row without its file
            # would be an image that cannot be served.
            self.unsettled.add(record.guid)
            raise
        except BaseException:
            store.delete(record.guid, ORIGINAL)
            raise

    def _row_exists(self, guid: UUID) -> bool | None:
        """Whether the row is there; None when the database cannot say."""
        try:
            return self.repository.exists(guid)
        except PixyProxyException:
            return None


def new_record(
    request: GenerateRequest, author: str | None, image: GeneratedImage, guid: UUID
) -> ImageRecord:
    now = datetime.now(UTC)
    return ImageRecord(
        guid=guid,
        prompt=request.prompt,
        filename=f"{guid}.png",
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


def outcome_of(exc: PixyProxyException) -> str:
    """The ``outcome`` label of ``pixyproxy_generations_total`` for a failed generation."""
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
