"""A MySQL connection lost while COMMIT is on the wire: the outcome is unknown to the client,
so the service asks the database before it decides what to do with the stored file (or
object: each test runs on both stores), and asks again until the database can say."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

import pytest

from pixyproxy.core.errors import DatabaseUnavailable
from pixyproxy.core.models import Caller, GenerateRequest, ThumbnailWidth
from pixyproxy.core.settings import Settings
from pixyproxy.data.database import Database
from pixyproxy.data.generators import PlaceholderGenerator
from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.init import open_database
from pixyproxy.data.store import ImageStore
from pixyproxy.service.images import ImageServices
from pixyproxy.service.public import PublicImages
from tests.support.services import sql_services
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

pytestmark = [pytest.mark.anyio, pytest.mark.mysql]


@pytest.fixture
def proxy(mysql_database: Database, mysql_url: str) -> Iterator[TcpProxy]:
    target = urlsplit(mysql_url)
    with tcp_proxy(target.hostname or "127.0.0.1", target.port or 3306) as running:
        yield running


@dataclass
class Parts:
    services: ImageServices
    repository: SqlImageRepository
    store: ImageStore

    @property
    def images(self) -> PublicImages:
        return PublicImages(self.services)

    def files(self) -> list[str]:
        return [item.location for item in self.store.scan()]

    def rows(self) -> list[UUID]:
        return [guid for guid, _ in self.repository.iter_files()]


@pytest.fixture
def parts(
    proxy: TcpProxy,
    mysql_url: str,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    store_settings: dict[str, object],
) -> Iterator[Parts]:
    url = urlsplit(mysql_url)._replace(
        netloc=f"{urlsplit(mysql_url).netloc.rsplit(':', 1)[0]}:{proxy.port}"
    )
    settings = make_settings(
        database_url=url.geturl(),
        db_connect_timeout_s=2,
        anonymous_generation=True,
        **store_settings,
    )
    database = open_database(settings)
    services, repository, store = sql_services(
        settings, database, tmp_path / "images", PlaceholderGenerator()
    )
    yield Parts(services, repository, store)
    database.close()


async def test_commit_lost_before_the_server_saw_it_leaves_nothing(
    parts: Parts, proxy: TcpProxy
) -> None:
    proxy.cut_when(b"COMMIT", after_forwarding=False)
    with pytest.raises(DatabaseUnavailable):
        await parts.images.generate(GenerateRequest(prompt="a lighthouse"))
    assert proxy.cuts == 1
    assert list(parts.repository.iter_files()) == []
    assert parts.files() == []


async def test_commit_that_landed_but_lost_its_answer_is_a_success(
    parts: Parts, proxy: TcpProxy
) -> None:
    proxy.cut_when(b"COMMIT", after_forwarding=True)
    detail = await parts.images.generate(GenerateRequest(prompt="a lighthouse"))
    assert proxy.cuts == 1
    assert [guid for guid, _ in parts.repository.iter_files()] == [detail.guid]
    assert [item.guid for item in parts.store.scan()] == [detail.guid]
    assert await parts.images.get(detail.guid) == detail


async def settled_once_the_database_answers(parts: Parts, proxy: TcpProxy) -> None:
    """Nothing is decided while the database is away; everything once it is back."""
    unsettled = parts.services.unsettled
    pending = unsettled.pending()
    assert len(pending) == 1
    await unsettled.settle_pending()
    assert unsettled.pending() == pending
    proxy.open()
    await unsettled.settle_pending()
    assert unsettled.pending() == []


@pytest.mark.parametrize("landed", [False, True], ids=["commit-lost", "answer-lost"])
async def test_generation_the_database_cannot_vouch_for_yet_keeps_its_file_until_it_can(
    parts: Parts, proxy: TcpProxy, landed: bool
) -> None:
    proxy.cut_when(b"COMMIT", after_forwarding=landed, then_close=True)
    with pytest.raises(DatabaseUnavailable):
        await parts.images.generate(GenerateRequest(prompt="a lighthouse"))
    assert len(parts.files()) == 1  # never a row without its file
    [guid] = parts.services.unsettled.pending()
    await settled_once_the_database_answers(parts, proxy)
    assert parts.rows() == ([guid] if landed else [])
    assert [item.guid for item in parts.store.scan()] == parts.rows()


@pytest.mark.parametrize("landed", [False, True], ids=["commit-lost", "answer-lost"])
async def test_deletion_the_database_cannot_vouch_for_removes_files_once_it_can(
    parts: Parts, proxy: TcpProxy, landed: bool
) -> None:
    detail = await parts.images.generate(GenerateRequest(prompt="a lighthouse"))
    await parts.images.thumbnail(detail.guid, ThumbnailWidth.W256)
    assert len(parts.files()) == 2  # the original and a thumbnail
    proxy.cut_when(b"COMMIT", after_forwarding=landed, then_close=True)
    with pytest.raises(DatabaseUnavailable):
        await parts.services.editing.delete(
            detail.guid, caller=Caller("moderator", admin=True), if_match=None
        )
    assert len(parts.files()) == 2
    await settled_once_the_database_answers(parts, proxy)
    assert parts.rows() == ([] if landed else [detail.guid])
    assert len(parts.files()) == (0 if landed else 2)
