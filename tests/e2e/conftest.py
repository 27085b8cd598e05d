"""``pixyproxy serve`` as a real process (gunicorn, two workers) on MariaDB, generating
through the OpenAI mock, with tokens signed by ``tests.support.tokens.SECRET``; each test
once per image store (files, and a bucket on the tests' own S3-compatible server)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.servers import ServerProcess


@pytest.fixture
def server(
    mysql_server: Callable[..., ServerProcess], store_settings: dict[str, object]
) -> ServerProcess:
    return mysql_server(**store_settings)
