"""In-memory fakes of PixyProxy's own protocols, for service tests that need no database.

Each keeps the contract of the real implementation (the contract suites in tests/data run
against the fakes too) and has a knob or two to make it fail the way the real one can:
``unavailable`` (the database is away), ``fail_inserts``/``fail_puts``/``fail_completes``
(the next writes raise the given exception).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import anyio

from pixyproxy.core.errors import DatabaseUnavailable, ImageNotFound, StorageUnavailable
from pixyproxy.core.models import GeneratedImage, ImageFilter, ImagePage, ImageRecord
from pixyproxy.data.changes import Change, ChangeKind
from pixyproxy.data.database import Database, DuplicateKey
from pixyproxy.data.idempotency import Claim
from pixyproxy.data.images import Check, Edit, edited
from pixyproxy.data.search import matches as search_matches
from pixyproxy.data.store import StoredItem, Variant
from tests.support.png import tiny_png

T = TypeVar("T")


def sql_or_fake(
    database: Database | None, sql: Callable[[Database], T], fake: Callable[[], T]
) -> T:
    """The SQL implementation on ``database``, or the fake where there is no database
    (the contract suites in tests/data run on both)."""
    return fake() if database is None else sql(database)


class _Database:
    """What the database-backed fakes share: one lock, and being away on demand."""

    def __init__(self) -> None:
        self.unavailable = False
        self._lock = threading.Lock()

    def _available(self) -> threading.Lock:
        if self.unavailable:
            raise DatabaseUnavailable()
        return self._lock


class FakeChangeLog(_Database):
    """The change log in a list; the fake image repository writes to it."""

    def __init__(self) -> None:
        super().__init__()
        self.changes: list[tuple[Change, datetime]] = []

    def record(self, guids: Sequence[UUID], kind: ChangeKind) -> None:
        now = datetime.now(UTC)
        start = self.changes[-1][0].id + 1 if self.changes else 1
        self.changes += [(Change(start + i, str(guid), kind), now) for i, guid in enumerate(guids)]

    def latest(self) -> int:
        with self._available():
            return self.changes[-1][0].id if self.changes else 0

    def read(self, after: int, missing: Sequence[int], limit: int) -> list[Change]:
        with self._available():
            wanted = set(missing)
            found = [c for c, _ in self.changes if c.id > after or c.id in wanted]
            return found[:limit]

    def purge(self, before: datetime) -> int:
        with self._available():
            kept = [(c, at) for c, at in self.changes if at >= before]
            gone, self.changes = len(self.changes) - len(kept), kept
            return gone


class FakeImageRepository(_Database):
    def __init__(self, changes: FakeChangeLog | None = None) -> None:
        super().__init__()
        self.rows: dict[UUID, ImageRecord] = {}
        self.deleted: set[UUID] = set()  # what idempotency keys learn of deletes
        self.changes = changes or FakeChangeLog()
        self.fail_inserts: list[BaseException] = []  # raised by the next inserts, in order
        self._next_id = 1

    def insert(self, record: ImageRecord) -> ImageRecord:
        with self._available():
            if self.fail_inserts:
                raise self.fail_inserts.pop(0)
            if record.guid in self.rows:
                raise DuplicateKey(f"duplicate key: {record.guid}")
            stored = record.model_copy(update={"id": self._next_id})
            self._next_id += 1
            self.rows[record.guid] = stored
            self.changes.record([record.guid], "insert")
            return stored

    def get(self, guid: UUID, *, viewer: str | None) -> ImageRecord | None:
        with self._available():
            record = self.rows.get(guid)
            return record if record is not None and _visible(record, viewer) else None

    def get_many(self, guids: Sequence[str], *, viewer: str | None) -> list[ImageRecord]:
        with self._available():
            found = (self.rows.get(UUID(guid)) for guid in guids)
            return [record for record in found if record and _visible(record, viewer)]

    def list(
        self, *, viewer: str | None, filter: ImageFilter, limit: int, after: UUID | None
    ) -> ImagePage:
        with self._available():
            newest_first = sorted(self.rows.values(), key=lambda r: r.id or 0, reverse=True)
            rows = [r for r in newest_first if _visible(r, viewer) and _matches(r, filter)]
            if after is not None:
                anchor = self.rows.get(UUID(str(after)))
                if anchor is None or not _visible(anchor, viewer):
                    return ImagePage(guids=[], more=False, after_missing=True)
                rows = [r for r in rows if (r.id or 0) < (anchor.id or 0)]
            guids = [str(r.guid) for r in rows[: limit + 1]]
            return ImagePage(guids=guids[:limit], more=len(guids) > limit)

    def exists(self, guid: UUID) -> bool:
        with self._available():
            return guid in self.rows

    def update(self, guid: UUID, edit: Edit) -> ImageRecord | None:
        with self._available():
            current = self.rows.get(guid)
            if current is None:
                return None
            changed = edited(current, edit)
            if changed is current:
                return current
            self.rows[guid] = changed
            self.changes.record([guid], "update")
            return changed

    def delete(self, guid: UUID, check: Check | None = None) -> bool:
        with self._available():
            current = self.rows.get(guid)
            if current is None:
                return False
            if check is not None:
                check(current)
            self._forget([guid])
            return True

    def prune(self, before: datetime, limit: int) -> Sequence[UUID]:
        with self._available():
            oldest = sorted(self.rows.values(), key=lambda r: r.id or 0)
            guids = [r.guid for r in oldest if r.created_at < before][:limit]
            self._forget(guids)
            return guids

    def count_created_before(self, before: datetime) -> int:
        with self._available():
            return sum(r.created_at < before for r in self.rows.values())

    def _forget(self, guids: list[UUID]) -> None:
        for guid in guids:
            del self.rows[guid]
        self.deleted.update(guids)
        self.changes.record(guids, "delete")

    def iter_files(self) -> Iterator[tuple[UUID, str]]:
        with self._available():
            rows = sorted(self.rows.values(), key=lambda r: r.id or 0)
        yield from ((record.guid, record.filename) for record in rows)

    def guid_page(self, after: UUID | None, limit: int) -> Sequence[UUID]:
        with self._available():
            texts = sorted(str(guid) for guid in self.rows)
        return [UUID(text) for text in texts if after is None or text > str(after)][:limit]


def _visible(record: ImageRecord, viewer: str | None) -> bool:
    return not record.private or record.author == viewer


def _matches(record: ImageRecord, filter: ImageFilter) -> bool:
    # Exact, as on both databases: a substring of the prompt, the author byte for byte.
    return (
        (filter.tag is None or filter.tag in record.tags)
        and (filter.author is None or record.author == filter.author)
        and (filter.q is None or search_matches(filter.q, record.prompt))
    )


@dataclass(frozen=True)
class StoredBytes:
    """Content the fake store holds (the web layer cannot send it: service tests only)."""

    data: bytes

    @property
    def size_bytes(self) -> int:
        return len(self.data)


class FakeImageStore:
    def __init__(self) -> None:
        self.contents: dict[tuple[UUID, Variant], bytes] = {}
        self.fail_puts: list[BaseException] = []  # raised by the next puts, in order
        self.writable = True

    def put(self, guid: UUID, variant: Variant, data: bytes) -> None:
        if self.fail_puts:
            raise self.fail_puts.pop(0)
        self.contents[(guid, variant)] = bytes(data)

    def delete(self, guid: UUID, variant: Variant) -> None:
        self.contents.pop((guid, variant), None)

    def open(self, guid: UUID, variant: Variant) -> StoredBytes:
        try:
            return StoredBytes(self.contents[(guid, variant)])
        except KeyError:
            raise ImageNotFound(str(guid)) from None

    def read(self, guid: UUID, variant: Variant) -> bytes:
        return self.open(guid, variant).data

    def check_writable(self) -> None:
        if not self.writable:
            raise StorageUnavailable()

    def scan(self) -> Iterator[StoredItem]:
        for guid, variant in sorted(self.contents, key=lambda key: (str(key[0]), key[1])):
            yield StoredItem(guid, variant, f"memory:{guid}/{variant}", False, 3600.0)

    def discard(self, item: StoredItem) -> None:
        assert item.guid is not None and item.variant is not None
        self.contents.pop((item.guid, item.variant), None)


@dataclass
class FakeGenerator:
    """Answers at once with a PNG claiming the size asked for; or holds every generation
    until ``release()`` (``hold()`` first); or raises what ``fail_with`` holds."""

    name: str = "fake"
    model: str = "fake-model"
    fail_with: BaseException | None = None
    calls: list[tuple[str, int, int]] = field(default_factory=list)
    _gate: anyio.Event | None = None

    def hold(self) -> None:
        self._gate = anyio.Event()

    def release(self) -> None:
        assert self._gate is not None
        self._gate.set()

    async def generate(self, prompt: str, width: int, height: int) -> GeneratedImage:
        self.calls.append((prompt, width, height))
        if self._gate is not None:
            await self._gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return GeneratedImage(png=tiny_png(), width=width, height=height, model=self.model)

    async def aclose(self) -> None:
        return None


class FakeIdempotencyRepository(_Database):
    """Keys in a dict; ``images`` is the repository whose rows say a key's image was stored."""

    def __init__(self, images: FakeImageRepository | None = None) -> None:
        super().__init__()
        self.images = images or FakeImageRepository()
        self.keys: dict[tuple[str, str], dict[str, Any]] = {}
        self.fail_completes: list[BaseException] = []  # raised by the next completes, in order

    def claim(
        self,
        owner: str,
        key: str,
        request_hash: str,
        *,
        now: datetime,
        ttl_s: int,
        stale_s: int,
        image_guid: UUID | None = None,
    ) -> Claim:
        with self._available():
            row = self.keys.get((owner, key))
            if row is not None:
                deleted = row["image_guid"] in self.images.deleted
                pending = row["state"] == "pending" and not deleted
                committed = self._committed(row)
                expired = row["expires_at"] <= now
                abandoned = (
                    pending
                    and not committed
                    and row["created_at"] <= now - timedelta(seconds=stale_s)
                )
                if expired or abandoned:
                    row = None
            if row is None:
                self.keys[(owner, key)] = {
                    "hash": request_hash,
                    "state": "pending",
                    "response": None,
                    "image_guid": image_guid,
                    "created_at": now,
                    "expires_at": now + timedelta(seconds=ttl_s),
                }
                return Claim("claimed")
            if row["hash"] != request_hash:
                return Claim("mismatch")
            if deleted:
                return Claim("deleted")
            if pending and committed:
                return Claim("committed", image_guid=row["image_guid"])
            if pending:
                return Claim("in_progress")
            return Claim("replay", row["response"])

    def complete(self, owner: str, key: str, response: str) -> None:
        with self._available():
            if self.fail_completes:
                raise self.fail_completes.pop(0)
            self.keys[(owner, key)].update(state="done", response=response)

    def release(self, owner: str, key: str) -> None:
        with self._available():
            row = self.keys.get((owner, key), {})
            deleted = row.get("image_guid") in self.images.deleted
            if row.get("state") == "pending" and not deleted and not self._committed(row):
                del self.keys[(owner, key)]

    def _committed(self, row: dict[str, Any]) -> bool:
        return row["image_guid"] is not None and row["image_guid"] in self.images.rows


class FakeQuotaRepository(_Database):
    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[tuple[str, int], int] = {}

    def count_generation(self, owner: str, window_start: int, window_s: int) -> int:
        with self._available():
            self.counts[(owner, window_start)] = self.counts.get((owner, window_start), 0) + 1
            return self.counts[(owner, window_start)]

    def uncount_generation(self, owner: str, window_start: int) -> None:
        with self._available():
            if self.counts.get((owner, window_start), 0) > 0:
                self.counts[(owner, window_start)] -= 1
