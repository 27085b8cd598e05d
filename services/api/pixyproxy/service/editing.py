"""Changing and deleting an image: its author may, and an admin may with any image.

Who may is decided on the image's current state, in the transaction that changes it (the
row locked: ``data/images.py``), in this order: a caller who cannot see the image gets
404, as if it did not exist (admins see every image here, to moderate it); one who can see
it but is not its author 403; a stale ``If-Match`` 412. So an edit checks the very state
it changes, and of two racing edits with the same ``If-Match`` one wins and the other is
412, never a lost update.

A delete removes the row (its tags, and marks the idempotency keys that named it) and
commits, then removes the files. A failure after the commit leaves only files without a
row, which ``pixyproxy storage check --fix`` removes: never a row without its file. When
the commit's outcome is unknown, the files wait for the database to say (``settling.py``). Either
way the change goes to this worker's caches at once and to every other's through the
change log (``coherence.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from anyio import to_thread
from prometheus_client import Counter

from pixyproxy.core import metrics
from pixyproxy.core.errors import (
    CommitOutcomeUnknown,
    ImageNotFound,
    InvalidRequest,
    NotTheAuthor,
    PixyProxyException,
    PreconditionFailed,
)
from pixyproxy.core.models import Caller, IfMatch, ImageDetail, ImagePatch, ImageRecord
from pixyproxy.data.images import ImageRepository
from pixyproxy.data.store import ImageStore, delete_variants
from pixyproxy.service.coherence import CacheCoherence
from pixyproxy.service.settling import UnsettledImages

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ImageEditing:
    repository: ImageRepository
    store: ImageStore
    coherence: CacheCoherence
    unsettled: UnsettledImages

    async def edit(
        self, guid: UUID, patch: ImagePatch, *, caller: Caller, if_match: IfMatch | None
    ) -> ImageDetail:
        """Apply the merge patch; the image's new detail (``updated_at`` moved when the
        patch changed something, the image as it was when it changed nothing)."""

        def apply(current: ImageRecord) -> ImageRecord:
            authorize(current, caller, if_match)
            given = patch.model_fields_set
            tags = (patch.tags or []) if "tags" in given else current.tags
            private = patch.private if "private" in given else current.private
            if tags == current.tags and private == current.private:
                return current
            if private and current.author is None:
                raise InvalidRequest(
                    "An image without an author cannot be private: nobody could see it.",
                    errors=[{"loc": ["body", "private"], "msg": "the image has no author"}],
                )
            return current.model_copy(update={"tags": tags, "private": private})

        repository = self.repository
        record = await _counted(metrics.IMAGE_EDITS, caller, lambda: repository.update(guid, apply))
        if record is None:
            _count(metrics.IMAGE_EDITS, caller, "not_found")
            raise ImageNotFound(str(guid))
        self.coherence.changed([guid], "update")
        _count(metrics.IMAGE_EDITS, caller, "ok")
        return ImageDetail.from_record(record)

    async def delete(self, guid: UUID, *, caller: Caller, if_match: IfMatch | None) -> None:
        repository = self.repository
        try:
            found = await _counted(
                metrics.IMAGE_DELETIONS,
                caller,
                lambda: repository.delete(guid, lambda image: authorize(image, caller, if_match)),
            )
        except CommitOutcomeUnknown:
            self.coherence.changed([guid], "delete")  # it may be gone: nothing cached stays
            self.unsettled.add(guid)  # its files go once the database says the row did
            raise
        if not found:
            _count(metrics.IMAGE_DELETIONS, caller, "not_found")
            raise ImageNotFound(str(guid))
        self.coherence.changed([guid], "delete")
        _count(metrics.IMAGE_DELETIONS, caller, "ok")
        try:
            await to_thread.run_sync(delete_variants, self.store, guid)
        except Exception:
            # The row is gone: the files left are orphans that `storage check` removes.
            log.warning("image.files_left guid=%s", guid, exc_info=True)


def authorize(current: ImageRecord, caller: Caller, if_match: IfMatch | None) -> None:
    """Whether ``caller`` may change the image as it is now (the module's order)."""
    author = current.author == caller.subject
    if not caller.admin:
        if current.private and not author:
            raise ImageNotFound(str(current.guid))
        if not author:
            raise NotTheAuthor()
    if if_match is not None and not if_match.matches(ImageDetail.from_record(current).etag):
        raise PreconditionFailed()


async def _counted(counter: Counter, caller: Caller, work: Callable[[], T]) -> T:
    """``work`` in the threadpool, a failure counted by its kind."""
    try:
        return await to_thread.run_sync(work)
    except PixyProxyException as exc:
        _count(counter, caller, _outcome_of(exc))
        raise
    except Exception:
        _count(counter, caller, "error")
        raise


def _count(counter: Counter, caller: Caller, outcome: str) -> None:
    counter.labels("admin" if caller.admin else "user", outcome).inc()


def _outcome_of(exc: PixyProxyException) -> str:
    match exc:
        case ImageNotFound():
            return "not_found"
        case NotTheAuthor():
            return "forbidden"
        case PreconditionFailed():
            return "precondition_failed"
        case InvalidRequest():
            return "invalid"
        case _:
            return "error"
