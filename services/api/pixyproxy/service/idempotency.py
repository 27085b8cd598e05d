"""Idempotent generation: a retry with the same ``Idempotency-Key`` and body gets the first
answer back without a second generation.

A key belongs to one owner (``public.py`` and ``private.py`` say whose). It is claimed in
the database before the work starts, naming the image the work will store, so a concurrent
retry sees it in progress (409). The answer is recorded when the work succeeds, and the
claim is released when it fails, so the caller may retry; both run shielded from
cancellation: a client that leaves mid-way must not leave its key claimed.

Recording can fail after the image was stored (the database went away in between). The
image is there, so the request still answers with it, and a retry finds it through the
key (``committed``) and gets it back: never a 409 until the claim goes stale, then a
second, paid generation.

A replay whose image has been deleted since (by its author, an admin, or retention) is 410
``image_deleted``: never the deleted image, and not a second generation, which would cost
what the caller did not ask for again; a new key makes a new image.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from anyio import CancelScope, to_thread

from pixyproxy.core.errors import IdempotencyInProgress, IdempotencyKeyReused, ImageDeleted
from pixyproxy.core.models import GenerateRequest, ImageDetail
from pixyproxy.data.idempotency import IdempotencyRepository

log = logging.getLogger(__name__)

Produce = Callable[[UUID], Awaitable[ImageDetail]]  # makes and stores the image of a guid
Recall = Callable[[UUID], Awaitable[ImageDetail | None]]  # the stored image of a guid


@dataclass(frozen=True)
class IdempotentRequests:
    keys: IdempotencyRepository
    _: KW_ONLY
    ttl_s: int = 24 * 3600
    # A claim older than this belongs to a request that died; it may be taken over.
    stale_s: int = 600

    async def run(
        self, owner: str, key: str, request: GenerateRequest, produce: Produce, recall: Recall
    ) -> ImageDetail:
        """The first answer for (owner, key), or ``produce(guid)``'s when this is the first."""
        keys, guid = self.keys, uuid4()
        body_hash = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
        claim = await to_thread.run_sync(
            lambda: keys.claim(
                owner,
                key,
                body_hash,
                now=datetime.now(UTC),
                ttl_s=self.ttl_s,
                stale_s=self.stale_s,
                image_guid=guid,
            )
        )
        if claim.outcome == "replay" and claim.response is not None:
            return ImageDetail.model_validate_json(claim.response)
        if claim.image_guid is not None and (stored := await recall(claim.image_guid)):
            await self._record(owner, key, stored)  # committed: stored, answer not recorded
            return stored
        if claim.outcome == "mismatch":
            raise IdempotencyKeyReused()
        if claim.outcome == "deleted":
            raise ImageDeleted()
        if claim.outcome != "claimed":
            raise IdempotencyInProgress()
        try:
            detail = await produce(guid)
        except BaseException:
            with CancelScope(shield=True):
                await to_thread.run_sync(keys.release, owner, key)
            raise
        await self._record(owner, key, detail)
        return detail

    async def _record(self, owner: str, key: str, detail: ImageDetail) -> None:
        """Record the answer; when that fails the image is still stored and the key still
        names it, so this request and any retry answer with it."""
        with CancelScope(shield=True):
            try:
                await to_thread.run_sync(self.keys.complete, owner, key, detail.model_dump_json())
            except Exception:
                log.warning("idempotency.record_failed", exc_info=True)
