"""The app on the current backend, over real HTTP, for web-layer tests."""

from __future__ import annotations

import httpx
import pytest

from tests.support.servers import ServeApi


@pytest.fixture
def api(serve_api: ServeApi, database_url: str) -> httpx.Client:
    """The app on the current backend, anonymous generation on."""
    return serve_api(database_url=database_url, anonymous_generation=True)
