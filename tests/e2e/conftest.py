"""``pixyproxy serve`` as a real process (gunicorn, two workers) on MariaDB, generating
through the OpenAI mock, with tokens signed by ``SECRET``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mock_server import MockServer
from tests.support.servers import ServerProcess, mock_backed_env, run_pixyproxy

SECRET = "e" * 40


@pytest.fixture
def server(
    mysql_database: object, mysql_url: str, openai_mock: MockServer, tmp_path: Path
) -> Iterator[ServerProcess]:
    env = mock_backed_env(
        database_url=mysql_url,
        storage_dir=tmp_path / "images",
        openai_base_url=openai_mock.base_url,
        jwt_secret=SECRET,
        log_format="json",
    )
    with run_pixyproxy(env, workers=2) as process:
        yield process
