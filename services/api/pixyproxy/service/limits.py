"""How much generating is allowed: at once in this process, and per caller per window."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import KW_ONLY, dataclass

from anyio import CancelScope, to_thread

from pixyproxy.core.errors import GenerationCapacityExceeded, RateLimited, UpstreamFailed
from pixyproxy.data.quotas import QuotaRepository

log = logging.getLogger(__name__)


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
class GenerationQuota:
    """At most ``limit`` attempts at the upstream per caller per fixed window of
    ``window_s`` seconds, counted in the database so the limit holds across workers and
    pods (0: no limit).

    What counts is an attempt that reached the upstream, which may have been billed: a
    request refused before it (invalid, over capacity, the database away, over the limit
    itself) is not counted, nor one whose upstream call could not connect."""

    quotas: QuotaRepository
    _: KW_ONLY
    limit: int = 0
    window_s: int = 3600

    @asynccontextmanager
    async def attempt(self, owner: str) -> AsyncIterator[None]:
        """The block is one attempt by ``owner``: counted before it runs (so concurrent
        attempts cannot pass the limit together), ``RateLimited`` and given back once over
        the limit, given back too when the block fails before reaching the upstream."""
        if self.limit <= 0:
            yield
            return
        now = time.time()
        window_start = int(now // self.window_s * self.window_s)
        count = await to_thread.run_sync(
            self.quotas.count_generation, owner, window_start, self.window_s
        )
        if count > self.limit:
            await self._give_back(owner, window_start)
            raise RateLimited(
                f"At most {self.limit} generations per {self.window_s} s; try again later.",
                retry_after_s=max(1, math.ceil(window_start + self.window_s - now)),
            )
        try:
            yield
        except UpstreamFailed as exc:
            if not exc.reached_upstream:
                await self._give_back(owner, window_start)
            raise

    async def _give_back(self, owner: str, window_start: int) -> None:
        """Uncount one attempt; if the database cannot be told, the window keeps it."""
        with CancelScope(shield=True):
            try:
                await to_thread.run_sync(self.quotas.uncount_generation, owner, window_start)
            except Exception:
                log.warning("quota.uncount_failed", exc_info=True)
