"""Reconciling the image store with the database: ``pixyproxy storage check [--fix]``.

A generation writes its file a moment before its row, so files younger than the grace
period may belong to a request in flight: they are reported but never removed.

An image's thumbnails (``thumbnails.py``) belong to its row as its original does: those of
a live image are counted and left alone, those whose row is gone are files without rows,
and those of a row without its original go with that row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from pixyproxy.data.images import ImageRepository
from pixyproxy.data.store import ORIGINAL, ImageStore, StoredItem

DEFAULT_GRACE_S = 15 * 60


@dataclass
class StorageReport:
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
) -> StorageReport:
    report = StorageReport(fixed=fix)
    rows = {guid: filename for guid, filename in repository.iter_files()}
    report.images = len(rows)
    seen: set[UUID] = set()
    thumbnails: list[StoredItem] = []  # of rows, judged once every original is seen
    for item in store.scan():
        if item.is_temp:
            (report.temp_leftovers if item.age_s >= grace_s else report.too_young_to_judge).append(
                item
            )
        elif item.guid is None:
            report.unknown_files.append(item)
        elif item.guid in rows:
            if item.variant == ORIGINAL:  # a row without its original cannot be served
                seen.add(item.guid)
            else:
                thumbnails.append(item)
        elif item.age_s >= grace_s:
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
