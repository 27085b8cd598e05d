"""Fixtures shared by the whole suite: real databases, the OpenAI mock, settings.

MySQL tests use ``PIXY_TEST_MYSQL_URL`` (default ``mysql://root@127.0.0.1:3306/pixyproxy_test``)
and create a database of their own per test session. Where no server answers they are
skipped with one reason; ``PIXY_REQUIRE_MYSQL=1`` (set by CI) turns that into a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pymysql
import pytest

from pixyproxy.core.settings import Settings, load_settings
from pixyproxy.data.database import Database
from pixyproxy.data.init import migrate, open_database
from pixyproxy.web.app import create_app
from tests.support.mock_server import MockServer, run_mock_server
from tests.support.mysql import (
    admin_connection,
    describe_error,
    mysql_base_url,
    mysql_required,
    throwaway_database,
)
from tests.support.s3 import S3Server, aws_credentials, run_s3_server
from tests.support.servers import (
    ServeApi,
    ServerProcess,
    run_pixyproxy,
    serve_in_thread,
    server_env,
)
from tests.support.tokens import SECRET


def pytest_report_header(config: pytest.Config) -> str:
    url = mysql_base_url()
    safe = urlsplit(url)._replace(netloc=urlsplit(url).hostname or "").geturl()
    try:
        admin_connection(url).close()
    except pymysql.err.MySQLError as exc:
        verdict = "REQUIRED but unreachable" if mysql_required() else "unreachable: skipped"
        return f"mysql: {verdict} ({safe}: {describe_error(exc)})"
    return f"mysql: {safe} (tests run)"


@pytest.fixture(scope="session")
def mysql_admin() -> Iterator[pymysql.Connection[Any]]:
    """A connection to the test server; the MySQL tests skip (or fail) without one."""
    try:
        admin = admin_connection(mysql_base_url())
    except pymysql.err.MySQLError as exc:
        reason = f"MySQL not reachable at PIXY_TEST_MYSQL_URL ({describe_error(exc)})"
        if mysql_required():
            pytest.fail(f"{reason}; PIXY_REQUIRE_MYSQL is set")
        pytest.skip(reason)
    try:
        yield admin
    finally:
        admin.close()


@pytest.fixture(scope="session")
def mysql_url(mysql_admin: pymysql.Connection[Any]) -> Iterator[str]:
    """A fresh database on the test server for this session (and xdist worker)."""
    with throwaway_database(mysql_admin, mysql_base_url()) as url:
        yield url


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test: embedded SQLite and a temp store unless overridden."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'pixyproxy.db'}",
            "storage_dir": tmp_path / "images",
            "image_provider": "placeholder",
            "log_format": "json",
        }
        values.update(overrides)
        return load_settings(secrets_dirs=(), **values)

    return make


def _clean(database: Database) -> None:
    with database.writing() as cursor:
        cursor.execute("DELETE FROM image_tags")
        cursor.execute("DELETE FROM images")
        cursor.execute("DELETE FROM idempotency_keys")
        cursor.execute("DELETE FROM generation_counts")
        cursor.execute("DELETE FROM image_changes")


@pytest.fixture
def sqlite_database(make_settings: Callable[..., Settings]) -> Iterator[Database]:
    database = open_database(make_settings())
    migrate(database)
    yield database
    database.close()


@pytest.fixture
def mysql_database(mysql_url: str, make_settings: Callable[..., Settings]) -> Iterator[Database]:
    database = open_database(make_settings(database_url=mysql_url))
    migrate(database)
    _clean(database)
    yield database
    database.close()


@pytest.fixture
def empty_mysql_database(
    mysql_admin: pymysql.Connection[Any], make_settings: Callable[..., Settings]
) -> Iterator[Database]:
    """A database of its own on the test server, never migrated."""
    with throwaway_database(mysql_admin, mysql_base_url()) as url:
        database = open_database(make_settings(database_url=url))
        yield database
        database.close()


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def backend(request: pytest.FixtureRequest) -> str:
    """Runs a test once per database backend."""
    return str(request.param)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest) -> Database:
    fixture: Database = request.getfixturevalue(f"{backend}_database")
    return fixture


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of the current backend, as a URL for settings."""
    request.getfixturevalue(f"{backend}_database")
    if backend == "mysql":
        return str(request.getfixturevalue("mysql_url"))
    return f"sqlite:///{tmp_path / 'pixyproxy.db'}"


@pytest.fixture
def serve_api(make_settings: Callable[..., Settings]) -> Iterator[ServeApi]:
    """Starts the app (uvicorn in a thread, on a loopback port) with settings overrides;
    returns an HTTP client bound to it."""
    with ExitStack() as stack:

        def serve(**overrides: object) -> httpx.Client:
            base_url = stack.enter_context(serve_in_thread(create_app(make_settings(**overrides))))
            return stack.enter_context(httpx.Client(base_url=base_url, timeout=30))

        yield serve


@pytest.fixture
def mysql_server(
    mysql_database: Database, mysql_url: str, openai_mock: MockServer, tmp_path: Path
) -> Iterator[Callable[..., ServerProcess]]:
    """Starts ``pixyproxy serve`` (two workers) on the MariaDB test database, generating
    through the OpenAI mock, tokens signed with ``tests.support.tokens.SECRET``; settings
    overrides by field name."""
    with ExitStack() as stack:

        def start(**settings: object) -> ServerProcess:
            env = server_env(
                database_url=mysql_url,
                storage_dir=tmp_path / "images",
                mock=openai_mock,
                jwt_secret=SECRET,
                **settings,
            )
            return stack.enter_context(run_pixyproxy(env, workers=2))

        yield start


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3-compatible server of this session's (moto, a process on loopback), and the
    standard AWS key variables in this process for the clients' credential chains."""
    with aws_credentials(), run_s3_server() as server:
        yield server


@pytest.fixture(params=["filesystem", "s3"])
def store_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    """Runs a test once per image store: the settings (by field name) that pick it, a
    fresh bucket of its own for S3 (the filesystem's is the test's PIXY_STORAGE_DIR)."""
    if request.param == "filesystem":
        return {}
    s3: S3Server = request.getfixturevalue("s3_server")
    return s3.settings(s3.new_bucket())


@pytest.fixture(scope="session")
def mock_server() -> Iterator[MockServer]:
    with run_mock_server() as server:
        yield server


@pytest.fixture
def openai_mock(mock_server: MockServer) -> Iterator[MockServer]:
    """The session's mock, reset to answer ``ok`` with no delay, and reset again after the
    test: a failure a test asked for never reaches the next test (which may use the session's
    mock through a server without asking for this fixture)."""
    mock_server.reset()
    yield mock_server
    mock_server.reset()
