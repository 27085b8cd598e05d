"""axe-core on the gallery's views: 0 serious or critical violations on each. (The image
page, the dialogs and the generate form are checked where their tests draw them.)"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser import OpenPage
from tests.support.gallery import Gallery

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]

PROMPTS = [
    ("a lighthouse at dusk, oil painting", ["sea", "dusk"]),
    ("a red fox in fresh snow", ["animal", "winter"]),
    ("an old tram under neon signs at night", ["city", "night"]),
    ("a glass teapot in soft morning light", ["still-life"]),
    ("a mountain village in watercolour", ["landscape"]),
    ("a paper crane on a wooden desk", ["origami"]),
    ("a robot gardener among tomatoes", ["robot", "garden"]),
    ("a koi pond seen from above, isometric", ["water"]),
]


def test_the_gallery_views_have_no_serious_violations(
    placeholder_gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    for prompt, tags in PROMPTS:
        placeholder_gallery.create(f"{name}-artist", prompt, tags=[*tags, name])
    page = open_page(placeholder_gallery.url, f"/?tag={name}")
    expect(page.page.locator("#grid > li")).to_have_count(len(PROMPTS))
    for tile in page.page.locator("#grid img").all():
        expect(tile).to_have_js_property("complete", True)
    page.screenshot("gallery")
    page.check_accessibility("the gallery, filtered by tag")

    page.open("/")
    expect(page.page.locator("#grid > li").first).to_be_visible()
    page.check_accessibility("the front page")

    page.open(f"/?q={name}-no-such-prompt&author={name}")
    expect(page.page.locator("#grid-status")).to_have_text("No images match these filters.")
    page.check_accessibility("a gallery without matches")

    page.page.get_by_role("button", name="Generate", exact=True).click()
    page.check_accessibility("the generate form")
