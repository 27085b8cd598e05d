"""Thumbnails through the public and private use cases, on the in-memory fakes: made once on
the first request and kept in the store, as visible as their image, made at most
``thumbnail_concurrency`` at once, and nothing stored when making one fails."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from uuid import UUID

import anyio
import pytest
from PIL import Image
from prometheus_client import REGISTRY

from pixyproxy.core.errors import ImageNotFound, InsufficientStorage, PixyProxyException
from pixyproxy.core.models import Caller, GenerateRequest, ThumbnailWidth
from pixyproxy.core.settings import Settings
from pixyproxy.data.store import ORIGINAL, THUMBNAILS, Variant
from pixyproxy.service.private import PrivateImages
from pixyproxy.service.public import PublicImages
from pixyproxy.service.reading import ImageContent
from tests.support.fakes import FakeImageStore, StoredBytes
from tests.support.png import rgb_png
from tests.support.services import Fakes

pytestmark = pytest.mark.anyio

ALICE = Caller(subject="alice")
# What the originals are in these tests: 64x32, so thumbnails have a ratio to keep.
ORIGINAL_PNG = rgb_png(64, [bytes(range(64)) * 3] * 32)


def made(width: ThumbnailWidth) -> float:
    labels = {"width": str(width.value)}
    return REGISTRY.get_sample_value("pixyproxy_thumbnails_made_total", labels) or 0.0


def webp_size(content: ImageContent) -> tuple[int, int]:
    assert isinstance(content.stored, StoredBytes)
    picture = Image.open(io.BytesIO(content.stored.data))
    assert picture.format == "WEBP"
    return picture.size


class GatedReads(FakeImageStore):
    """A store whose reads of originals wait for ``gate``, counting how many wait at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.reading = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def read(self, guid: UUID, variant: Variant) -> bytes:
        with self._lock:
            self.reading += 1
            self.most_at_once = max(self.most_at_once, self.reading)
        try:
            assert self.gate.wait(timeout=30)
            return super().read(guid, variant)
        finally:
            with self._lock:
                self.reading -= 1


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def make_public(
    make_settings: Callable[..., Settings], fakes: Fakes
) -> Callable[..., PublicImages]:
    def make(**overrides: object) -> PublicImages:
        return PublicImages(fakes.services(make_settings(anonymous_generation=True, **overrides)))

    return make


async def an_image(
    fakes: Fakes, service: PublicImages | PrivateImages, *, private: bool = False
) -> UUID:
    detail = await service.generate(GenerateRequest(prompt="a koi pond", private=private))
    fakes.store.contents[(detail.guid, ORIGINAL)] = ORIGINAL_PNG
    return detail.guid


async def test_the_first_request_makes_and_keeps_it_later_ones_read_it(
    make_public: Callable[..., PublicImages], fakes: Fakes
) -> None:
    service = make_public()
    guid = await an_image(fakes, service)
    before = made(ThumbnailWidth.W256)
    first = await service.thumbnail(guid, ThumbnailWidth.W256)
    assert made(ThumbnailWidth.W256) == before + 1
    assert first.content_type == "image/webp" and not first.private
    assert webp_size(first) == (256, 128)
    sha256 = fakes.repository.rows[guid].sha256
    assert first.etag == f'"{sha256}-w256"'
    assert (guid, THUMBNAILS[ThumbnailWidth.W256]) in fakes.store.contents

    again = await service.thumbnail(guid, ThumbnailWidth.W256)
    assert again == first
    assert made(ThumbnailWidth.W256) == before + 1, "kept, not made again"
    for width in ThumbnailWidth:
        content = await service.thumbnail(guid, width)
        assert webp_size(content) == (width.value, width.value // 2)
    assert set(fakes.store.contents) == {
        (guid, ORIGINAL),
        *((guid, v) for v in THUMBNAILS.values()),
    }


async def test_a_private_image_s_thumbnail_is_made_for_its_author_alone(
    make_settings: Callable[..., Settings], fakes: Fakes
) -> None:
    services = fakes.services(make_settings())
    alice = PrivateImages(services, ALICE)
    guid = await an_image(fakes, alice, private=True)
    for stranger in (PublicImages(services), PrivateImages(services, Caller(subject="Alice"))):
        with pytest.raises(ImageNotFound):
            await stranger.thumbnail(guid, ThumbnailWidth.W128)
    assert list(fakes.store.contents) == [(guid, ORIGINAL)], "nothing made for them"
    mine = await alice.thumbnail(guid, ThumbnailWidth.W128)
    assert mine.private and webp_size(mine) == (128, 64)


async def test_requests_in_one_process_for_one_thumbnail_make_it_once(
    make_public: Callable[..., PublicImages], fakes: Fakes
) -> None:
    fakes.store = store = GatedReads()
    service = make_public()
    guid = await an_image(fakes, service)
    before = made(ThumbnailWidth.W512)
    answers: list[ImageContent] = []

    async def ask() -> None:
        answers.append(await service.thumbnail(guid, ThumbnailWidth.W512))

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(ask)
        await wait_until(lambda: store.reading == 1)
        store.gate.set()
    assert len(answers) == 20 and len({answer.stored for answer in answers}) == 1
    assert made(ThumbnailWidth.W512) == before + 1


async def test_at_most_the_configured_number_are_made_at_once(
    make_public: Callable[..., PublicImages], fakes: Fakes
) -> None:
    fakes.store = store = GatedReads()
    service = make_public(thumbnail_concurrency=2)
    guids = [await an_image(fakes, service) for _ in range(8)]
    async with anyio.create_task_group() as group:
        for guid in guids:
            group.start_soon(service.thumbnail, guid, ThumbnailWidth.W128)
        await wait_until(lambda: store.reading == 2)
        await anyio.sleep(0.2)  # time for a third to start, were it allowed to
        assert store.reading == 2
        store.gate.set()
    assert store.most_at_once == 2
    assert all((guid, THUMBNAILS[ThumbnailWidth.W128]) in store.contents for guid in guids)


async def test_a_store_that_cannot_keep_it_keeps_nothing_and_waiters_try_again(
    make_public: Callable[..., PublicImages], fakes: Fakes
) -> None:
    fakes.store = store = GatedReads()
    service = make_public()
    guid = await an_image(fakes, service)
    store.fail_puts = [InsufficientStorage()]
    outcomes: list[str] = []

    async def ask() -> None:
        try:
            await service.thumbnail(guid, ThumbnailWidth.W256)
            outcomes.append("ok")
        except InsufficientStorage:
            outcomes.append("full")

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(ask)
        await wait_until(lambda: store.reading == 1)
        store.gate.set()
    # The first making failed and stored nothing; one of those who waited made it.
    assert sorted(outcomes) == ["full", "ok", "ok", "ok", "ok"]
    assert (guid, THUMBNAILS[ThumbnailWidth.W256]) in store.contents


async def test_an_original_that_is_missing_or_unusable_makes_nothing(
    make_public: Callable[..., PublicImages], fakes: Fakes
) -> None:
    service = make_public()
    guid = await an_image(fakes, service)
    fakes.store.contents[(guid, ORIGINAL)] = b"\x89PNG\r\n\x1a\n truncated"
    with pytest.raises(PixyProxyException) as raised:
        await service.thumbnail(guid, ThumbnailWidth.W256)
    assert raised.value.status == 500 and "guid" not in raised.value.message
    del fakes.store.contents[(guid, ORIGINAL)]
    with pytest.raises(ImageNotFound):
        await service.thumbnail(guid, ThumbnailWidth.W256)
    assert fakes.store.contents == {}


async def wait_until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await anyio.sleep(0.005)
