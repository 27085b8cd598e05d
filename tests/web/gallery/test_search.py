"""Searching and filtering: the search box (``q``), tag chips, the author filter, and the
URL that holds them, so a filtered view can be shared, reloaded and gone back to."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.support.browser import GalleryPage, OpenPage
from tests.support.gallery import Gallery

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]


def query_of(page: GalleryPage) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.page.url).query)


def guids_for(gallery: Gallery, **filters: str) -> list[str]:
    return [image["guid"] for image in gallery.listing(**filters)]


@pytest.fixture
def images(gallery: Gallery, name: str) -> None:
    """Under this test's name: foxes and owls, some tagged forest, by two authors."""
    ann, bob, forest = f"{name}-ann", f"{name}-bob", [name, "forest"]
    gallery.create_many(ann, [f"{name} red fox {i}" for i in range(3)], tags=forest)
    gallery.create_many(bob, [f"{name} red fox {i}" for i in range(3, 5)], tags=[name])
    gallery.create_many(bob, [f"{name} snowy owl {i}" for i in range(2)], tags=forest)


def test_the_search_box_filters_by_prompt_and_the_url_keeps_it(
    gallery: Gallery, open_page: OpenPage, name: str, images: None
) -> None:
    page = open_page(gallery.url)
    page.page.get_by_label("Search prompts").fill(f"{name} red fox")
    page.page.get_by_label("Search prompts").press("Enter")

    foxes = guids_for(gallery, q=f"{name} red fox")
    assert len(foxes) == 5
    expect(page.page.locator("#grid > li")).to_have_count(5)
    assert page.tile_guids() == foxes
    assert query_of(page) == {"q": [f"{name} red fox"]}
    expect(page.page.locator("#filters")).to_contain_text(f"Prompt words: {name} red fox")

    page.page.reload()  # a reload (or a shared link) shows the same view
    expect(page.page.locator("#grid > li")).to_have_count(5)
    assert page.tile_guids() == foxes
    expect(page.page.get_by_label("Search prompts")).to_have_value(f"{name} red fox")


def test_a_tag_chip_filters_and_back_undoes_it(
    gallery: Gallery, open_page: OpenPage, name: str, images: None
) -> None:
    page = open_page(gallery.url, f"/?q={name}")
    expect(page.page.locator("#grid > li")).to_have_count(7)
    page.page.locator("#grid .chip", has_text="#forest").first.click()

    forest = guids_for(gallery, q=name, tag="forest")
    assert len(forest) == 5
    expect(page.page.locator("#grid > li")).to_have_count(5)
    assert page.tile_guids() == forest
    assert query_of(page) == {"q": [name], "tag": ["forest"]}

    shared = open_page(gallery.url, f"/?q={name}&tag=forest")  # another person, the same link
    expect(shared.page.locator("#grid > li")).to_have_count(5)
    assert shared.tile_guids() == forest

    page.page.go_back()
    expect(page.page.locator("#grid > li")).to_have_count(7)
    assert query_of(page) == {"q": [name]}
    page.page.go_forward()
    expect(page.page.locator("#grid > li")).to_have_count(5)

    page.page.get_by_role("button", name="Remove filter: Tag forest").click()
    expect(page.page.locator("#grid > li")).to_have_count(7)
    assert query_of(page) == {"q": [name]}


def test_the_author_filter_combines_with_tag_and_search(
    gallery: Gallery, open_page: OpenPage, name: str, images: None
) -> None:
    page = open_page(gallery.url, f"/?tag={name}")
    expect(page.page.locator("#grid > li")).to_have_count(7)
    # An author's name on a tile filters by that author.
    page.page.locator("#grid .author button", has_text=f"{name}-bob").first.click()
    bobs = guids_for(gallery, tag=name, author=f"{name}-bob")
    expect(page.page.locator("#grid > li")).to_have_count(4)
    assert page.tile_guids() == bobs
    expect(page.page.get_by_role("textbox", name="Author")).to_have_value(f"{name}-bob")

    page.page.get_by_label("Search prompts").fill("owl")
    page.page.get_by_role("button", name="Search").click()
    owls = guids_for(gallery, tag=name, author=f"{name}-bob", q="owl")
    expect(page.page.locator("#grid > li")).to_have_count(2)
    assert page.tile_guids() == owls
    assert query_of(page) == {"q": ["owl"], "tag": [name], "author": [f"{name}-bob"]}

    page.page.get_by_role("button", name="Clear all").click()
    expect(page.page).to_have_url(f"{gallery.url}/")


def test_no_match_says_so(gallery: Gallery, open_page: OpenPage, name: str) -> None:
    page = open_page(gallery.url, f"/?q={name}-nothing")
    expect(page.page.locator("#grid-status")).to_have_text("No images match these filters.")
    expect(page.page.locator("#grid > li")).to_have_count(0)
