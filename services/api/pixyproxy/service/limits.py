"""How much generating is allowed: at once in this process, and per caller per window."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass

from anyio import to_thread

from pixyproxy.core.errors import GenerationCapacityExceeded, RateLimited
from pixyproxy.data.quotas import QuotaRepository


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
    """At most ``limit`` generations per caller per fixed window of ``window_s`` seconds,
    counted in the database so the limit holds across workers and pods (0: no limit)."""

    quotas: QuotaRepository
    _: KW_ONLY
    limit: int = 0
    window_s: int = 3600

    async def count(self, owner: str) -> None:
        """Count one generation for ``owner``; ``RateLimited`` once over the limit."""
        if self.limit <= 0:
            return
        now = time.time()
        window_start = int(now // self.window_s * self.window_s)
        count = await to_thread.run_sync(
            self.quotas.count_generation, owner, window_start, self.window_s
        )
        if count > self.limit:
            raise RateLimited(
                f"At most {self.limit} generations per {self.window_s} s; try again later.",
                retry_after_s=max(1, math.ceil(window_start + self.window_s - now)),
            )
