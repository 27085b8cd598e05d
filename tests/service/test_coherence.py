"""Caches coherent across workers, on fakes: two workers (each its own caches) share one
database and change log, as the workers of two replicas do. The worker that makes a change
never serves the old state again; the other stops at its next poll of the log; a worker
whose log is not read within the bound serves nothing from its caches; a read that raced a
change keeps nothing. (Two real servers on MariaDB: tests/e2e/test_coherence_e2e.py.)"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import anyio
import pytest
from anyio import to_thread

from pixyproxy.core.errors import ImageNotFound
from pixyproxy.core.models import Caller, GenerateRequest, ImageListQuery, ImagePatch
from pixyproxy.core.settings import Settings
from pixyproxy.data.changes import Change
from pixyproxy.service.coherence import START_WINDOW, CacheCoherence
from pixyproxy.service.images import ImageServices
from pixyproxy.service.private import PrivateImages
from pixyproxy.service.public import PublicImages
from tests.support.records import details
from tests.support.services import Fakes

pytestmark = pytest.mark.anyio
EVERYTHING = ImageListQuery()
ALICE = Caller("alice")


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def workers(
    make_settings: Callable[..., Settings], fakes: Fakes
) -> tuple[ImageServices, ImageServices]:
    settings = make_settings(
        anonymous_generation=True, detail_cache_bytes=1 << 20, list_cache_bytes=1 << 20
    )
    return fakes.services(settings), fakes.services(settings)


def guids(page: object) -> list[UUID]:
    return [detail.guid for detail in details(page)]  # type: ignore[arg-type]


async def test_a_new_image_shows_in_the_other_workers_lists_after_its_next_poll(
    workers: tuple[ImageServices, ImageServices],
) -> None:
    a, b = workers
    first = await PublicImages(a).generate(GenerateRequest(prompt="one"))
    reader = PublicImages(b)
    assert guids(await reader.list(EVERYTHING)) == [first.guid]
    second = await PublicImages(a).generate(GenerateRequest(prompt="two"))
    assert guids(await reader.list(EVERYTHING)) == [first.guid]  # b has not polled yet
    b.coherence.catch_up()
    assert guids(await reader.list(EVERYTHING)) == [second.guid, first.guid]
    # The worker that generated drops its own pages at once.
    assert guids(await PublicImages(a).list(EVERYTHING)) == [second.guid, first.guid]


async def test_an_edit_is_never_served_old_by_its_worker_and_by_the_other_after_a_poll(
    workers: tuple[ImageServices, ImageServices],
) -> None:
    a, b = workers
    made = await PrivateImages(a, ALICE).generate(GenerateRequest(prompt="p", tags=["old"]))
    for worker in (a, b):  # both cache it (public) and a page showing it
        assert (await PublicImages(worker).get(made.guid)).tags == ["old"]
        assert guids(await PublicImages(worker).list(ImageListQuery(tag="old"))) == [made.guid]
    await PrivateImages(a, ALICE).edit(made.guid, ImagePatch(tags=["new"]))
    assert (await PublicImages(a).get(made.guid)).tags == ["new"]
    assert guids(await PublicImages(a).list(ImageListQuery(tag="old"))) == []
    assert (await PublicImages(b).get(made.guid)).tags == ["old"]  # within the bound
    b.coherence.catch_up()
    assert (await PublicImages(b).get(made.guid)).tags == ["new"]
    assert guids(await PublicImages(b).list(ImageListQuery(tag="old"))) == []

    await PrivateImages(a, ALICE).edit(made.guid, ImagePatch(private=True))
    b.coherence.catch_up()
    for worker in (a, b):
        with pytest.raises(ImageNotFound):
            await PublicImages(worker).get(made.guid)
        assert guids(await PublicImages(worker).list(EVERYTHING)) == []


async def test_a_delete_is_a_404_everywhere_after_the_poll(
    workers: tuple[ImageServices, ImageServices],
) -> None:
    a, b = workers
    made = await PrivateImages(a, ALICE).generate(GenerateRequest(prompt="gone soon"))
    await PublicImages(b).get(made.guid)
    await PublicImages(b).content(made.guid)
    await PrivateImages(a, ALICE).delete(made.guid)
    with pytest.raises(ImageNotFound):
        await PublicImages(a).get(made.guid)
    b.coherence.catch_up()
    for read in (PublicImages(b).get, PublicImages(b).content):
        with pytest.raises(ImageNotFound):
            await read(made.guid)


async def test_a_worker_whose_log_is_not_read_in_time_serves_no_cached_state(
    workers: tuple[ImageServices, ImageServices], fakes: Fakes
) -> None:
    a, b = workers
    made = await PrivateImages(a, ALICE).generate(GenerateRequest(prompt="p"))
    await PublicImages(b).get(made.guid)
    assert len(b.reading.cache) == 1
    fakes.repository.changes.unavailable = True  # polls fail from now on
    await b.coherence.poll_once()
    await PrivateImages(a, ALICE).edit(made.guid, ImagePatch(tags=["new"]))
    fakes.clock.now += b.coherence.bound_s + 0.01
    assert not b.coherence.fresh()
    assert (await PublicImages(b).get(made.guid)).tags == ["new"]  # from the database
    assert guids(await PublicImages(b).list(EVERYTHING)) == [made.guid]
    assert len(b.reading.pages) == 0  # nothing is kept while stale either
    fakes.repository.changes.unavailable = False
    await b.coherence.poll_once()
    assert b.coherence.fresh() and len(b.reading.cache) == 0  # emptied on resuming


async def test_a_read_that_raced_a_change_keeps_nothing(
    workers: tuple[ImageServices, ImageServices], fakes: Fakes
) -> None:
    a, _ = workers
    made = await PrivateImages(a, ALICE).generate(GenerateRequest(prompt="p"))
    reading = a.reading
    original_get = fakes.repository.get

    def get_then_change(guid: UUID, *, viewer: str | None):  # type: ignore[no-untyped-def]
        record = original_get(guid, viewer=viewer)  # the old state, read...
        a.coherence.changed([guid], "update")  # ...while a change is applied
        return record

    fakes.repository.get = get_then_change  # type: ignore[method-assign]
    await PublicImages(a).get(made.guid)
    assert len(reading.cache) == 0
    fakes.repository.get = original_get  # type: ignore[method-assign]
    await PublicImages(a).get(made.guid)
    assert len(reading.cache) == 1


def test_skipped_ids_are_asked_for_again_until_they_come_or_time_out(
    make_settings: Callable[..., Settings], fakes: Fakes
) -> None:
    """A change whose id is below one already read (it committed later) is still applied;
    an id that never comes (its transaction rolled back) is given up after the timeout."""
    services = fakes.services(make_settings(detail_cache_bytes=1 << 20))
    coherence: CacheCoherence = services.coherence
    log = fakes.repository.changes
    late, early = UUID(int=1), UUID(int=2)
    log.record([early], "insert")
    log.record([late], "insert")
    early_change, late_change = (change for change, _ in log.changes[-2:])
    committed_late = log.changes.pop(-2)  # id n+1 is read first; id n commits after
    coherence.catch_up()
    assert coherence._missing.keys() == {early_change.id}
    generation = coherence.generation
    log.changes.insert(0, committed_late)
    coherence.catch_up()
    assert coherence._missing == {} and coherence.generation == generation + 1
    # An id that never comes: asked for until the longest write transaction has passed.
    log.changes.append((Change(late_change.id + 2, str(late), "update"), committed_late[1]))
    coherence.catch_up()
    assert coherence._missing.keys() == {late_change.id + 1}
    fakes.clock.now += coherence.gap_timeout_s + 1
    coherence.catch_up()
    assert coherence._missing == {}


def test_a_wide_jump_in_ids_is_not_waited_for_id_by_id(
    make_settings: Callable[..., Settings], fakes: Fakes
) -> None:
    """An empty log whose ids restart far above (the table was purged; rollbacks): only the
    ids just below a new one may still be committing, and only those are asked for again."""
    services = fakes.services(make_settings(detail_cache_bytes=1 << 20))
    log = fakes.repository.changes
    log.record([UUID(int=1)], "insert")
    change, at = log.changes.pop()
    log.changes.append((Change(5_000_000, change.guid, "insert"), at))
    services.coherence.catch_up()
    assert len(services.coherence._missing) == START_WINDOW
    assert min(services.coherence._missing) == 5_000_000 - START_WINDOW


async def test_a_poll_does_not_queue_behind_a_busy_request_threadpool(
    workers: tuple[ImageServices, ImageServices],
) -> None:
    """Under load every slot of the requests' threadpool is taken; a poll waiting for one
    would pass the bound and turn every cached read into a database read."""
    a, _ = workers
    requests = to_thread.current_default_thread_limiter()
    borrowers = [object() for _ in range(int(requests.total_tokens))]
    for borrower in borrowers:
        await requests.acquire_on_behalf_of(borrower)
    try:
        with anyio.fail_after(5):
            await a.coherence.poll_once()
        assert a.coherence.fresh()
    finally:
        for borrower in borrowers:
            requests.release_on_behalf_of(borrower)
