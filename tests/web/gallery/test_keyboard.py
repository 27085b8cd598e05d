"""Keyboard use: everything a mouse does, done with Tab, Enter and Escape, with focus kept
where a person expects it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser import GalleryPage, OpenPage
from tests.support.gallery import Gallery, token_for

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]


def tab_to(page: GalleryPage, selector: str, *, limit: int = 40, back: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the element matching ``selector`` has the focus."""
    target = page.page.locator(selector)
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"{selector} was not reached with the keyboard in {limit} presses")


def test_search_open_an_image_and_come_back_by_keyboard(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    first, second = gallery.create_many(name, [f"{name} heron {i}" for i in range(2)], tags=[name])
    page = open_page(gallery.url)
    keys = page.page.keyboard

    keys.press("Tab")
    expect(page.page.get_by_role("link", name="Skip to the images")).to_be_focused()
    tab_to(page, "#search-q")
    keys.type(f"{name} heron")
    keys.press("Enter")
    expect(page.page.locator("#grid > li")).to_have_count(2)

    newest = page.tile_guids()[0]
    newest_prompt = next(i["prompt"] for i in (first, second) if i["guid"] == newest)
    tab_to(page, f'#grid > li[data-guid="{newest}"] a')
    keys.press("Enter")
    heading = page.page.get_by_role("heading", level=1)
    expect(heading).to_have_text(newest_prompt)
    expect(heading).to_be_focused()

    tab_to(page, "#back", back=True)
    keys.press("Enter")
    expect(page.page.get_by_role("link", name=newest_prompt)).to_be_focused()

    # A tag chip by keyboard filters the grid.
    tab_to(page, f'#grid > li[data-guid="{newest}"] .chip')
    keys.press("Enter")
    expect(page.page).to_have_url(f"{gallery.url}/?q={name}+heron&tag={name}")


def test_the_sign_in_dialog_by_keyboard(gallery: Gallery, open_page: OpenPage, name: str) -> None:
    page = open_page(gallery.url)
    keys = page.page.keyboard
    tab_to(page, "#sign-in")
    keys.press("Enter")
    expect(page.page.get_by_label("Token")).to_be_focused()
    page.check_accessibility("the sign-in dialog")
    keys.press("Escape")  # closes, and gives the focus back
    expect(page.page.locator("#sign-in-dialog")).not_to_be_visible()
    expect(page.page.locator("#sign-in")).to_be_focused()

    keys.press("Enter")
    keys.type(token_for(name))
    tab_to(page, "#sign-in-submit")
    keys.press("Enter")
    expect(page.page.locator("#account-status")).to_have_text(f"Signed in as {name}")
    expect(page.page.locator("#sign-out")).to_be_focused()


def test_generate_by_keyboard(gallery: Gallery, open_page: OpenPage, name: str) -> None:
    page = open_page(gallery.url)
    page.sign_in(token_for(name))
    keys = page.page.keyboard
    tab_to(page, "#generate-toggle", back=True)
    keys.press("Enter")
    expect(page.page.locator("#generate-toggle")).to_have_attribute("aria-expanded", "true")
    expect(page.page.get_by_label("Prompt", exact=True)).to_be_focused()
    keys.type(f"{name} a kingfisher")
    keys.press("Tab")
    keys.type(name)
    tab_to(page, "#generate-private")
    keys.press("Space")
    tab_to(page, "#generate-submit")
    keys.press("Enter")
    expect(page.page.locator("#generate-status")).to_contain_text("Done")
    made = gallery.listing(name, tag=name)
    assert [(i["prompt"], i["private"]) for i in made] == [(f"{name} a kingfisher", True)]
