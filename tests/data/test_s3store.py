"""The S3 store on the tests' own S3-compatible server (moto, a process on loopback): its
keys, what its scan makes of a bucket, paging through more keys than one listing holds,
presigned URLs, and failures of the service as ``StorageUnavailable`` within the bound.
(The contract it shares with every store: tests/data/test_store.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import httpx
import obstore
import pytest

from pixyproxy.core.errors import ImageNotFound, StorageUnavailable
from pixyproxy.core.models import ThumbnailWidth
from pixyproxy.core.settings import Settings
from pixyproxy.data.s3store import LIST_PAGE, S3ImageStore
from pixyproxy.data.store import ORIGINAL, THUMBNAILS, RemoteObject
from tests.support.s3 import S3Server

MakeStore = Callable[..., tuple[S3ImageStore, str]]


@pytest.fixture
def make_store(s3_server: S3Server) -> MakeStore:
    """A store on a fresh bucket, with settings overrides; returns it and its bucket."""

    def make(**overrides: object) -> tuple[S3ImageStore, str]:
        bucket = s3_server.new_bucket()
        return S3ImageStore(Settings(**s3_server.settings(bucket, **overrides))), bucket

    return make


def test_keys_are_the_prefix_the_shard_and_the_content_name(
    make_store: MakeStore, s3_server: S3Server
) -> None:
    store, bucket = make_store(s3_prefix="team-a/pictures/")
    guid = uuid4()
    store.put(guid, ORIGINAL, b"png")
    store.put(guid, THUMBNAILS[ThumbnailWidth.W256], b"webp")
    shard = str(guid)[:2]
    assert sorted(s3_server.keys(bucket)) == [
        f"team-a/pictures/{shard}/{guid}.png",
        f"team-a/pictures/{shard}/{guid}.w256.webp",
    ]
    opened = store.open(guid, ORIGINAL)
    assert isinstance(opened, RemoteObject) and opened.key == store.key_for(guid)
    assert opened.size_bytes == 3 and abs(opened.modified - time.time()) < 120
    head = s3_server.client().head_object(Bucket=bucket, Key=opened.key)
    assert head["ContentType"] == "image/png"


def test_the_scan_tells_ours_from_the_rest_and_keeps_to_the_prefix(
    make_store: MakeStore, s3_server: S3Server
) -> None:
    store, bucket = make_store()
    guid = uuid4()
    store.put(guid, ORIGINAL, b"png")
    shard = str(guid)[:2]
    others = [
        f"images/{shard}/notes.txt",
        f"images/ff/{guid}.png" if shard != "ff" else f"images/00/{guid}.png",
        f"images/{guid}.png",  # no shard
        f"images/{shard}/{guid}.w300.webp",
    ]
    for key in [*others, "elsewhere/x.png", f"images-old/{shard}/{guid}.png"]:
        s3_server.put_object(bucket, key, b"?")
    found = {item.location: item for item in store.scan()}
    assert set(found) == {store.key_for(guid), *others}, "nothing outside the prefix"
    assert (found[store.key_for(guid)].guid, found[store.key_for(guid)].variant) == (
        guid,
        ORIGINAL,
    )
    assert all(found[key].guid is None and not found[key].is_temp for key in others)
    with pytest.raises(ValueError, match="not in the store"):
        store.discard(found[others[0]].__class__(None, None, "elsewhere/x.png", False, 0))
    store.discard(found[others[0]])
    assert others[0] not in s3_server.keys(bucket)


def test_the_scan_pages_through_more_keys_than_one_listing_holds(make_store: MakeStore) -> None:
    store, _ = make_store()
    count = LIST_PAGE + 7
    guids = sorted((uuid4() for _ in range(count)), key=str)

    async def put_all() -> None:
        limit = asyncio.Semaphore(16)

        async def put(guid: UUID) -> None:
            async with limit:
                await obstore.put_async(store._store, store.key_for(guid), b"x")

        await asyncio.gather(*(put(guid) for guid in guids))

    asyncio.run(put_all())
    assert [item.guid for item in store.scan()] == guids


def test_check_writable_leaves_nothing(make_store: MakeStore, s3_server: S3Server) -> None:
    store, bucket = make_store()
    store.check_writable()
    assert s3_server.keys(bucket) == []


def test_a_missing_bucket_is_storage_unavailable(s3_server: S3Server) -> None:
    store = S3ImageStore(Settings(**s3_server.settings("no-such-bucket-here")))
    with pytest.raises(StorageUnavailable):
        store.check_writable()
    with pytest.raises(StorageUnavailable):
        store.put(uuid4(), ORIGINAL, b"x")


def test_redirect_urls_are_presigned_for_each_visibility_s_time(
    make_store: MakeStore, s3_server: S3Server
) -> None:
    """moto answers a presigned URL whatever its age, so the expiry is checked where it is
    written: the signed X-Amz-Expires (MinIO enforcing it: the chart's kind job)."""
    store, _ = make_store(s3_content="redirect", s3_presign_ttl_s=600, s3_private_presign_ttl_s=30)
    guid = uuid4()
    store.put(guid, ORIGINAL, b"the bytes")
    key = store.key_for(guid)
    for private, ttl in ((False, "600"), (True, "30")):
        url = store.redirect_url(key, private=private)
        assert url is not None and url.startswith(f"{s3_server.endpoint_url}/")
        query = parse_qs(urlsplit(url).query)
        assert query["X-Amz-Expires"] == [ttl] and "X-Amz-Signature" in query
        assert httpx.get(url).content == b"the bytes"
    streaming, _ = make_store()
    assert streaming.redirect_url(key, private=False) is None


def test_ranges_stream_exactly_the_bytes_asked_for(make_store: MakeStore) -> None:
    store, _ = make_store()
    guid = uuid4()
    data = bytes(range(256)) * 4096  # 1 MiB
    store.put(guid, ORIGINAL, data)
    key = store.key_for(guid)

    async def read(start: int, end: int) -> tuple[bytes, int]:
        chunks = [chunk async for chunk in store.chunks(key, start, end)]
        return b"".join(chunks), len(chunks)

    whole, pieces = asyncio.run(read(0, len(data)))
    assert whole == data and pieces > 1, "streamed in chunks, not as one body"
    assert asyncio.run(read(1000, 1010))[0] == data[1000:1010]


def test_a_stopped_server_is_storage_unavailable_within_the_bound(
    make_store: MakeStore, s3_server: S3Server
) -> None:
    store, _ = make_store(s3_request_timeout_s=0.5, s3_max_retries=1)
    guid = uuid4()
    store.put(guid, ORIGINAL, b"png")
    bound = Settings(**s3_server.settings("x", s3_request_timeout_s=0.5)).s3_operation_bound_s
    with s3_server.paused():
        for call in (
            lambda: store.put(uuid4(), ORIGINAL, b"x"),
            lambda: store.open(guid, ORIGINAL),
            lambda: store.read(guid, ORIGINAL),
            store.check_writable,
            lambda: list(store.scan()),
        ):
            started = time.monotonic()
            with pytest.raises(StorageUnavailable):
                call()
            assert time.monotonic() - started < bound + 1.0
    assert store.read(guid, ORIGINAL) == b"png", "back once the server answers"
    with pytest.raises(ImageNotFound):
        store.open(uuid4(), ORIGINAL)
