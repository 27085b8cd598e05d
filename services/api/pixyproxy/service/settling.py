"""Images whose row the database could not vouch for, settled once it answers again.

When a connection drops while COMMIT is on the wire, the client cannot tell whether the
transaction landed. A generation asks the database at once (``generating.py``); a deletion
cannot know either (``editing.py``). When the database cannot answer that question yet (it
is down), the files stay: a row without its file would be an image that cannot be served.
The guid is handed to ``UnsettledImages``, which asks again every ``retry_s`` while the app
runs: a row there means the commit (of the insert) landed or (of the delete) did not, and
the files belong to it; no row means they are orphans, and they go.

A guid is never written twice (every generation takes a new one), so a guid found without
a row cannot gain one later, except from a COMMIT the server received and then stalled on
for longer than the retry: ``storage check`` reports a row without its file in that case.
What is still pending when the process stops is left for ``pixyproxy storage check``.
"""

from __future__ import annotations

import logging
import threading
from uuid import UUID

import anyio
from anyio import to_thread

from pixyproxy.core.errors import PixyProxyException
from pixyproxy.data.images import ImageRepository
from pixyproxy.data.store import ImageStore, delete_variants

log = logging.getLogger(__name__)

MAX_PENDING = 10_000  # beyond this, a guid is left for `storage check` (logged)
RETRY_S = 1.0


class UnsettledImages:
    def __init__(
        self,
        repository: ImageRepository,
        store: ImageStore,
        *,
        retry_s: float = RETRY_S,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.repository = repository
        self.store = store
        self.retry_s = retry_s
        self.max_pending = max_pending
        self._pending: dict[UUID, None] = {}  # insertion-ordered: the oldest is asked first
        self._lock = threading.Lock()  # added to from the threadpool

    def add(self, guid: UUID) -> None:
        """Settle ``guid`` once the database answers (from any thread)."""
        with self._lock:
            if len(self._pending) < self.max_pending:
                self._pending[guid] = None
                return
        log.warning("image.unsettled_left guid=%s: for storage check", guid)

    def pending(self) -> list[UUID]:
        with self._lock:
            return list(self._pending)

    async def run(self) -> None:
        """Settle what is pending every ``retry_s`` until cancelled (the app's lifespan)."""
        while True:
            await self.settle_pending()
            await anyio.sleep(self.retry_s)

    async def settle_pending(self) -> None:
        """Ask about each pending guid, oldest first; stop at the first the database cannot
        answer (the rest would fail the same way) and keep it for the next round."""
        for guid in self.pending():
            try:
                await to_thread.run_sync(self._settle, guid)
            except PixyProxyException as exc:
                log.info("image.unsettled guid=%s: %s", guid, exc.message)
                return
            except Exception:
                log.exception("image.unsettled guid=%s", guid)
                return
            with self._lock:
                self._pending.pop(guid, None)

    def _settle(self, guid: UUID) -> None:
        if self.repository.exists(guid):
            log.info("image.settled guid=%s: the row is there, its files stay", guid)
            return
        delete_variants(self.store, guid)
        log.info("image.settled guid=%s: no row, its files removed", guid)
