"""The app served over real HTTP (uvicorn on a loopback port) for web-layer tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest

from pixyproxy.core.settings import Settings
from pixyproxy.web.app import create_app
from tests.support.servers import serve_in_thread

ServeApi = Callable[..., httpx.Client]


@pytest.fixture
def serve_api(make_settings: Callable[..., Settings]) -> Iterator[ServeApi]:
    """Start the app with settings overrides; returns an HTTP client bound to it."""
    with ExitStack() as stack:

        def serve(**overrides: object) -> httpx.Client:
            base_url = stack.enter_context(serve_in_thread(create_app(make_settings(**overrides))))
            return stack.enter_context(httpx.Client(base_url=base_url, timeout=30))

        yield serve


@pytest.fixture
def api(serve_api: ServeApi, database_url: str) -> httpx.Client:
    """The app on the current backend, anonymous generation on."""
    return serve_api(database_url=database_url, anonymous_generation=True)
