"""Retention: ``pixyproxy images prune --older-than 30d`` removes the images created before
a cut-off, oldest first, in batches.

Each batch is one transaction that removes up to ``batch`` rows (with their tags, marking
their idempotency keys deleted and logging the changes every worker reads: ``data/images.py``),
then the batch's files. The order is a delete's (DESIGN §6): the rows first, so an
interrupted prune leaves only files without rows, which ``pixyproxy storage check --fix``
removes; never a row without its file. A running server drops the pruned images from its
caches within its coherence bound (``coherence.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pixyproxy.data.images import ImageRepository
from pixyproxy.data.store import ImageStore, delete_variants

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500
# A batch's guids are the parameters of its statements: SQLite takes 32,766 at most.
MAX_PRUNE_BATCH = 10_000


@dataclass
class PruneReport:
    before: datetime
    images: int = 0  # removed, or that would be with a dry run
    files_left: int = 0  # images whose files could not be removed (storage check finds them)
    dry_run: bool = False

    def lines(self) -> list[str]:
        when = self.before.isoformat(timespec="seconds")
        if self.dry_run:
            return [f"would prune {self.images} images created before {when} (dry run)"]
        out = [f"pruned {self.images} images created before {when}"]
        if self.files_left:
            out.append(
                f"files of {self.files_left} images could not be removed:"
                " `pixyproxy storage check --fix` removes them"
            )
        return out


def prune_images(
    repository: ImageRepository,
    store: ImageStore,
    *,
    before: datetime,
    batch: int = DEFAULT_BATCH,
    dry_run: bool = False,
) -> PruneReport:
    report = PruneReport(before=before, dry_run=dry_run)
    if dry_run:
        report.images = repository.count_created_before(before)
        return report
    while guids := repository.prune(before, batch):
        report.images += len(guids)
        for guid in guids:
            try:
                delete_variants(store, guid)
            except Exception:
                report.files_left += 1
                log.warning("prune.files_left guid=%s", guid, exc_info=True)
    return report
