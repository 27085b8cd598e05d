"""The image store in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, GCS's XML API),
through obstore (the Rust ``object_store`` crate): the cheapest client measured
(``bench/s3_clients.py``), with async reads that stream without the threadpool.

Keys come only from parsed UUIDs and the variant, never from caller text:
``<PIXY_S3_PREFIX><first two hex digits of the guid>/<content name>``, the same names as
the files of ``filestore.py``. A put is one PUT request (never a multipart upload, which
a failure would leave half-done): S3 makes it visible whole or not at all. Listing is in
key order, which is the guids' order, so ``scan`` pages through the prefix as
``storage check`` merges it with the rows.

Credentials are the client's own AWS chain: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
(and ``AWS_SESSION_TOKEN``), a web identity token (``AWS_WEB_IDENTITY_TOKEN_FILE`` and
``AWS_ROLE_ARN``: IRSA, EKS Pod Identity's container credentials), then the instance's
role (IMDSv2). Every failure of the service (refused, timed out, denied, a 5xx after the
retries) is ``StorageUnavailable``, within ``Settings.s3_operation_bound_s``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import obstore
from obstore.exceptions import NotFoundError

from pixyproxy.core.errors import ImageNotFound, StorageUnavailable
from pixyproxy.core.models import WEBP_CONTENT_TYPE
from pixyproxy.core.settings import Settings
from pixyproxy.data.store import (
    ORIGINAL,
    RemoteObject,
    StoredItem,
    Variant,
    content_name,
    parse_content_name,
)

if TYPE_CHECKING:
    from obstore import ObjectMeta
    from obstore.store import ClientConfig, S3Config, S3Store

PNG_CONTENT_TYPE = "image/png"
LIST_PAGE = 1000  # keys per ListObjectsV2 request, the most S3 gives
CHUNK_BYTES = 256 * 1024  # what a streamed body is sent in
PROBE_PREFIX = ".probe-"  # readiness writes and removes one object under this name
_UNREACHABLE = "The image store cannot be reached."


class S3ImageStore:
    def __init__(self, settings: Settings) -> None:
        assert settings.s3_bucket is not None  # Settings refuses s3 without a bucket
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.redirect = settings.s3_content == "redirect"
        self._ttls = {
            False: timedelta(seconds=settings.s3_presign_ttl_s),
            True: timedelta(seconds=settings.s3_private_presign_ttl_s),
        }
        # Calls but the streaming of a body are bounded whole; a body streams to a slow
        # client for as long as each read arrives within the timeout.
        self._store = _open(settings, whole_request=True)
        self._streaming = _open(settings, whole_request=False)

    def key_for(self, guid: UUID, variant: Variant = ORIGINAL) -> str:
        return f"{self.prefix}{str(guid)[:2]}/{content_name(guid, variant)}"

    def put(self, guid: UUID, variant: Variant, data: bytes) -> None:
        content_type = PNG_CONTENT_TYPE if variant == ORIGINAL else WEBP_CONTENT_TYPE
        with _unavailable():
            obstore.put(
                self._store,
                self.key_for(guid, variant),
                data,
                attributes={"Content-Type": content_type},
                use_multipart=False,
            )

    def delete(self, guid: UUID, variant: Variant) -> None:
        self._delete_key(self.key_for(guid, variant))

    def open(self, guid: UUID, variant: Variant) -> RemoteObject:
        """The object's size and age (one HEAD); ``ImageNotFound`` when there is none."""
        key = self.key_for(guid, variant)
        with _unavailable(not_found=str(guid)):
            meta = obstore.head(self._store, key)
        return RemoteObject(key, meta["size"], meta["last_modified"].timestamp(), self)

    def read(self, guid: UUID, variant: Variant) -> bytes:
        with _unavailable(not_found=str(guid)):
            return bytes(obstore.get(self._store, self.key_for(guid, variant)).bytes())

    def check_writable(self) -> None:
        """Raise unless a small object can be written and removed under the prefix."""
        key = f"{self.prefix}{PROBE_PREFIX}{secrets.token_hex(8)}"
        with _unavailable():
            obstore.put(self._store, key, b"ok", use_multipart=False)
        self._delete_key(key)

    def scan(self) -> Iterator[StoredItem]:
        """Every object under the prefix, a page of ``LIST_PAGE`` keys at a time, in key
        order (the guids' order: the shard is the guid's start)."""
        with _unavailable():
            for page in obstore.list(self._store, self.prefix, chunk_size=LIST_PAGE):
                now = time.time()
                for meta in page:
                    yield self._item(meta, now)

    def discard(self, item: StoredItem) -> None:
        if not item.location.startswith(self.prefix):
            raise ValueError(f"{item.location} is not in the store")
        self._delete_key(item.location)

    # The content source of the RemoteObjects this store opens (web/content.py).

    async def chunks(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        with _unavailable():
            result = await obstore.get_async(self._streaming, key, options={"range": (start, end)})
            async for chunk in result.stream(min_chunk_size=CHUNK_BYTES):
                yield bytes(chunk)

    def redirect_url(self, key: str, *, private: bool) -> str | None:
        """In redirect mode a presigned GET URL, signed here without a request; private
        images' for the shorter time."""
        if not self.redirect:
            return None
        with _unavailable():
            return obstore.sign(self._store, "GET", key, self._ttls[private])

    def _delete_key(self, key: str) -> None:
        with _unavailable(not_found=None):
            obstore.delete(self._store, key)

    def _item(self, meta: ObjectMeta, now: float) -> StoredItem:
        key = meta["path"]
        guid: UUID | None = None
        variant: Variant | None = None
        shard, slash, name = key.removeprefix(self.prefix).partition("/")
        if slash and (parsed := parse_content_name(name)) and str(parsed[0])[:2] == shard:
            guid, variant = parsed
        age_s = max(0.0, now - meta["last_modified"].timestamp())
        return StoredItem(guid, variant, key, False, age_s)


def _open(settings: Settings, *, whole_request: bool) -> S3Store:
    from obstore.store import S3Store

    timeout = timedelta(seconds=settings.s3_request_timeout_s)
    options: ClientConfig = {
        "connect_timeout": timedelta(seconds=settings.s3_connect_timeout_s),
        "read_timeout": timeout,
    }
    if whole_request:
        options["timeout"] = timeout
    endpoint = settings.s3_endpoint_url
    if endpoint is not None:
        options["allow_http"] = endpoint.startswith("http://")
    config: S3Config = {}
    if endpoint:
        config["endpoint"] = endpoint
    if settings.s3_region:
        config["region"] = settings.s3_region
    return S3Store(
        settings.s3_bucket,
        config=config,
        client_options=options,
        retry_config={
            "max_retries": settings.s3_max_retries,
            "retry_timeout": timeout,
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=1),
                "base": 2,
            },
        },
    )


@contextmanager
def _unavailable(not_found: str | bool | None = False) -> Iterator[None]:
    """Any failure of the service as ``StorageUnavailable``. A missing object: with
    ``not_found`` a guid, ``ImageNotFound``; None, nothing (a delete of what is gone)."""
    try:
        yield
    except (NotFoundError, FileNotFoundError):  # obstore raises the latter today
        if not_found is None:
            return
        if isinstance(not_found, str):
            raise ImageNotFound(not_found) from None
        raise StorageUnavailable(_UNREACHABLE) from None
    except (ImageNotFound, StorageUnavailable):
        raise
    except Exception as exc:  # obstore's errors, and the transport's under them
        raise StorageUnavailable(_UNREACHABLE) from exc
