"""Idempotent generation: a retry with the same ``Idempotency-Key`` and body gets the first
answer back without a second generation.

A key belongs to one owner (``public.py`` and ``private.py`` say whose). It is claimed in
the database before the work starts, so a concurrent retry sees it in progress (409); the
answer is stored when the work succeeds, and the claim is released when it fails, so the
caller may retry. Both run shielded from cancellation: a client that leaves mid-way must
not leave its key claimed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime

from anyio import CancelScope, to_thread

from pixyproxy.core.errors import IdempotencyInProgress, IdempotencyKeyReused
from pixyproxy.core.models import GenerateRequest, ImageDetail
from pixyproxy.data.idempotency import IdempotencyRepository


@dataclass(frozen=True)
class IdempotentRequests:
    keys: IdempotencyRepository
    _: KW_ONLY
    ttl_s: int = 24 * 3600
    # A claim older than this belongs to a request that died; it may be taken over.
    stale_s: int = 600

    async def run(
        self,
        owner: str,
        key: str,
        request: GenerateRequest,
        produce: Callable[[], Awaitable[ImageDetail]],
    ) -> ImageDetail:
        """The first answer for (owner, key), or ``produce()``'s when this is the first."""
        keys = self.keys
        body_hash = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
        claim = await to_thread.run_sync(
            lambda: keys.claim(
                owner, key, body_hash, now=datetime.now(UTC), ttl_s=self.ttl_s, stale_s=self.stale_s
            )
        )
        if claim.outcome == "replay" and claim.response is not None:
            return ImageDetail.model_validate_json(claim.response)
        if claim.outcome == "mismatch":
            raise IdempotencyKeyReused()
        if claim.outcome != "claimed":
            raise IdempotencyInProgress()
        try:
            detail = await produce()
        except BaseException:
            with CancelScope(shield=True):
                await to_thread.run_sync(keys.release, owner, key)
            raise
        with CancelScope(shield=True):
            await to_thread.run_sync(keys.complete, owner, key, detail.model_dump_json())
        return detail
