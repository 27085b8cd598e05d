"""The gallery in a real browser: Debian's Chromium, driven by Playwright, against
``pixyproxy serve`` (gunicorn, two workers) on MariaDB, generating through the OpenAI mock.

One server per test session (and xdist worker) on a database of its own: tests make their
own images under names of their own (a tag, an author) and compare what the page shows
with what the API lists, so they hold whatever other tests added before them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import VIEWPORT, GalleryPage, OpenPage, axe_source, chromium, watch
from tests.support.gallery import Gallery, gallery_of_its_own
from tests.support.mock_server import MockServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def gallery(
    mysql_url: str, mock_server: MockServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gallery]:
    """Generating through the OpenAI mock: fast to fill, and it fails on request."""
    storage = tmp_path_factory.mktemp("gallery")
    with gallery_of_its_own(mysql_url, "gallery", storage, mock_server) as server:
        yield server


@pytest.fixture(scope="session")
def placeholder_gallery(
    mysql_url: str, mock_server: MockServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gallery]:
    """Generating local placeholder pictures, as ``make run`` does offline."""
    storage = tmp_path_factory.mktemp("placeholder")
    with gallery_of_its_own(
        mysql_url, "placeholder", storage, mock_server, image_provider="placeholder"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # One per module: Playwright's sync API keeps its event loop marked as running in this
    # thread while it is started, so it must stop before the test worker goes on to tests
    # that start an event loop of their own (anyio.run, asyncio.run).
    with chromium() as launched:
        from playwright.sync_api import expect

        # Two test workers, their servers and Chromium share two cores: wait up to 20 s.
        expect.set_options(timeout=20_000)
        yield launched


@pytest.fixture(scope="session")
def axe() -> str:
    return axe_source()


@pytest.fixture
def open_page(browser: Browser, axe: str) -> Iterator[OpenPage]:
    """Open a fresh browser context (its own sessionStorage) on a server; every page
    opened must end clean: no uncaught error, console error or dialog."""
    pages: list[GalleryPage] = []

    def open_(base_url: str, path: str = "/") -> GalleryPage:
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        page = watch(context.new_page(), base_url, axe)
        pages.append(page)
        page.open(path)
        return page

    yield open_
    for page in pages:
        page.page.context.close()
    for page in pages:
        page.assert_clean()


@pytest.fixture
def name() -> str:
    """A fresh name for this test's images (as a tag, an author, a word in prompts)."""
    return f"t{uuid.uuid4().hex[:10]}"
