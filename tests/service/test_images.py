"""Generation and reading through the services, on real databases, store and generators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from uuid import UUID, uuid4

import openai
import pytest

from pixyproxy.core.errors import (
    AuthenticationRequired,
    DatabaseUnavailable,
    ImageNotFound,
    InvalidRequest,
    PromptRejected,
    UpstreamFailed,
)
from pixyproxy.core.models import Caller, GenerateRequest, ImageFilter
from pixyproxy.data.changes import SharedChangeCounter
from pixyproxy.data.database import Database
from pixyproxy.data.generators import ImageGenerator, OpenAIGenerator, PlaceholderGenerator
from pixyproxy.data.idempotency import SqlIdempotencyRepository
from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.quotas import SqlQuotaRepository
from pixyproxy.data.store import ImageStore
from pixyproxy.service.cache import PublicImageCache
from pixyproxy.service.cursors import InvalidCursor, decode_cursor, encode_cursor
from pixyproxy.service.images import GenerationPolicy, ImageDeps, InFlightLimit
from pixyproxy.service.pages import PageCache
from pixyproxy.service.private import PrivateImageService
from pixyproxy.service.public import PublicImageService
from tests.support.mock_server import MockServer

pytestmark = pytest.mark.anyio

FAILING_TAG_TRIGGER = {
    "mysql": (
        "CREATE TRIGGER fail_tags BEFORE INSERT ON image_tags FOR EACH ROW"
        " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'"
    ),
    "sqlite": (
        "CREATE TRIGGER fail_tags BEFORE INSERT ON image_tags"
        " BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    ),
}

MakeDeps = Callable[..., ImageDeps]


@pytest.fixture
async def make_deps(
    database: Database, tmp_path: Path, openai_mock: MockServer
) -> AsyncIterator[MakeDeps]:
    generators: list[ImageGenerator] = []

    def make(
        *,
        provider: str = "placeholder",
        anonymous: bool = True,
        cache_entries: int = 0,
        **policy: int,
    ) -> ImageDeps:
        generator: ImageGenerator = PlaceholderGenerator()
        if provider == "openai":
            client = openai.AsyncOpenAI(api_key="k", base_url=openai_mock.base_url, max_retries=0)
            generator = OpenAIGenerator(client, model="gpt-image-1", max_bytes=8 << 20)
        generators.append(generator)
        return sql_deps(
            database,
            tmp_path / "images",
            generator,
            GenerationPolicy(anonymous_generation=anonymous, **policy),
            cache=PublicImageCache(cache_entries),
        )

    yield make
    for generator in generators:
        await generator.aclose()


def sql_deps(
    database: Database,
    root: Path,
    generator: ImageGenerator,
    policy: GenerationPolicy,
    max_in_flight: int = 8,
    cache: PublicImageCache | None = None,
) -> ImageDeps:
    return ImageDeps(
        repository=SqlImageRepository(database),
        store=ImageStore(root),
        generator=generator,
        idempotency=SqlIdempotencyRepository(database),
        quotas=SqlQuotaRepository(database),
        in_flight=InFlightLimit(max_in_flight),
        policy=policy,
        cache=cache if cache is not None else PublicImageCache(0),
    )


def stored_files(deps: ImageDeps) -> list[Path]:
    return [f.path for f in deps.store.scan()]


async def test_generate_stores_file_and_row(make_deps: MakeDeps) -> None:
    deps = make_deps()
    detail = await PublicImageService(deps).generate(
        GenerateRequest(prompt="  a red fox  ", tags=["Fox", "fox", "art"], size="1536x1024")
    )
    assert detail.prompt == "a red fox"
    assert detail.tags == ["fox", "art"]
    assert (detail.width, detail.height) == (1536, 1024)
    assert detail.author is None and not detail.private
    path = deps.store.path_for(detail.guid)
    assert stored_files(deps) == [path] and path.stat().st_size == detail.size_bytes
    assert await PublicImageService(deps).get(detail.guid) == detail


async def test_failure_between_file_and_row_leaves_neither(
    make_deps: MakeDeps, database: Database
) -> None:
    deps = make_deps()
    with database.writing() as cursor:
        cursor.execute(FAILING_TAG_TRIGGER[database.dialect])
    try:
        with pytest.raises(Exception, match="injected failure"):
            await PublicImageService(deps).generate(GenerateRequest(prompt="x", tags=["t"]))
    finally:
        with database.writing() as cursor:
            cursor.execute("DROP TRIGGER fail_tags")
    assert stored_files(deps) == []
    assert list(deps.repository.iter_files()) == []


@pytest.mark.parametrize(
    ("behavior", "error"),
    [
        ("content_policy", PromptRejected),
        ("server_error", UpstreamFailed),
        ("garbage", UpstreamFailed),
    ],
)
async def test_upstream_failure_leaves_nothing(
    make_deps: MakeDeps, openai_mock: MockServer, behavior: str, error: type[Exception]
) -> None:
    deps = make_deps(provider="openai")
    openai_mock.set_behavior(behavior)
    with pytest.raises(error):
        await PublicImageService(deps).generate(GenerateRequest(prompt="a fox"))
    assert stored_files(deps) == []
    assert list(deps.repository.iter_files()) == []


async def test_anonymous_generation_can_be_refused(make_deps: MakeDeps) -> None:
    with pytest.raises(AuthenticationRequired):
        await PublicImageService(make_deps(anonymous=False)).generate(GenerateRequest(prompt="x"))


async def test_anonymous_callers_cannot_make_private_images(make_deps: MakeDeps) -> None:
    with pytest.raises(InvalidRequest):
        await PublicImageService(make_deps()).generate(GenerateRequest(prompt="x", private=True))


async def test_private_images_belong_to_their_author(make_deps: MakeDeps) -> None:
    deps = make_deps(anonymous=False)
    alice, bob = (
        PrivateImageService(deps, Caller("alice")),
        PrivateImageService(deps, Caller("bob")),
    )
    mine = await alice.generate(GenerateRequest(prompt="secret", private=True))
    assert mine.author == "alice" and mine.private
    assert await alice.get(mine.guid) == mine
    for other in (bob, PublicImageService(deps)):
        with pytest.raises(ImageNotFound):
            await other.get(mine.guid)
        with pytest.raises(ImageNotFound):
            await other.content(mine.guid)
        assert (await other.list(ImageFilter())).items == []
    content = await alice.content(mine.guid)
    assert content.private and content.path.read_bytes().startswith(b"\x89PNG")


async def test_list_pages_with_opaque_cursors(make_deps: MakeDeps) -> None:
    service = PublicImageService(make_deps())
    made = [await service.generate(GenerateRequest(prompt=f"p{i}")) for i in range(3)]
    first = await service.list(ImageFilter(), limit=2)
    assert [d.guid for d in first.items] == [made[2].guid, made[1].guid]
    assert first.next_cursor and str(made[1].guid) not in first.next_cursor
    second = await service.list(ImageFilter(), limit=2, cursor=first.next_cursor)
    assert [d.guid for d in second.items] == [made[0].guid] and second.next_cursor is None


@pytest.mark.parametrize(
    "cursor", ["garbage", "!!!", encode_cursor(UUID(int=7))[:-3], "djE6bm9wZQ"]
)
async def test_forged_cursor_is_invalid(make_deps: MakeDeps, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        await PublicImageService(make_deps()).list(ImageFilter(), cursor=cursor)


def test_cursor_round_trips() -> None:
    guid = uuid4()
    assert decode_cursor(encode_cursor(guid)) == guid


async def test_database_down_is_unavailable(
    make_settings: Callable[..., object], tmp_path: Path
) -> None:
    from pixyproxy.data.init import open_database

    settings = make_settings(database_url="mysql://root@127.0.0.1:9/none", db_connect_timeout_s=1)
    database = open_database(settings)  # type: ignore[arg-type]
    deps = sql_deps(
        database,
        tmp_path / "images",
        PlaceholderGenerator(),
        GenerationPolicy(anonymous_generation=True),
    )
    try:
        with pytest.raises(DatabaseUnavailable):
            await PublicImageService(deps).generate(GenerateRequest(prompt="x"))
        with pytest.raises(DatabaseUnavailable):
            await PublicImageService(deps).get(uuid4())
    finally:
        database.close()
    assert stored_files(deps) == []


async def test_cache_serves_public_images_and_never_private_ones(
    make_deps: MakeDeps, database: Database
) -> None:
    deps = make_deps(anonymous=False, cache_entries=100)
    alice, bob = (
        PrivateImageService(deps, Caller("alice")),
        PrivateImageService(deps, Caller("bob")),
    )
    public = await alice.generate(GenerateRequest(prompt="public one"))
    secret = await alice.generate(GenerateRequest(prompt="secret one", private=True))
    assert await bob.get(public.guid) == public
    with database.writing() as cursor:  # changed behind the service's back
        cursor.execute("UPDATE images SET prompt = 'edited'")
    # The public record comes from memory for everyone; nothing reads the database.
    assert (await PublicImageService(deps).get(public.guid)).prompt == "public one"
    # The private one is read, with its visibility, from the database every time.
    assert (await alice.get(secret.guid)).prompt == "edited"
    with pytest.raises(ImageNotFound):
        await bob.get(secret.guid)
    with pytest.raises(ImageNotFound):
        await bob.content(secret.guid)
    # Lists take their guids from the database and the public images from memory.
    assert [(d.guid, d.prompt) for d in (await alice.list(ImageFilter())).items] == [
        (secret.guid, "edited"),
        (public.guid, "public one"),
    ]
    assert [d.guid for d in (await bob.list(ImageFilter())).items] == [public.guid]


async def test_lists_fill_the_cache_and_leave_out_rows_removed_meanwhile(
    make_deps: MakeDeps, database: Database
) -> None:
    writer = PublicImageService(make_deps())
    made = [await writer.generate(GenerateRequest(prompt=f"p{i}")) for i in range(3)]
    deps = make_deps(cache_entries=100)  # another worker, which has not seen them yet
    service = PublicImageService(deps)
    listed = await service.list(ImageFilter())
    assert [d.guid for d in listed.items] == [d.guid for d in reversed(made)]
    assert listed.items == list(reversed(made)) and len(deps.cache) == 3
    # A row removed (storage check --fix) while the cache still has it: the list, which
    # takes its guids from the database, no longer shows it.
    assert deps.repository.delete(made[1].guid)
    assert [d.guid for d in (await service.list(ImageFilter())).items] == [
        made[2].guid,
        made[0].guid,
    ]


async def test_images_enter_the_cache_when_read_not_when_generated(make_deps: MakeDeps) -> None:
    deps = make_deps(cache_entries=100)
    service = PublicImageService(deps)
    made = await service.generate(GenerateRequest(prompt="fresh"))
    assert len(deps.cache) == 0  # a burst of generations pushes out nothing being read
    assert await service.get(made.guid) == made
    assert len(deps.cache) == 1


async def test_anonymous_list_pages_are_kept_until_any_worker_adds_an_image(
    make_deps: MakeDeps, database: Database, tmp_path: Path
) -> None:
    """Two workers: each its own caches, one shared change count (as under gunicorn)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    workers = [
        replace(
            make_deps(cache_entries=100), pages=PageCache(10), changes=SharedChangeCounter(shared)
        )
        for _ in range(2)
    ]
    first, second = (PublicImageService(deps) for deps in workers)
    made = await first.generate(GenerateRequest(prompt="one"))
    assert [d.guid for d in (await second.list(ImageFilter())).items] == [made.guid]
    with database.writing() as cursor:  # a row the count does not know of
        cursor.execute("UPDATE images SET prompt = 'edited'")
        cursor.execute("DELETE FROM images")
    kept = await second.list(ImageFilter())
    assert [d.guid for d in kept.items] == [made.guid]  # the page came from memory
    again = await first.generate(GenerateRequest(prompt="two"))
    # The other worker's generation bumped the shared count: the page is read again.
    assert [d.guid for d in (await second.list(ImageFilter())).items] == [again.guid]


async def test_authenticated_lists_are_never_kept(make_deps: MakeDeps, database: Database) -> None:
    deps = replace(make_deps(anonymous=False), pages=PageCache(10))
    alice = PrivateImageService(deps, Caller("alice"))
    made = await alice.generate(GenerateRequest(prompt="mine", private=True))
    assert [d.guid for d in (await alice.list(ImageFilter())).items] == [made.guid]
    with database.writing() as cursor:
        cursor.execute("DELETE FROM images")
    assert (await alice.list(ImageFilter())).items == [] and len(deps.pages) == 0
