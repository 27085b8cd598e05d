"""A MySQL connection lost while COMMIT is on the wire: the outcome is unknown to the client,
so the service asks the database before it decides what to do with the stored file (or
object: each test runs on both stores)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pixyproxy.core.errors import DatabaseUnavailable
from pixyproxy.core.models import GenerateRequest
from pixyproxy.core.settings import Settings
from pixyproxy.data.database import Database
from pixyproxy.data.generators import PlaceholderGenerator
from pixyproxy.data.images import SqlImageRepository
from pixyproxy.data.init import open_database
from pixyproxy.data.store import ImageStore
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
    images: PublicImages
    repository: SqlImageRepository
    store: ImageStore

    def files(self) -> list[str]:
        return [item.location for item in self.store.scan()]


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
    yield Parts(PublicImages(services), repository, store)
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
