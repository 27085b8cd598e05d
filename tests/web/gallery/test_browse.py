"""Browsing: the grid shows what the API lists, newest first, and follows the list's Link
header page by page as the end of the grid comes near."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import VIEWPORT, OpenPage, watch
from tests.support.gallery import Gallery

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]


def test_scrolling_shows_every_image_the_api_lists_in_its_order(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    gallery.create_many(name, [f"{name} number {i}" for i in range(120)], tags=[name])
    listed = [image["guid"] for image in gallery.listing(tag=name)]
    assert len(listed) == 120

    page = open_page(gallery.url, f"/?tag={name}")
    pages_asked: list[str] = []
    page.page.on("request", lambda r: pages_asked.append(r.url) if "/image?" in r.url else None)
    tiles = page.page.locator("#grid > li")
    expect(tiles).to_have_count(50)  # one page; the rest waits for the scroll
    assert page.tile_guids() == listed[:50]

    for shown in (100, 120):
        page.page.mouse.wheel(0, 100_000)
        expect(tiles).to_have_count(shown)
    expect(page.page.locator("#grid-status")).to_have_text("All 120 images shown.")
    assert page.tile_guids() == listed
    # Two more pages, each the Link the page before announced (they carry its cursor).
    assert len(pages_asked) == 2 and all("cursor=" in url for url in pages_asked)
    expect(page.page.locator("#load-more")).to_be_hidden()


def test_the_front_page_is_the_newest_images(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    gallery.create_many(name, [f"{name} fresh {i}" for i in range(3)])
    page = open_page(gallery.url)
    expect(page.page.locator("#grid > li")).to_have_count(min(50, len(gallery.listing())))
    assert page.tile_guids() == [image["guid"] for image in gallery.listing()][:50]
    expect(page.page).to_have_title("Gallery — PixyProxy")


def test_a_tile_shows_the_prompt_cut_short_its_tags_and_author(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    prompt = f"{name} " + "a very long description of a harbour at dawn, " * 6
    image = gallery.create(name, prompt, tags=[name, "harbour"])
    page = open_page(gallery.url, f"/?author={name}")
    tile = page.page.locator(f'#grid > li[data-guid="{image["guid"]}"]')
    expect(tile).to_be_visible()

    preview = tile.locator(".tile-prompt").inner_text()
    assert preview.endswith("…") and len(preview) <= 90
    assert prompt.startswith(preview[:-1].rstrip())
    # The picture's alt text, and so the link's name, is the whole prompt.
    expect(tile.locator("img")).to_have_attribute("alt", image["prompt"])
    expect(tile.get_by_role("link")).to_have_accessible_name(image["prompt"])
    expect(tile.locator(".tags button")).to_have_text([f"#{name}", "#harbour"])
    expect(tile.locator(".author")).to_have_text(f"by {name}")
    expect(tile.locator("img")).to_have_js_property("complete", True)
    # The picture is the thumbnail that fills a tile of this screen (5 columns of 234 px).
    shown = tile.locator("img").evaluate("img => [img.currentSrc, img.naturalWidth]")
    assert shown == [f"{gallery.url}/image/{image['guid']}/thumbnail?w=256", 256]


@pytest.mark.parametrize(
    ("size", "scale", "width"),
    [("1024x1024", 1, 256), ("1024x1024", 2, 512), ("1536x1024", 1, 512), ("1024x1536", 1, 256)],
)
def test_a_tile_takes_the_smallest_thumbnail_that_fills_it(
    gallery: Gallery, browser: Browser, axe: str, name: str, size: str, scale: int, width: int
) -> None:
    """Tiles are square and crop: a landscape picture fills one by its height; a screen of
    two device pixels per CSS pixel needs twice the pixels."""
    image = gallery.create(name, f"{name} a harbour", tags=[name], size=size)
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=scale)
    try:
        page = watch(context.new_page(), gallery.url, axe)
        page.open(f"/?tag={name}")
        img = page.page.locator(f'#grid > li[data-guid="{image["guid"]}"] img')
        expect(img).to_have_js_property("complete", True)
        assert img.evaluate("img => img.getBoundingClientRect().width") < 256
        url = f"{gallery.url}/image/{image['guid']}/thumbnail?w={width}"
        assert img.evaluate("img => [img.currentSrc, img.naturalWidth]") == [url, width]
        page.assert_clean()
    finally:
        context.close()
