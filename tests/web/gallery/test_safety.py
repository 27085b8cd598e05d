"""Safe by construction: prompts, tags and authors are text, whatever they contain. Hostile
prompts (and token subjects, which become authors) show their characters and run nothing,
on the grid, the image page and in the filters."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser import OpenPage
from tests.support.gallery import Gallery

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    '"><svg onload=alert(3)>',
    "javascript:alert(4)",
    "<a href=javascript:alert(5)>click</a> &amp; &lt;b&gt;",
    "{{constructor.constructor('alert(6)')()}} ${alert(7)}",
    "<iframe srcdoc='<script>alert(8)</script>'></iframe>",
]
# Token subjects are opaque strings: they reach the page as authors.
HOSTILE_AUTHORS = ["<b onmouseover=alert(9)>bold</b>", "x' onfocus='alert(10)"]

MARKUP = (
    "img[src='x'], svg, iframe, b, #grid script, #image-view script, #grid a[href^='javascript']"
)


def test_hostile_prompts_and_authors_render_as_their_characters(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    made = [
        gallery.create(author, f"{name} {prompt}", tags=[name])
        for author in HOSTILE_AUTHORS
        for prompt in HOSTILE
    ]
    page = open_page(gallery.url, f"/?tag={name}")
    tiles = page.page.locator("#grid > li")
    expect(tiles).to_have_count(len(made))
    for image in made:
        tile = page.page.locator(f'#grid > li[data-guid="{image["guid"]}"]')
        expect(tile.locator("img")).to_have_attribute("alt", image["prompt"])
        expect(tile.locator(".tile-prompt")).to_have_text(image["prompt"])
        expect(tile.locator(".author button")).to_have_text(image["author"])
    assert page.page.locator(MARKUP).count() == 0
    assert page.page.locator("script").count() == 1  # the page's own module

    image = made[0]
    page.page.locator(f'#grid > li[data-guid="{image["guid"]}"] a').click()
    expect(page.page.locator("#image-view .prompt")).to_have_text(image["prompt"])
    expect(page.page.get_by_role("heading", level=1)).to_have_text(image["prompt"])
    expect(page.page).to_have_title(f"{image['prompt']} — PixyProxy")
    assert page.page.locator(MARKUP).count() == 0

    # A hostile author as a filter, from the tile to the URL and the filter chip.
    page.page.locator("#image-view .author button").click()
    expect(page.page.locator("#filters .chip-active strong")).to_have_text([name, image["author"]])
    expect(page.page.get_by_role("textbox", name="Author")).to_have_value(image["author"])
    expect(tiles).to_have_count(len(HOSTILE))
    assert page.page.locator(MARKUP).count() == 0
    # Nothing ran: the page's watcher saw no dialog (alert) and no error (checked at the end).


def test_a_hostile_search_is_text_in_the_url_the_box_and_the_filter(
    gallery: Gallery, open_page: OpenPage
) -> None:
    page = open_page(gallery.url)
    search = page.page.get_by_label("Search prompts")
    search.fill(HOSTILE[0])
    search.press("Enter")
    expect(page.page.locator("#filters .chip-active strong")).to_have_text(HOSTILE[0])
    page.page.reload()
    expect(search).to_have_value(HOSTILE[0])
    expect(page.page.locator("#filters .chip-active strong")).to_have_text(HOSTILE[0])
    assert page.page.locator(MARKUP).count() == 0
