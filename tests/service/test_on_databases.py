"""The use cases on real parts: SQLite and MariaDB, files on disk, the OpenAI SDK against
the mock. What the fakes cannot show: a failed transaction leaves no row and the file goes
again, upstream failures through the SDK leave nothing, a database that is away is a 503."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from uuid import uuid4

import openai
import pytest

from pixyproxy.core.errors import DatabaseUnavailable, PromptRejected, UpstreamFailed
from pixyproxy.core.models import GenerateRequest, ImageListQuery
from pixyproxy.core.settings import Settings
from pixyproxy.data.database import Database
from pixyproxy.data.generators import ImageGenerator, OpenAIGenerator, PlaceholderGenerator
from pixyproxy.data.init import open_database
from pixyproxy.data.store import ORIGINAL
from pixyproxy.service.public import PublicImages
from tests.support.mock_server import MockServer
from tests.support.records import details
from tests.support.services import sql_services

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


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(anonymous_generation=True, detail_cache_bytes=0, list_cache_bytes=0)


@pytest.fixture
async def openai_generator(openai_mock: MockServer) -> AsyncIterator[ImageGenerator]:
    client = openai.AsyncOpenAI(api_key="k", base_url=openai_mock.base_url, max_retries=0)
    generator = OpenAIGenerator(client, model="gpt-image-1", max_bytes=8 << 20)
    yield generator
    await generator.aclose()


async def test_generate_then_read_and_list(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    services, repository, store = sql_services(
        settings, database, tmp_path / "images", PlaceholderGenerator()
    )
    service = PublicImages(services)
    detail = await service.generate(GenerateRequest(prompt="a red fox", tags=["fox"]))
    assert store.open(detail.guid, ORIGINAL).size_bytes == detail.size_bytes
    assert await service.get(detail.guid) == detail
    assert details(await service.list(ImageListQuery(tag="fox"))) == [detail]
    assert [guid for guid, _ in repository.iter_files()] == [detail.guid]


async def test_failure_between_file_and_row_leaves_neither(
    settings: Settings, database: Database, tmp_path: Path, store_settings: dict[str, object]
) -> None:
    """The file, or the object in its bucket, goes with the failed transaction."""
    settings = settings.model_copy(update=store_settings)
    services, repository, store = sql_services(
        settings, database, tmp_path / "images", PlaceholderGenerator()
    )
    with database.writing() as cursor:
        cursor.execute(FAILING_TAG_TRIGGER[database.dialect])
    try:
        with pytest.raises(Exception, match="injected failure"):
            await PublicImages(services).generate(GenerateRequest(prompt="x", tags=["t"]))
    finally:
        with database.writing() as cursor:
            cursor.execute("DROP TRIGGER fail_tags")
    assert list(store.scan()) == []
    assert list(repository.iter_files()) == []


@pytest.mark.parametrize(
    ("behavior", "error"),
    [
        ("content_policy", PromptRejected),
        ("server_error", UpstreamFailed),
        ("garbage", UpstreamFailed),
    ],
)
async def test_upstream_failure_leaves_nothing(
    settings: Settings,
    database: Database,
    tmp_path: Path,
    openai_mock: MockServer,
    openai_generator: ImageGenerator,
    behavior: str,
    error: type[Exception],
) -> None:
    services, repository, store = sql_services(
        settings, database, tmp_path / "images", openai_generator
    )
    openai_mock.set_behavior(behavior)
    with pytest.raises(error):
        await PublicImages(services).generate(GenerateRequest(prompt="a fox"))
    assert list(store.scan()) == []
    assert list(repository.iter_files()) == []


async def test_database_down_is_unavailable(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(
        database_url="mysql://root@127.0.0.1:9/none",
        db_connect_timeout_s=1,
        anonymous_generation=True,
    )
    database = open_database(settings)
    services, _, store = sql_services(
        settings, database, tmp_path / "images", PlaceholderGenerator()
    )
    try:
        with pytest.raises(DatabaseUnavailable):
            await PublicImages(services).generate(GenerateRequest(prompt="x"))
        with pytest.raises(DatabaseUnavailable):
            await PublicImages(services).get(uuid4())
    finally:
        database.close()
    assert list(store.scan()) == []
