"""The change log contract, on SQLite, MariaDB and the fake: every write to an image logs
its change in the write's own transaction (a refused or failed write logs nothing), and a
reader finds changes by id, skipped ids included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from pixyproxy.core.errors import NotTheAuthor
from pixyproxy.core.models import ImageRecord
from pixyproxy.data.changes import ChangeLog, SqlChangeLog, record_changes
from pixyproxy.data.database import Database
from pixyproxy.data.images import ImageRepository, SqlImageRepository
from tests.support.fakes import FakeImageRepository
from tests.support.records import T0, make_record


@pytest.fixture
def parts(sql_database: Database | None) -> tuple[ImageRepository, ChangeLog]:
    if sql_database is None:
        fake = FakeImageRepository()
        return fake, fake.changes
    return SqlImageRepository(sql_database), SqlChangeLog(sql_database)


def kinds(log: ChangeLog, after: int = 0) -> list[tuple[str, str]]:
    return [(change.guid, change.kind) for change in log.read(after, [], 1000)]


def refuse(_: ImageRecord) -> None:
    raise NotTheAuthor()


def test_every_write_logs_its_change_in_order(parts: tuple[ImageRepository, ChangeLog]) -> None:
    repo, log = parts
    assert log.latest() == 0 and log.read(0, [], 10) == []
    first, second = repo.insert(make_record("one")), repo.insert(make_record("two", at=T0))
    repo.update(first.guid, lambda image: image.model_copy(update={"tags": ["new"]}))
    repo.update(first.guid, lambda image: image)  # changes nothing: logs nothing
    repo.delete(second.guid)
    old = repo.insert(make_record("old", at=T0 - timedelta(days=40)))
    assert repo.prune(T0 - timedelta(days=30), 10) == [old.guid]
    assert kinds(log) == [
        (str(first.guid), "insert"),
        (str(second.guid), "insert"),
        (str(first.guid), "update"),
        (str(second.guid), "delete"),
        (str(old.guid), "insert"),
        (str(old.guid), "delete"),
    ]
    ids = [change.id for change in log.read(0, [], 1000)]
    assert ids == sorted(ids) and log.latest() == ids[-1]


def test_a_refused_write_logs_nothing(parts: tuple[ImageRepository, ChangeLog]) -> None:
    repo, log = parts
    image = repo.insert(make_record())
    before = log.latest()

    def refuse_edit(current: ImageRecord) -> ImageRecord:
        raise NotTheAuthor()

    with pytest.raises(NotTheAuthor):
        repo.update(image.guid, refuse_edit)
    with pytest.raises(NotTheAuthor):
        repo.delete(image.guid, refuse)
    assert repo.update(uuid4(), lambda image: image) is None and not repo.delete(uuid4())
    assert log.latest() == before
    assert repo.get(image.guid, viewer=None) == image  # untouched


def test_a_reader_asks_for_what_it_skipped_and_pages_by_limit(
    parts: tuple[ImageRepository, ChangeLog],
) -> None:
    repo, log = parts
    made = [repo.insert(make_record(f"p{i}")) for i in range(5)]
    ids = [change.id for change in log.read(0, [], 1000)]
    assert [c.guid for c in log.read(ids[1], [], 2)] == [str(made[2].guid), str(made[3].guid)]
    # ids[0] was skipped before (as if it had committed late): asked for with the new ones
    again = log.read(ids[3], [ids[0]], 10)
    assert [c.id for c in again] == [ids[0], ids[4]]


def test_old_changes_are_purged(parts: tuple[ImageRepository, ChangeLog]) -> None:
    repo, log = parts
    repo.insert(make_record())
    assert log.purge(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert log.purge(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert log.read(0, [], 10) == []


@pytest.mark.parametrize(
    "implementation", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)]
)
def test_a_change_rolled_back_with_its_write_is_not_logged(sql_database: Database) -> None:
    log = SqlChangeLog(sql_database)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), sql_database.writing() as cursor:  # noqa: PT012 - the write is the block
        record_changes(cursor, [UUID(int=1)], "update", datetime.now(UTC))
        raise Boom
    assert log.read(0, [], 10) == []
