"""Which image store the settings name (``PIXY_STORAGE_BACKEND``), and what every call to
it takes: ``pixyproxy_storage_operation_seconds`` and ``pixyproxy_storage_errors_total``
by backend and operation, the same series for every backend.

An error is a failure of the store (``StorageUnavailable``, ``InsufficientStorage``); a
missing image (``ImageNotFound``) is an answer, not an error. A streamed body counts the
time to its first bytes (the rest goes at the client's pace) and any failure while it
streams.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from uuid import UUID

from pixyproxy.core import metrics
from pixyproxy.core.errors import InsufficientStorage, StorageUnavailable
from pixyproxy.core.settings import Settings
from pixyproxy.data.filestore import FileImageStore
from pixyproxy.data.store import (
    ImageStore,
    ObjectSource,
    RemoteObject,
    StoredContent,
    StoredItem,
    Variant,
)

_FAILURES = (StorageUnavailable, InsufficientStorage)


def open_store(settings: Settings) -> MeasuredStore:
    """The store the settings name, measured. Opening one makes no request."""
    if settings.storage_backend == "s3":
        from pixyproxy.data.s3store import S3ImageStore  # obstore only when it is used

        return MeasuredStore(S3ImageStore(settings), "s3")
    return MeasuredStore(FileImageStore(settings.storage_dir), "filesystem")


@contextmanager
def _measured(backend: str, operation: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    except _FAILURES:
        metrics.STORAGE_ERRORS.labels(backend, operation).inc()
        raise
    finally:
        metrics.STORAGE_SECONDS.labels(backend, operation).observe(time.perf_counter() - started)


class MeasuredStore:
    """An ``ImageStore`` that records each call to the one it wraps."""

    def __init__(self, inner: ImageStore, backend: str) -> None:
        self.inner = inner
        self.backend = backend

    def put(self, guid: UUID, variant: Variant, data: bytes) -> None:
        with _measured(self.backend, "put"):
            self.inner.put(guid, variant, data)

    def delete(self, guid: UUID, variant: Variant) -> None:
        with _measured(self.backend, "delete"):
            self.inner.delete(guid, variant)

    def open(self, guid: UUID, variant: Variant) -> StoredContent:
        with _measured(self.backend, "open"):
            content = self.inner.open(guid, variant)
        if isinstance(content, RemoteObject):
            return replace(content, source=_MeasuredSource(content.source, self.backend))
        return content

    def read(self, guid: UUID, variant: Variant) -> bytes:
        with _measured(self.backend, "read"):
            return self.inner.read(guid, variant)

    def check_writable(self) -> None:
        with _measured(self.backend, "check"):
            self.inner.check_writable()

    def scan(self) -> Iterator[StoredItem]:
        with _measured(self.backend, "scan"):
            yield from self.inner.scan()

    def discard(self, item: StoredItem) -> None:
        with _measured(self.backend, "discard"):
            self.inner.discard(item)


@dataclass(frozen=True, slots=True)
class _MeasuredSource:
    inner: ObjectSource
    backend: str

    async def chunks(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        started = time.perf_counter()
        first = True
        try:
            async for chunk in self.inner.chunks(key, start, end):
                if first:
                    first = False
                    seconds = time.perf_counter() - started
                    metrics.STORAGE_SECONDS.labels(self.backend, "stream").observe(seconds)
                yield chunk
        except _FAILURES:
            if first:
                seconds = time.perf_counter() - started
                metrics.STORAGE_SECONDS.labels(self.backend, "stream").observe(seconds)
            metrics.STORAGE_ERRORS.labels(self.backend, "stream").inc()
            raise

    def redirect_url(self, key: str, *, private: bool) -> str | None:
        return self.inner.redirect_url(key, private=private)
