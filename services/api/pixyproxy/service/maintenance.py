"""Reconciling the image store with the database: ``pixyproxy storage check [--fix]``.

A generation writes its file a moment before its row, so a file without a row may belong
to a request in flight: files younger than the grace period are reported but never
removed. The grace period is never shorter than the longest time a file can wait for its
row (``grace_floor_s``), whatever ``--grace`` asks for. Ages count from when the rows were
read: a file older than that at that moment had its row committed before it, if ever.

The store changes while the check runs (images written, removed); what is gone when it is
looked at is left out.

An image's thumbnails (``thumbnails.py``) belong to its row as its original does: those of
a live image are counted and left alone, those whose row is gone are files without rows,
and those of a row without its original go with that row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from uuid import UUID

from pixyproxy.core.settings import Settings
from pixyproxy.data.deadlines import longest_write_s
from pixyproxy.data.images import ImageRepository
from pixyproxy.data.store import ORIGINAL, ImageStore, StoredItem

DEFAULT_GRACE_S = 15 * 60
# What the database's timeouts leave out between a file's last write and its row's
# commit: the file's fsync, the rename, the directory's fsync.
FILESYSTEM_ALLOWANCE_S = 60.0


def grace_floor_s(settings: Settings) -> float:
    """The shortest grace period that is safe with these settings: the longest a write
    transaction can take (``data/deadlines.py``, from the PIXY_DB_* timeouts) and the
    filesystem allowance. No setting bounds a process paused between the two writes
    (SIGSTOP, a frozen VM), or a database that receives a COMMIT and stalls before running
    it: such a file is kept by the generation that gave up on it, and a later check may
    remove it."""
    return longest_write_s(settings) + FILESYSTEM_ALLOWANCE_S


@dataclass
class StorageReport:
    grace_s: float
    images: int = 0
    thumbnails: int = 0  # of live images, whose original is there
    files_without_rows: list[StoredItem] = field(default_factory=list)
    rows_without_files: list[UUID] = field(default_factory=list)
    thumbnails_of_rows_without_files: list[StoredItem] = field(default_factory=list)
    temp_leftovers: list[StoredItem] = field(default_factory=list)
    too_young_to_judge: list[StoredItem] = field(default_factory=list)
    unknown_files: list[StoredItem] = field(default_factory=list)
    fixed: bool = False

    @property
    def clean(self) -> bool:
        return not (
            self.files_without_rows
            or self.rows_without_files
            or self.thumbnails_of_rows_without_files
            or self.temp_leftovers
        )

    def lines(self) -> list[str]:
        verb = "removed" if self.fixed else "found"
        stored = f", {self.thumbnails} thumbnails stored" if self.thumbnails else ""
        out = [f"{self.images} images in the database{stored}"]
        out += [f"file without row ({verb}): {i.location}" for i in self.files_without_rows]
        out += [f"row without file ({verb}): {guid}" for guid in self.rows_without_files]
        out += [
            f"thumbnail of a row without file ({verb}): {i.location}"
            for i in self.thumbnails_of_rows_without_files
        ]
        out += [f"temp leftover ({verb}): {i.location}" for i in self.temp_leftovers]
        out += [f"recent, left alone: {i.location}" for i in self.too_young_to_judge]
        out += [f"not ours, left alone: {i.location}" for i in self.unknown_files]
        out.append("clean" if self.clean else ("repaired" if self.fixed else "problems found"))
        return out


def check_storage(
    repository: ImageRepository,
    store: ImageStore,
    *,
    fix: bool = False,
    grace_s: float = DEFAULT_GRACE_S,
    floor_s: float,
) -> StorageReport:
    """What is out of step; ``grace_s`` is raised to ``floor_s`` (``grace_floor_s``)."""
    report = StorageReport(grace_s=max(grace_s, floor_s), fixed=fix)
    rows_read_at = time.time()
    rows = {guid: filename for guid, filename in repository.iter_files()}
    report.images = len(rows)
    seen: set[UUID] = set()
    thumbnails: list[StoredItem] = []  # of rows, judged once every original is seen
    scanned_at = time.time()
    for item in store.scan():
        # The item's age when the rows were read (it may even have been written since).
        old = item.age_s - (scanned_at - rows_read_at) >= report.grace_s
        if item.is_temp:
            (report.temp_leftovers if old else report.too_young_to_judge).append(item)
        elif item.guid is None:
            report.unknown_files.append(item)
        elif item.guid in rows:
            if item.variant == ORIGINAL:  # a row without its original cannot be served
                seen.add(item.guid)
            else:
                thumbnails.append(item)
        elif old:
            report.files_without_rows.append(item)
        else:
            report.too_young_to_judge.append(item)
    report.rows_without_files = [guid for guid in rows if guid not in seen]
    report.thumbnails = sum(item.guid in seen for item in thumbnails)
    report.thumbnails_of_rows_without_files = [i for i in thumbnails if i.guid not in seen]
    if fix:
        for item in report.files_without_rows + report.temp_leftovers:
            store.discard(item)
        for guid in report.rows_without_files:
            repository.delete(guid)
        for item in report.thumbnails_of_rows_without_files:  # once their row is gone
            store.discard(item)
    return report
