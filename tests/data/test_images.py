"""The image repository contract, run unchanged against SQLite, MariaDB/MySQL and the fake."""

from __future__ import annotations

import threading
import time
from datetime import UTC, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings

from pixyproxy.core.models import ImageFilter, ImagePage, ImageRecord
from pixyproxy.data.database import Database
from pixyproxy.data.images import ImageRepository, SqlImageRepository
from tests.support.fakes import FakeImageRepository, sql_or_fake
from tests.support.records import T0, any_record, make_record


@pytest.fixture
def repo(sql_database: Database | None) -> ImageRepository:
    return sql_or_fake(sql_database, SqlImageRepository, FakeImageRepository)


def all_pages(
    repo: ImageRepository, *, viewer: str | None = None, limit: int = 2, **filters: str
) -> list[ImageRecord]:
    seen: list[ImageRecord] = []
    after: UUID | None = None
    for _ in range(100):
        page = repo.list(viewer=viewer, filter=ImageFilter(**filters), limit=limit, after=after)
        seen.extend(records(repo, page, viewer=viewer))
        if page.next_after is None:
            return seen
        after = page.next_after
    raise AssertionError("paging did not end")


def records(repo: ImageRepository, page: ImagePage, *, viewer: str | None) -> list[ImageRecord]:
    """The page's images in its order, as the service puts them together."""
    found = {str(record.guid): record for record in repo.get_many(page.guids, viewer=viewer)}
    assert set(found) == set(page.guids), "every listed image can be read by its viewer"
    return [found[guid] for guid in page.guids]


def test_insert_then_get_round_trips_every_field(repo: ImageRepository) -> None:
    record = make_record("ünïcödé prompt — 🦊", tags=["fox", "art"], author="alice")
    stored = repo.insert(record)
    assert stored.id is not None and stored.id > 0
    got = repo.get(record.guid, viewer=None)
    assert got == stored
    assert got.created_at == T0 and got.created_at.tzinfo == UTC
    assert got.tags == ["fox", "art"]  # order kept


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(record=any_record())
def test_any_record_round_trips_unchanged(repo: ImageRepository, record: ImageRecord) -> None:
    stored = repo.insert(record)
    assert stored == record.model_copy(update={"id": stored.id})
    assert repo.get(record.guid, viewer=record.author) == stored
    assert repo.get_many([str(record.guid)], viewer=record.author) == [stored]


def test_get_unknown_guid_is_none(repo: ImageRepository) -> None:
    assert repo.get(uuid4(), viewer=None) is None
    assert not repo.exists(uuid4())


def test_private_image_is_visible_only_to_its_author(repo: ImageRepository) -> None:
    secret = repo.insert(make_record(author="alice", private=True, tags=["x"]))
    assert repo.get(secret.guid, viewer="alice") == secret
    assert repo.get(secret.guid, viewer="bob") is None
    assert repo.get(secret.guid, viewer=None) is None
    assert repo.exists(secret.guid)
    for viewer in (None, "bob"):
        for filters in ({}, {"tag": "x"}, {"author": "alice"}, {"q": "lighthouse"}):
            assert all_pages(repo, viewer=viewer, **filters) == []
    assert [r.guid for r in all_pages(repo, viewer="alice", tag="x")] == [secret.guid]


def test_list_is_newest_first_and_pages_without_gaps(repo: ImageRepository) -> None:
    records = [
        repo.insert(make_record(f"prompt {i}", at=T0 + timedelta(seconds=i))) for i in range(7)
    ]
    listed = all_pages(repo, limit=3)
    assert [r.guid for r in listed] == [r.guid for r in reversed(records)]


def test_last_page_has_no_next(repo: ImageRepository) -> None:
    for i in range(3):
        repo.insert(make_record(f"p{i}"))
    page = repo.list(viewer=None, filter=ImageFilter(), limit=3, after=None)
    assert len(page.guids) == 3 and not page.more and page.next_after is None


def test_paging_while_inserting_neither_repeats_nor_skips(repo: ImageRepository) -> None:
    originals = [repo.insert(make_record(f"old {i}")) for i in range(6)]
    page = repo.list(viewer=None, filter=ImageFilter(), limit=2, after=None)
    seen = list(page.guids)
    while page.next_after is not None:
        repo.insert(make_record("inserted meanwhile"))
        page = repo.list(viewer=None, filter=ImageFilter(), limit=2, after=page.next_after)
        seen.extend(page.guids)
    assert seen == [str(r.guid) for r in reversed(originals)]


def test_filters_combine(repo: ImageRepository) -> None:
    a = repo.insert(make_record("red fox", tags=["fox", "red"], author="alice"))
    repo.insert(make_record("red car", tags=["car", "red"], author="bob"))
    c = repo.insert(make_record("grey fox", tags=["fox"], author="alice"))
    assert {r.guid for r in all_pages(repo, tag="fox")} == {a.guid, c.guid}
    assert [r.guid for r in all_pages(repo, tag="red", author="alice")] == [a.guid]
    assert [r.guid for r in all_pages(repo, tag="fox", q="red")] == [a.guid]
    assert [r.guid for r in all_pages(repo, tag="fox", q="RED")] == [a.guid]  # words, caseless
    assert all_pages(repo, tag="car", q="fox") == []
    assert all_pages(repo, tag="fox", author="bob") == []


def test_search_finds_words_by_their_beginning_and_nothing_in_q_is_an_operator(
    repo: ImageRepository,
) -> None:
    cotton = repo.insert(make_record("100% organic_cotton!"))
    wool = repo.insert(make_record("a wool scarf, not cotton-free"))
    both = {cotton.guid, wool.guid}
    assert {r.guid for r in all_pages(repo, q="cott")} == both
    assert {r.guid for r in all_pages(repo, q="100%")} == {cotton.guid}  # % separates
    assert {r.guid for r in all_pages(repo, q="org* -cotton")} == {cotton.guid}  # not NOT
    assert {r.guid for r in all_pages(repo, q='"wool scarf"')} == {wool.guid}
    assert {r.guid for r in all_pages(repo, q="scarf wool")} == {wool.guid}  # any order
    assert all_pages(repo, q="otton") == []  # the beginning of a word, not any substring
    assert all_pages(repo, q="cotton silk") == []  # every word


def test_cursor_of_unknown_or_invisible_image_is_rejected(repo: ImageRepository) -> None:
    """Such a cursor is told apart from the end of the list (the service refuses it)."""
    secret = repo.insert(make_record(author="alice", private=True))
    unknown = repo.list(viewer=None, filter=ImageFilter(), limit=5, after=uuid4())
    assert unknown.guids == [] and unknown.after_missing
    invisible = repo.list(viewer="bob", filter=ImageFilter(), limit=5, after=secret.guid)
    assert invisible.guids == [] and invisible.after_missing
    page = repo.list(viewer="alice", filter=ImageFilter(), limit=5, after=secret.guid)
    assert page.guids == [] and not page.more and not page.after_missing


def test_get_many_reads_only_what_the_viewer_may_see(repo: ImageRepository) -> None:
    public = repo.insert(make_record("public", tags=["a", "b"]))
    secret = repo.insert(make_record("secret", author="alice", private=True, tags=["c"]))
    wanted = [str(public.guid), str(secret.guid), str(uuid4())]
    assert repo.get_many(wanted, viewer=None) == [public]
    assert repo.get_many(wanted, viewer="bob") == [public]
    assert sorted(repo.get_many(wanted, viewer="alice"), key=lambda r: r.prompt) == [
        public,
        secret,
    ]
    assert repo.get_many([], viewer=None) == []


def test_duplicate_guid_is_refused_and_leaves_no_tags(repo: ImageRepository) -> None:
    first = repo.insert(make_record(tags=["one"]))
    clash = make_record(tags=["two"]).model_copy(update={"guid": first.guid})
    with pytest.raises(Exception, match=r"(?i)duplicate|unique"):
        repo.insert(clash)
    assert all_pages(repo, tag="two") == []
    assert repo.get(first.guid, viewer=None) == first


def test_delete_removes_row_and_tags(repo: ImageRepository) -> None:
    record = repo.insert(make_record(tags=["gone"]))
    assert repo.delete(record.guid)
    assert not repo.delete(record.guid)
    assert repo.get(record.guid, viewer=None) is None
    assert all_pages(repo, tag="gone") == []


def test_iter_files_lists_every_image(repo: ImageRepository) -> None:
    records = [repo.insert(make_record(private=i % 2 == 0, author="a")) for i in range(5)]
    assert dict(repo.iter_files()) == {r.guid: r.filename for r in records}


def test_concurrent_inserts_from_threads(repo: ImageRepository) -> None:
    errors: list[BaseException] = []

    def insert_many() -> None:
        try:
            for _ in range(10):
                repo.insert(make_record(tags=["busy"]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=insert_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(all_pages(repo, limit=100, tag="busy")) == 40


def test_update_applies_an_edit_to_the_current_state(repo: ImageRepository) -> None:
    image = repo.insert(make_record(tags=["a", "b"], author="alice"))
    seen: list[ImageRecord] = []

    def edit(current: ImageRecord) -> ImageRecord:
        seen.append(current)
        return current.model_copy(update={"tags": ["c", "a"], "private": True})

    changed = repo.update(image.guid, edit)
    assert seen == [image]
    assert changed is not None and changed.tags == ["c", "a"] and changed.private
    assert changed.updated_at > image.updated_at and changed.created_at == image.created_at
    assert repo.get(image.guid, viewer=None) is None  # private now
    assert repo.get(image.guid, viewer="alice") == changed
    assert all_pages(repo, viewer="alice", tag="b") == []
    assert [r.guid for r in all_pages(repo, viewer="alice", tag="c")] == [image.guid]
    # Only tags, private and updated_at are written, whatever else the edit returns.
    repo.update(image.guid, lambda current: current.model_copy(update={"prompt": "x"}))
    after = repo.get(image.guid, viewer="alice")
    assert after is not None and after.prompt == image.prompt
    # An edit that changes nothing writes nothing.
    assert repo.update(image.guid, lambda current: current) == after
    assert repo.update(uuid4(), lambda current: current) is None


def test_delete_checks_the_current_state_first(repo: ImageRepository) -> None:
    image = repo.insert(make_record(author="alice", private=True))
    checked: list[ImageRecord] = []

    def refuse(current: ImageRecord) -> None:
        checked.append(current)
        raise PermissionError("not yours")

    with pytest.raises(PermissionError):
        repo.delete(image.guid, refuse)
    assert checked == [image] and repo.exists(image.guid)
    assert repo.delete(image.guid, checked.append) and not repo.exists(image.guid)


def test_prune_removes_the_oldest_in_batches(repo: ImageRepository) -> None:
    old = [repo.insert(make_record(at=T0 - timedelta(days=40 - i))) for i in range(5)]
    new = repo.insert(make_record(at=T0, tags=["kept"]))
    cutoff = T0 - timedelta(days=30)
    assert repo.count_created_before(cutoff) == 5
    assert list(repo.prune(cutoff, 2)) == [old[0].guid, old[1].guid]
    assert list(repo.prune(cutoff, 10)) == [r.guid for r in old[2:]]
    assert list(repo.prune(cutoff, 10)) == [] and repo.count_created_before(cutoff) == 0
    assert [r.guid for r in all_pages(repo, limit=10)] == [new.guid]


def test_two_racing_updates_never_lose_one(repo: ImageRepository) -> None:
    """The second edit sees the first one's result, not the state both started from: the
    row is locked from the read that an edit checks to the commit (on MariaDB, FOR UPDATE;
    SQLite's writer holds the database). An If-Match checked on what an edit sees is then
    a 412 for the loser, never a lost update."""
    image = repo.insert(make_record(tags=["start"]))
    first_holds_the_row, second_started = threading.Event(), threading.Event()
    second_saw: list[list[str]] = []

    def first_edit(current: ImageRecord) -> ImageRecord:
        first_holds_the_row.set()
        second_started.wait(timeout=10)
        time.sleep(0.3)  # room for the second edit's read to reach the database
        return current.model_copy(update={"tags": ["first"]})

    def second_edit(current: ImageRecord) -> ImageRecord:
        second_saw.append(current.tags)
        return current.model_copy(update={"tags": [*current.tags, "second"]})

    def second() -> None:
        first_holds_the_row.wait(timeout=10)
        second_started.set()
        repo.update(image.guid, second_edit)

    thread = threading.Thread(target=second)
    thread.start()
    repo.update(image.guid, first_edit)
    thread.join(timeout=30)
    assert second_saw == [["first"]]
    final = repo.get(image.guid, viewer=None)
    assert final is not None and final.tags == ["first", "second"]
