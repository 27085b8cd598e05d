"""Reconciling the image store with the database: ``pixyproxy storage check [--fix]``.

A generation writes its file a moment before its row, so a file without a row may belong
to a request in flight: files younger than the grace period are reported but never
removed. The grace period is never shorter than the longest time a file can wait for its
row (``grace_floor_s``), whatever ``--grace`` asks for. Ages count from when the rows were
read (the page of rows that covers the file's guid): a file older than that at that moment
had its row committed before it, if ever.

The store changes while the check runs (images written, removed); what is gone when it is
looked at is left out. Both stores go through the same merge: the store's scan in guid
order (a directory or a listing page at a time) beside the rows in guid order (keyset
pages), so a million images take the memory of a page, not of a million.

An image's thumbnails (``thumbnails.py``) belong to its row as its original does: those of
a live image are counted and left alone, those whose row is gone are files without rows,
and those of a row without its original go with that row.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from uuid import UUID

from pixyproxy.core.errors import ImageNotFound
from pixyproxy.core.settings import Settings
from pixyproxy.data.deadlines import longest_write_s
from pixyproxy.data.images import ImageRepository
from pixyproxy.data.store import ORIGINAL, ImageStore, StoredItem

DEFAULT_GRACE_S = 15 * 60
ROW_PAGE = 1000  # rows per keyset page
# What the database's timeouts leave out between a file's last write and its row's
# commit: the file's fsync, the rename, the directory's fsync.
FILESYSTEM_ALLOWANCE_S = 60.0


def grace_floor_s(settings: Settings) -> float:
    """The shortest grace period that is safe with these settings: the longest a write
    transaction can take (``data/deadlines.py``, from the PIXY_DB_* timeouts) and the
    filesystem allowance. No setting bounds a process paused between the two writes
    (SIGSTOP, a frozen VM), or a database that receives a COMMIT and stalls before running
    it: such a file is kept by the generation that gave up on it, and a later check may
    remove it. An object's age counts from its PUT's start (S3's LastModified) and the PUT
    may take ``s3_operation_bound_s`` to return; the allowance also covers a minute of
    clock skew between the object store and this host."""
    floor = longest_write_s(settings) + FILESYSTEM_ALLOWANCE_S
    if settings.storage_backend == "s3":
        floor += settings.s3_operation_bound_s
    return floor


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
    page_size: int = ROW_PAGE,
) -> StorageReport:
    """What is out of step; ``grace_s`` is raised to ``floor_s`` (``grace_floor_s``).

    One pass over the store's scan (its items in guid order, a listing page at a time)
    beside the rows read in guid order a page at a time (keyset): memory for the problems
    found, not for the store or the table."""
    report = StorageReport(grace_s=max(grace_s, floor_s), fixed=fix)
    rows = _Rows(repository, page_size)
    previous = ""
    for guid, items in groupby(_ours(store.scan(), report), key=lambda item: item.guid):
        assert guid is not None
        if str(guid) < previous:
            raise RuntimeError(f"the store listed {guid} after {previous}: not in guid order")
        previous = str(guid)
        for lone in rows.before(guid):
            _judge_row(store, lone, [], report)
        if rows.take(guid):
            _judge_row(store, guid, list(items), report)
            continue
        # No row, nor will there be one if the item was old when the rows were read.
        now = time.time()
        for item in items:
            old = item.age_s - (now - rows.read_at) >= report.grace_s
            (report.files_without_rows if old else report.too_young_to_judge).append(item)
    for lone in rows.rest():
        _judge_row(store, lone, [], report)
    report.images = rows.count
    if fix:
        for item in report.files_without_rows + report.temp_leftovers:
            store.discard(item)
        for guid in report.rows_without_files:
            repository.delete(guid)
        for item in report.thumbnails_of_rows_without_files:  # once their row is gone
            store.discard(item)
    return report


def _ours(items: Iterator[StoredItem], report: StorageReport) -> Iterator[StoredItem]:
    """The items that name an image; temp leftovers and what is not ours go to the report
    (a temp file older than the grace period is a write that died)."""
    for item in items:
        if item.is_temp:
            old = item.age_s >= report.grace_s
            (report.temp_leftovers if old else report.too_young_to_judge).append(item)
        elif item.guid is None:
            report.unknown_files.append(item)
        else:
            yield item


def _judge_row(
    store: ImageStore, guid: UUID, items: list[StoredItem], report: StorageReport
) -> None:
    """A row and what the scan found of it. A row whose original the scan did not see is
    asked about once more: the scan may have listed its shard before its original was
    written (the row committed since), and ``--fix`` deletes a row without its original."""
    thumbnails = [item for item in items if item.variant != ORIGINAL]
    if len(thumbnails) == len(items) and not _stored(store, guid):
        report.rows_without_files.append(guid)
        report.thumbnails_of_rows_without_files += thumbnails
    else:
        report.thumbnails += len(thumbnails)


def _stored(store: ImageStore, guid: UUID) -> bool:
    try:
        store.open(guid, ORIGINAL)
    except ImageNotFound:
        return False
    return True


class _Rows:
    """The rows' guids in the store's order, read a page at a time, with when the page
    that covers the guid asked about was read (an item older than the grace period then
    had its row committed before it, if ever)."""

    def __init__(self, repository: ImageRepository, page_size: int) -> None:
        self._repository = repository
        self._page_size = page_size
        self._buffer: deque[UUID] = deque()
        self._after: UUID | None = None
        self._done = False
        self.read_at = 0.0
        self.count = 0
        self._fill()

    def _fill(self) -> None:
        self.read_at = time.time()
        page = self._repository.guid_page(self._after, self._page_size)
        self.count += len(page)
        self._buffer.extend(page)
        self._done = len(page) < self._page_size
        if page:
            self._after = page[-1]

    def before(self, guid: UUID) -> Iterator[UUID]:
        """The rows that sort before ``guid``, taken; after it, the page read last covers
        ``guid``."""
        key = str(guid)
        while True:
            while self._buffer and str(self._buffer[0]) < key:
                yield self._buffer.popleft()
            if self._buffer or self._done:
                return
            self._fill()

    def take(self, guid: UUID) -> bool:
        """Whether ``guid`` is the next row (once ``before`` has run), taken if so."""
        if self._buffer and self._buffer[0] == guid:
            self._buffer.popleft()
            return True
        return False

    def rest(self) -> Iterator[UUID]:
        while True:
            while self._buffer:
                yield self._buffer.popleft()
            if self._done:
                return
            self._fill()
