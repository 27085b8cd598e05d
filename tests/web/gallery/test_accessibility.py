"""axe-core on the gallery's views: 0 serious or critical violations on each. (The image
page, the dialogs and the generate form are checked where their tests draw them.)

The front page is drawn from a gallery of its own holding only ``SHOWCASE``, as a person
would see a team's gallery: its screenshot is the README's (docs/gallery.png is a copy of
test-results/gallery/gallery.png)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.support.browser import OpenPage
from tests.support.gallery import Gallery, gallery_of_its_own
from tests.support.mock_server import MockServer

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]

# Author, prompt, tags and size of each image, oldest first (the page shows them newest first).
SHOWCASE = [
    ("maya", "a koi pond seen from above, isometric", ["water"], "1024x1024"),
    ("tom", "a robot gardener among tomatoes", ["robot", "garden"], "1024x1536"),
    ("priya", "a paper crane on a wooden desk", ["origami"], "1024x1024"),
    ("maya", "a mountain village in watercolour", ["landscape"], "1536x1024"),
    ("jonas", "a glass teapot in soft morning light", ["still-life"], "1024x1024"),
    ("tom", "an old tram under neon signs at night", ["city", "night"], "1536x1024"),
    ("priya", "a red fox in fresh snow", ["animal", "winter"], "1024x1024"),
    ("jonas", "a desert observatory under the milky way", ["night", "space"], "1024x1536"),
    ("maya", "a bicycle leaning on a wall in the rain", ["city"], "1024x1024"),
    ("tom", "a lighthouse at dusk, oil painting", ["sea", "dusk"], "1536x1024"),
]


@pytest.fixture(scope="module")
def showcase(
    mysql_url: str, mock_server: MockServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gallery]:
    storage = tmp_path_factory.mktemp("showcase")
    with gallery_of_its_own(
        mysql_url, "showcase", storage, mock_server, image_provider="placeholder"
    ) as server:
        for author, prompt, tags, size in SHOWCASE:
            server.create(author, prompt, tags=tags, size=size)
        yield server


def test_the_front_page_has_no_serious_violations(showcase: Gallery, open_page: OpenPage) -> None:
    page = open_page(showcase.url)
    expect(page.page.locator("#grid > li")).to_have_count(len(SHOWCASE))
    for tile in page.page.locator("#grid img").all():
        expect(tile).to_have_js_property("complete", True)
    page.screenshot("gallery")
    page.check_accessibility("the front page")

    page.open("/?tag=night")
    expect(page.page.locator("#grid > li")).to_have_count(2)
    page.check_accessibility("the gallery, filtered by tag")


def test_a_view_without_matches_and_the_generate_form_have_no_serious_violations(
    placeholder_gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    page = open_page(placeholder_gallery.url, f"/?q={name}-no-such-prompt&author={name}")
    expect(page.page.locator("#grid-status")).to_have_text("No images match these filters.")
    page.check_accessibility("a gallery without matches")

    page.page.get_by_role("button", name="Generate", exact=True).click()
    page.check_accessibility("the generate form")
