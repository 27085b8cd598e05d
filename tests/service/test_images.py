"""Generating and reading through the public and private use cases, on in-memory fakes of
the repository, store, generator, idempotency keys and quotas (no database needed; the
same rules on real databases: test_on_databases.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import anyio
import pytest

from pixyproxy.core.errors import (
    AuthenticationRequired,
    DatabaseUnavailable,
    GenerationCapacityExceeded,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    ImageNotFound,
    InvalidRequest,
    PromptRejected,
    RateLimited,
    UpstreamFailed,
)
from pixyproxy.core.models import Caller, GenerateRequest, ImageListQuery, ImagePage
from pixyproxy.core.settings import Settings
from pixyproxy.data.store import ORIGINAL
from pixyproxy.service.cursors import InvalidCursor, encode_cursor
from pixyproxy.service.images import ImageServices
from pixyproxy.service.private import PrivateImages
from pixyproxy.service.public import PublicImages
from tests.support.fakes import StoredBytes
from tests.support.png import SIGNATURE
from tests.support.records import details
from tests.support.services import Fakes

pytestmark = pytest.mark.anyio

MakeServices = Callable[..., ImageServices]
EVERYTHING = ImageListQuery()


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def make_services(make_settings: Callable[..., Settings], fakes: Fakes) -> MakeServices:
    """The use cases on ``fakes``; caches off and anonymous generation on unless asked."""

    def make(**overrides: object) -> ImageServices:
        values: dict[str, object] = {
            "anonymous_generation": True,
            "detail_cache_bytes": 0,
            "list_cache_bytes": 0,
            **overrides,
        }
        return fakes.services(make_settings(**values))

    return make


def edit_prompts(fakes: Fakes, prompt: str) -> None:
    """Change every row behind the services' back."""
    for guid, record in fakes.repository.rows.items():
        fakes.repository.rows[guid] = record.model_copy(update={"prompt": prompt})


async def test_generate_stores_file_and_row(make_services: MakeServices, fakes: Fakes) -> None:
    service = PublicImages(make_services())
    detail = await service.generate(
        GenerateRequest(prompt="  a red fox  ", tags=["Fox", "fox", "art"], size="1536x1024")
    )
    assert detail.prompt == "a red fox"
    assert detail.tags == ["fox", "art"]
    assert (detail.width, detail.height) == (1536, 1024)
    assert detail.author is None and not detail.private
    stored = fakes.store.contents[(detail.guid, ORIGINAL)]
    assert list(fakes.store.contents) == [(detail.guid, ORIGINAL)]
    assert len(stored) == detail.size_bytes
    assert fakes.generator.calls == [("a red fox", 1536, 1024)]
    assert await service.get(detail.guid) == detail


@pytest.mark.parametrize(
    "failure", [RuntimeError("injected failure"), DatabaseUnavailable(), KeyboardInterrupt()]
)
async def test_failure_between_file_and_row_leaves_neither(
    make_services: MakeServices, fakes: Fakes, failure: BaseException
) -> None:
    fakes.repository.fail_inserts = [failure]
    with pytest.raises(type(failure)):
        await PublicImages(make_services()).generate(GenerateRequest(prompt="x", tags=["t"]))
    assert fakes.store.contents == {}
    assert list(fakes.repository.iter_files()) == []


@pytest.mark.parametrize(
    "error",
    [
        PromptRejected("refused"),
        UpstreamFailed("failed", kind="server_error"),
        UpstreamFailed("garbage", kind="bad_response"),
    ],
)
async def test_upstream_failure_leaves_nothing(
    make_services: MakeServices, fakes: Fakes, error: Exception
) -> None:
    fakes.generator.fail_with = error
    with pytest.raises(type(error)):
        await PublicImages(make_services()).generate(GenerateRequest(prompt="a fox"))
    assert fakes.store.contents == {}
    assert list(fakes.repository.iter_files()) == []


async def test_a_store_that_cannot_write_leaves_no_row(
    make_services: MakeServices, fakes: Fakes
) -> None:
    from pixyproxy.core.errors import InsufficientStorage

    fakes.store.fail_puts = [InsufficientStorage()]
    with pytest.raises(InsufficientStorage):
        await PublicImages(make_services()).generate(GenerateRequest(prompt="full disk"))
    assert list(fakes.repository.iter_files()) == [] and fakes.store.contents == {}


async def test_anonymous_generation_can_be_refused(
    make_services: MakeServices, fakes: Fakes
) -> None:
    service = PublicImages(make_services(anonymous_generation=False))
    with pytest.raises(AuthenticationRequired):
        await service.generate(GenerateRequest(prompt="x"))
    assert fakes.generator.calls == []


async def test_anonymous_callers_cannot_make_private_images(make_services: MakeServices) -> None:
    with pytest.raises(InvalidRequest):
        await PublicImages(make_services()).generate(GenerateRequest(prompt="x", private=True))


async def test_private_images_belong_to_their_author(make_services: MakeServices) -> None:
    services = make_services(anonymous_generation=False)
    alice, bob = PrivateImages(services, Caller("alice")), PrivateImages(services, Caller("bob"))
    mine = await alice.generate(GenerateRequest(prompt="secret", private=True))
    assert mine.author == "alice" and mine.private
    assert await alice.get(mine.guid) == mine
    for other in (bob, PublicImages(services)):
        with pytest.raises(ImageNotFound):
            await other.get(mine.guid)
        with pytest.raises(ImageNotFound):
            await other.content(mine.guid)
        assert details(await other.list(EVERYTHING)) == []
    content = await alice.content(mine.guid)
    assert content.private and content.etag.startswith('"')
    assert isinstance(content.stored, StoredBytes) and content.stored.data.startswith(SIGNATURE)


async def test_list_pages_with_opaque_cursors(make_services: MakeServices) -> None:
    service = PublicImages(make_services())
    made = [await service.generate(GenerateRequest(prompt=f"p{i}")) for i in range(3)]
    first = await service.list(ImageListQuery(limit=2))
    assert [d.guid for d in details(first)] == [made[2].guid, made[1].guid]
    assert first.next_cursor and str(made[1].guid) not in first.next_cursor
    second = await service.list(ImageListQuery(limit=2, cursor=first.next_cursor))
    assert [d.guid for d in details(second)] == [made[0].guid] and second.next_cursor is None


async def test_a_cursor_naming_another_callers_private_image_is_invalid(
    make_services: MakeServices,
) -> None:
    services = make_services()
    secret = await PrivateImages(services, Caller("alice")).generate(
        GenerateRequest(prompt="hidden", private=True)
    )
    for service in (PublicImages(services), PrivateImages(services, Caller("bob"))):
        with pytest.raises(InvalidCursor):
            await service.list(ImageListQuery(cursor=encode_cursor(secret.guid)))
    mine = await PrivateImages(services, Caller("alice")).list(
        ImageListQuery(cursor=encode_cursor(secret.guid))
    )
    assert details(mine) == [] and mine.next_cursor is None


@pytest.mark.parametrize(
    "cursor", ["garbage", "!!!", encode_cursor(UUID(int=7))[:-3], "djE6bm9wZQ"]
)
async def test_forged_cursor_is_invalid(make_services: MakeServices, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        await PublicImages(make_services()).list(ImageListQuery(cursor=cursor))


async def test_database_down_is_unavailable(make_services: MakeServices, fakes: Fakes) -> None:
    service = PublicImages(make_services())
    fakes.repository.unavailable = True
    with pytest.raises(DatabaseUnavailable):
        await service.generate(GenerateRequest(prompt="x"))
    with pytest.raises(DatabaseUnavailable):
        await service.get(uuid4())
    assert fakes.store.contents == {}


async def test_cache_serves_public_images_and_never_private_ones(
    make_services: MakeServices, fakes: Fakes
) -> None:
    services = make_services(anonymous_generation=False, detail_cache_bytes=1 << 20)
    alice, bob = PrivateImages(services, Caller("alice")), PrivateImages(services, Caller("bob"))
    public = await alice.generate(GenerateRequest(prompt="public one"))
    secret = await alice.generate(GenerateRequest(prompt="secret one", private=True))
    assert await bob.get(public.guid) == public
    edit_prompts(fakes, "edited")
    # The public record comes from memory for everyone; nothing reads the repository.
    assert (await PublicImages(services).get(public.guid)).prompt == "public one"
    # The private one is read, with its visibility, from the repository every time.
    assert (await alice.get(secret.guid)).prompt == "edited"
    with pytest.raises(ImageNotFound):
        await bob.get(secret.guid)
    with pytest.raises(ImageNotFound):
        await bob.content(secret.guid)
    # Lists take their guids from the repository and the public images from memory.
    assert [(d.guid, d.prompt) for d in details(await alice.list(EVERYTHING))] == [
        (secret.guid, "edited"),
        (public.guid, "public one"),
    ]
    assert [d.guid for d in details(await bob.list(EVERYTHING))] == [public.guid]


async def test_lists_fill_the_cache_and_leave_out_rows_removed_meanwhile(
    make_services: MakeServices, fakes: Fakes
) -> None:
    writer = PublicImages(make_services())
    made = [await writer.generate(GenerateRequest(prompt=f"p{i}")) for i in range(3)]
    services = make_services(detail_cache_bytes=1 << 20)  # another worker, not seen them yet
    service = PublicImages(services)
    listed = await service.list(EVERYTHING)
    assert [d.guid for d in details(listed)] == [d.guid for d in reversed(made)]
    assert details(listed) == list(reversed(made)) and len(services.reading.cache) == 3
    # A row removed (storage check --fix) while the cache still has it: the list, which
    # takes its guids from the repository, no longer shows it.
    assert fakes.repository.delete(made[1].guid)
    assert [d.guid for d in details(await service.list(EVERYTHING))] == [
        made[2].guid,
        made[0].guid,
    ]


async def test_images_enter_the_cache_when_read_not_when_generated(
    make_services: MakeServices,
) -> None:
    services = make_services(detail_cache_bytes=1 << 20)
    service = PublicImages(services)
    made = await service.generate(GenerateRequest(prompt="fresh"))
    assert len(services.reading.cache) == 0  # a burst of generations pushes out nothing read
    assert await service.get(made.guid) == made
    assert len(services.reading.cache) == 1


async def test_authenticated_lists_are_never_kept(
    make_services: MakeServices, fakes: Fakes
) -> None:
    services = make_services(anonymous_generation=False, list_cache_bytes=1 << 20)
    alice = PrivateImages(services, Caller("alice"))
    made = await alice.generate(GenerateRequest(prompt="mine", private=True))
    assert [d.guid for d in details(await alice.list(EVERYTHING))] == [made.guid]
    fakes.repository.rows.clear()
    assert details(await alice.list(EVERYTHING)) == [] and len(services.reading.pages) == 0


class HeldLists:
    """The fake repository's ``list``, counted and held until ``release``."""

    def __init__(self, fakes: Fakes) -> None:
        self.calls = 0
        self.released = threading.Event()
        self._list = fakes.repository.list
        fakes.repository.list = self  # type: ignore[method-assign]

    def __call__(self, **query: Any) -> ImagePage:
        self.calls += 1
        assert self.released.wait(10)
        return self._list(**query)

    async def until_called(self, times: int) -> None:
        with anyio.fail_after(5):
            while self.calls < times:  # noqa: ASYNC110 - set from the threadpool
                await anyio.sleep(0.01)
        await anyio.wait_all_tasks_blocked()


async def test_a_page_missed_by_many_callers_at_once_is_read_once(
    make_services: MakeServices, fakes: Fakes
) -> None:
    writer = PublicImages(make_services())
    made = [await writer.generate(GenerateRequest(prompt=f"p{i}")) for i in range(3)]
    service = PublicImages(make_services(list_cache_bytes=1 << 20))
    held = HeldLists(fakes)
    pages: list[list[UUID]] = []

    async def read() -> None:
        pages.append([d.guid for d in details(await service.list(EVERYTHING))])

    async with anyio.create_task_group() as callers:
        for _ in range(5):
            callers.start_soon(read)
        await held.until_called(1)
        held.released.set()
    assert held.calls == 1
    assert pages == [[d.guid for d in reversed(made)]] * 5


async def test_a_caller_after_a_change_does_not_share_a_read_from_before_it(
    make_services: MakeServices, fakes: Fakes
) -> None:
    service = PublicImages(make_services(list_cache_bytes=1 << 20))
    await service.generate(GenerateRequest(prompt="before"))
    held = HeldLists(fakes)
    pages: dict[str, list[str]] = {}

    async def read(name: str) -> None:
        pages[name] = [d.prompt for d in details(await service.list(EVERYTHING))]

    async with anyio.create_task_group() as callers:
        callers.start_soon(read, "first")
        await held.until_called(1)
        await service.generate(GenerateRequest(prompt="after"))  # this worker's change
        callers.start_soon(read, "second")
        await held.until_called(2)
        held.released.set()
    assert pages["second"] == ["after", "before"]


# --- idempotency, quotas, the in-flight limit ---------------------------------------------


async def test_an_idempotent_retry_replays_without_generating_again(
    make_services: MakeServices, fakes: Fakes
) -> None:
    services = make_services()
    alice, bob = PrivateImages(services, Caller("alice")), PrivateImages(services, Caller("bob"))
    request = GenerateRequest(prompt="once", tags=["once"])
    first = await alice.generate(request, idempotency_key="order-42")
    assert await alice.generate(request, idempotency_key="order-42") == first
    assert len(fakes.generator.calls) == 1 and len(fakes.repository.rows) == 1
    with pytest.raises(IdempotencyKeyReused):
        await alice.generate(GenerateRequest(prompt="other"), idempotency_key="order-42")
    # Keys belong to their caller: Bob's "order-42" is another request.
    theirs = await bob.generate(request, idempotency_key="order-42")
    assert theirs.author == "bob" and theirs.guid != first.guid


async def test_a_key_in_progress_is_409_and_a_failed_generation_frees_it(
    make_services: MakeServices, fakes: Fakes
) -> None:
    service = PublicImages(make_services())
    request = GenerateRequest(prompt="slow")
    fakes.generator.hold()
    fakes.generator.fail_with = UpstreamFailed("failed", kind="server_error")
    outcome: list[BaseException] = []

    async def first() -> None:
        try:
            await service.generate(request, idempotency_key="k")
        except UpstreamFailed as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(first)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(IdempotencyInProgress):
            await service.generate(request, idempotency_key="k")
        fakes.generator.release()
    assert len(outcome) == 1
    fakes.generator.fail_with = None
    assert (await service.generate(request, idempotency_key="k")).prompt == "slow"


async def test_the_generation_limit_is_per_caller(make_services: MakeServices) -> None:
    services = make_services(generation_limit=2)
    alice, bob = PrivateImages(services, Caller("alice")), PrivateImages(services, Caller("bob"))
    for i in range(2):
        await alice.generate(GenerateRequest(prompt=f"a{i}"))
    with pytest.raises(RateLimited) as limited:
        await alice.generate(GenerateRequest(prompt="one too many"))
    assert limited.value.retry_after_s is not None and 0 < limited.value.retry_after_s <= 3600
    await bob.generate(GenerateRequest(prompt="b"))
    assert [d.author for d in details(await alice.list(ImageListQuery(author="alice")))] == [
        "alice",
        "alice",
    ]


async def test_generations_beyond_the_in_flight_limit_are_refused(
    make_services: MakeServices, fakes: Fakes
) -> None:
    service = PublicImages(make_services(max_in_flight_generations=1))
    fakes.generator.hold()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(service.generate, GenerateRequest(prompt="running"))
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(GenerationCapacityExceeded):
            await service.generate(GenerateRequest(prompt="waiting"))
        fakes.generator.release()
    assert [d.prompt for d in details(await service.list(EVERYTHING))] == ["running"]


async def test_an_answer_not_recorded_still_gives_the_image_and_its_retry_gets_it(
    make_services: MakeServices, fakes: Fakes
) -> None:
    """The image was stored, then recording the answer failed: this request answers with
    the image, and a retry with the key gets it back, never a second generation."""
    service = PrivateImages(make_services(), Caller("alice"))
    request = GenerateRequest(prompt="paid for once", private=True)
    fakes.idempotency.fail_completes = [DatabaseUnavailable(), DatabaseUnavailable()]
    first = await service.generate(request, idempotency_key="k")
    assert list(fakes.repository.rows) == [first.guid]
    assert await service.generate(request, idempotency_key="k") == first  # still unrecorded
    assert await service.generate(request, idempotency_key="k") == first  # recorded now
    assert len(fakes.generator.calls) == 1
    assert fakes.idempotency.keys[("alice", "k")]["state"] == "done"


def counted(fakes: Fakes, owner: str) -> int:
    return sum(n for (who, _), n in fakes.quotas.counts.items() if who == owner)


async def test_the_quota_counts_attempts_that_reached_the_upstream(
    make_services: MakeServices, fakes: Fakes
) -> None:
    services = make_services(generation_limit=2, anonymous_generation=False)
    alice = PrivateImages(services, Caller("alice"))
    fakes.generator.fail_with = UpstreamFailed(
        "no connection", kind="connection", reached_upstream=False
    )
    for _ in range(3):  # never reached it: not counted
        with pytest.raises(UpstreamFailed):
            await alice.generate(GenerateRequest(prompt="x"))
    assert counted(fakes, "alice") == 0
    fakes.generator.fail_with = UpstreamFailed("it failed", kind="server_error")
    with pytest.raises(UpstreamFailed):  # reached it (and may have been billed): counted
        await alice.generate(GenerateRequest(prompt="x"))
    fakes.generator.fail_with = None
    await alice.generate(GenerateRequest(prompt="x"))
    for _ in range(3):  # refused by the limit itself: not counted either
        with pytest.raises(RateLimited):
            await alice.generate(GenerateRequest(prompt="x"))
    assert counted(fakes, "alice") == 2


async def test_requests_refused_before_the_upstream_are_not_counted(
    make_services: MakeServices, fakes: Fakes
) -> None:
    services = make_services(generation_limit=1, max_in_flight_generations=1)
    anonymous = PublicImages(services, client="203.0.113.7")
    with pytest.raises(InvalidRequest):  # invalid for an anonymous caller
        await anonymous.generate(GenerateRequest(prompt="x", private=True))
    fakes.quotas.unavailable = True  # the database is away
    with pytest.raises(DatabaseUnavailable):
        await anonymous.generate(GenerateRequest(prompt="x"))
    fakes.quotas.unavailable = False
    fakes.generator.hold()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(
            PublicImages(services, client="198.51.100.1").generate, GenerateRequest(prompt="y")
        )
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(GenerationCapacityExceeded):  # over capacity
            await anonymous.generate(GenerateRequest(prompt="x"))
        fakes.generator.release()
    assert counted(fakes, anonymous.owner) == 0
    await anonymous.generate(GenerateRequest(prompt="x"))  # its one generation is still there
    assert counted(fakes, anonymous.owner) == 1
