"""A MySQL connection lost while COMMIT is on the wire: the outcome is unknown to the client,
so the service asks the database before it decides what to do with the stored file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pixyproxy.core.errors import DatabaseUnavailable
from pixyproxy.core.models import GenerateRequest
from pixyproxy.core.settings import Settings
from pixyproxy.data.database import Database
from pixyproxy.data.generators import PlaceholderGenerator
from pixyproxy.data.init import open_database
from pixyproxy.service.images import GenerationPolicy, ImageDeps
from pixyproxy.service.public import PublicImageService
from tests.service.test_images import sql_deps
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

pytestmark = [pytest.mark.anyio, pytest.mark.mysql]


@pytest.fixture
def proxy(mysql_database: Database, mysql_url: str) -> Iterator[TcpProxy]:
    target = urlsplit(mysql_url)
    with tcp_proxy(target.hostname or "127.0.0.1", target.port or 3306) as running:
        yield running


@pytest.fixture
async def deps(
    proxy: TcpProxy, mysql_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> AsyncIterator[ImageDeps]:
    url = urlsplit(mysql_url)._replace(
        netloc=f"{urlsplit(mysql_url).netloc.rsplit(':', 1)[0]}:{proxy.port}"
    )
    database = open_database(make_settings(database_url=url.geturl(), db_connect_timeout_s=2))
    yield sql_deps(
        database,
        tmp_path / "images",
        PlaceholderGenerator(),
        GenerationPolicy(anonymous_generation=True),
    )
    database.close()


def files(deps: ImageDeps) -> list[Path]:
    return [f.path for f in deps.store.scan()]


async def test_commit_lost_before_the_server_saw_it_leaves_nothing(
    deps: ImageDeps, proxy: TcpProxy
) -> None:
    proxy.cut_when(b"COMMIT", after_forwarding=False)
    with pytest.raises(DatabaseUnavailable):
        await PublicImageService(deps).generate(GenerateRequest(prompt="a lighthouse"))
    assert proxy.cuts == 1
    assert list(deps.repository.iter_files()) == []
    assert files(deps) == []


async def test_commit_that_landed_but_lost_its_answer_is_a_success(
    deps: ImageDeps, proxy: TcpProxy
) -> None:
    proxy.cut_when(b"COMMIT", after_forwarding=True)
    detail = await PublicImageService(deps).generate(GenerateRequest(prompt="a lighthouse"))
    assert proxy.cuts == 1
    assert [guid for guid, _ in deps.repository.iter_files()] == [detail.guid]
    assert files(deps) == [deps.store.path_for(detail.guid)]
    assert await PublicImageService(deps).get(detail.guid) == detail
