"""The first screen of a 10,000-image gallery (the bench's seed: 1 MB PNGs), measured in
the browser with the Performance API and a Playwright trace, and reported, never asserted
as a timing (the machine is shared). Twice, each in a fresh browser: the first view of the
gallery ever, whose tiles' thumbnails are made as they are asked for, and a later one,
whose thumbnails are stored. What is asserted: one page of tiles, the pictures on screen
all loaded (thumbnails, not the PNGs), and the ones below it left for later (lazy loading)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from bench.seed import MySQLTarget, drop_database, seed
from tests.support.browser import RESULTS_DIR, VIEWPORT, axe_source, watch
from tests.support.gallery import Gallery, serve_gallery
from tests.support.mock_server import MockServer

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]

IMAGES = 10_000

MEASURE = r"""async () => {
  const visible = [...document.querySelectorAll("#grid img")].filter((img) => {
    const box = img.getBoundingClientRect();
    return box.top < innerHeight && box.bottom > 0;
  });
  const resources = performance.getEntriesByType("resource");
  const ended = (url) => resources.find((entry) => entry.name === url)?.responseEnd ?? null;
  const navigation = performance.getEntriesByType("navigation")[0];
  const lcp = await new Promise((resolve) => {
    new PerformanceObserver((list) => resolve(list.getEntries().at(-1).startTime))
      .observe({ type: "largest-contentful-paint", buffered: true });
    setTimeout(() => resolve(null), 2000);
  });
  const picture = /\/image\/[^/]+\/(content|thumbnail)/;
  const pictures = resources.filter((entry) => picture.test(entry.name));
  return {
    response_end_ms: navigation.responseEnd,
    dom_content_loaded_ms: navigation.domContentLoadedEventEnd,
    first_page_rendered_ms: performance.getEntriesByName("gallery:first-page")[0].startTime,
    visible_pictures: visible.length,
    visible_pictures_loaded_ms: Math.max(...visible.map((img) => ended(img.currentSrc))),
    largest_contentful_paint_ms: lcp,
    pictures_requested: pictures.length,
    picture_bytes: pictures.reduce((sum, entry) => sum + entry.encodedBodySize, 0),
    tiles: document.querySelectorAll("#grid > li").length,
  };
}"""


@pytest.fixture(scope="module")
def big_gallery(
    mysql_url: str, mock_server: MockServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gallery]:
    target = MySQLTarget.from_url(f"{mysql_url}_10k")
    work = tmp_path_factory.mktemp("ten-thousand")
    try:
        seed(target, work, IMAGES)
        with serve_gallery(target.url, work / "images", mock_server) as server:
            yield server
    finally:
        drop_database(target)


def test_the_first_screen_of_ten_thousand_images(big_gallery: Gallery, browser: Browser) -> None:
    figures = {
        "first_view": first_screen(big_gallery, browser, "first-screen"),
        "thumbnails_stored": first_screen(big_gallery, browser, "first-screen-stored"),
    }
    (RESULTS_DIR / "first-screen.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nfirst screen of {IMAGES:,} images: {json.dumps(figures)}")


def first_screen(gallery: Gallery, browser: Browser, name: str) -> dict[str, Any]:
    """The figures of one first screen, in a browser context of its own (an empty cache)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.tracing.start(screenshots=True, snapshots=True)
    page = watch(context.new_page(), gallery.url, axe_source())
    try:
        page.open("/")
        tiles = page.page.locator("#grid > li")
        expect(tiles).to_have_count(50)
        page.page.wait_for_function(
            """() => [...document.querySelectorAll("#grid img")]
                .filter((img) => img.getBoundingClientRect().top < innerHeight)
                .every((img) => img.complete && img.naturalWidth > 0)"""
        )
        figures: dict[str, Any] = page.page.evaluate(MEASURE)
        shown = page.page.locator("#grid img").first.evaluate("img => img.currentSrc")
    finally:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        context.tracing.stop(path=str(RESULTS_DIR / f"{name}-trace.zip"))
        context.close()
    page.assert_clean()

    assert figures["tiles"] == 50
    assert 0 < figures["visible_pictures"] <= figures["pictures_requested"]
    assert figures["pictures_requested"] < figures["tiles"], "pictures below the fold loaded too"
    assert "/thumbnail?w=256" in shown, shown
    return figures
