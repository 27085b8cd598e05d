"""Changing and deleting an image on its page, signed in, in real Chromium: edit (tags,
private), delete with a confirmation, errors from the problem JSON (403 on someone else's
image, 412 when it changed elsewhere, with a reload; 422 next to the field), by keyboard,
and axe clean."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from pixyproxy.core.settings import Settings
from tests.support.browser import OpenPage
from tests.support.gallery import Gallery, token_for

# Two polls of the change log at the default PIXY_CHANGE_POLL_S (service/coherence.py).
COHERENCE_BOUND_S = 2 * Settings.model_fields["change_poll_s"].default

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]


def facts(page: OpenPage) -> dict[str, str]:  # type: ignore[valid-type]
    view = page.page.locator("#image-view")  # type: ignore[attr-defined]
    return dict(
        zip(view.locator("dt").all_inner_texts(), view.locator("dd").all_inner_texts(), strict=True)
    )


def test_the_author_changes_tags_and_privacy(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    image = gallery.create(name, f"{name} a copper kettle", tags=["old"])
    page = open_page(gallery.url, f"/?image={image['guid']}")
    page.sign_in(token_for(name))
    form = page.page.get_by_role("form", name="Change or delete this image")
    expect(form.get_by_label("Tags")).to_have_value("old")
    page.check_accessibility("the image page, signed in")
    form.get_by_label("Tags").fill(f"new {name}")
    form.get_by_label("Private").check()
    form.get_by_role("button", name="Save changes").click()
    expect(page.page.locator("#manage-status")).to_have_text("Saved.")
    expect(page.page.get_by_role("button", name="Save changes")).to_be_focused()
    shown = facts(page)
    assert shown["Tags"].split() == ["#new", f"#{name}"]
    assert shown["Visibility"].lower() == "private"  # a badge, its text upper-cased by CSS
    with gallery.api(name) as api:  # the server's other worker: within the coherence bound
        deadline = time.monotonic() + 10
        while (stored := api.get(f"/image/{image['guid']}").json())["tags"] != ["new", name]:
            assert time.monotonic() < deadline, stored
            time.sleep(0.05)
    assert stored["private"] is True
    form.scroll_into_view_if_needed()
    page.screenshot("image-manage")


def test_delete_asks_first_and_works_by_keyboard(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    image = gallery.create(name, f"{name} a paper boat")
    page = open_page(gallery.url, f"/?image={image['guid']}")
    page.sign_in(token_for(name))
    keyboard = page.page.keyboard
    page.page.get_by_role("button", name="Delete image").focus()
    keyboard.press("Enter")
    keep = page.page.get_by_role("button", name="Keep it")
    expect(keep).to_be_focused()  # the safe answer first
    page.check_accessibility("the delete confirmation")
    keyboard.press("Enter")
    expect(page.page.locator("#delete-confirm")).to_be_hidden()
    expect(page.page.get_by_role("button", name="Delete image")).to_be_focused()
    with gallery.api() as api:
        assert api.get(f"/image/{image['guid']}").status_code == 200  # kept

    keyboard.press("Enter")
    page.page.get_by_role("button", name="Delete it for good").focus()
    keyboard.press("Enter")
    expect(page.page.get_by_role("heading", level=1)).to_have_text("Image deleted")
    expect(page.page.get_by_role("heading", level=1)).to_be_focused()
    with gallery.api() as api:  # on either worker of the server, within the coherence bound
        deadline = time.monotonic() + 10
        while api.get(f"/image/{image['guid']}").status_code != 404:
            assert time.monotonic() < deadline, "the deleted image is still served"
            time.sleep(0.05)


def test_someone_elses_image_answers_with_the_rule(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    image = gallery.create(name, f"{name} a stone bridge")
    page = open_page(gallery.url, f"/?image={image['guid']}")
    page.sign_in(token_for(f"{name}-other"))
    page.page.get_by_role("button", name="Delete image").click()
    page.page.get_by_role("button", name="Delete it for good").click()
    expect(page.page.locator("#manage-status")).to_have_text(
        "Only the image's author or an admin may change or delete it."
    )
    page.page.get_by_role("button", name="Save changes").click()
    expect(page.page.locator("#manage-status")).to_contain_text("Only the image's author")
    with gallery.api() as api:
        assert api.get(f"/image/{image['guid']}").status_code == 200


def test_a_change_made_elsewhere_meanwhile_offers_a_reload(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    image = gallery.create(name, f"{name} a wooden chair", tags=["first"])
    page = open_page(gallery.url, f"/?image={image['guid']}")
    page.sign_in(token_for(name))
    form = page.page.get_by_role("form", name="Change or delete this image")
    expect(form.get_by_label("Tags")).to_have_value("first")
    with gallery.api(name) as api:  # another tab, a while ago: the state has moved on
        assert api.patch(f"/image/{image['guid']}", json={"tags": ["elsewhere"]}).status_code == 200
    # Past the coherence bound every worker shows the change, whichever the page reaches.
    time.sleep(COHERENCE_BOUND_S)
    form.get_by_label("Tags").fill("mine")
    form.get_by_role("button", name="Save changes").click()
    status = page.page.locator("#manage-status")
    expect(status).to_contain_text("The image has changed since it was read")
    reload = page.page.get_by_role("button", name="Reload the image")
    expect(reload).to_be_focused()
    reload.click()
    expect(
        page.page.get_by_role("form", name="Change or delete this image").get_by_label("Tags")
    ).to_have_value("elsewhere")
    form = page.page.get_by_role("form", name="Change or delete this image")
    form.get_by_label("Tags").fill("bad!tag")
    form.get_by_role("button", name="Save changes").click()
    expect(page.page.locator("#edit-tags-error")).to_be_visible()
    expect(form.get_by_label("Tags")).to_be_focused()
    expect(form.get_by_label("Tags")).to_have_attribute("aria-invalid", "true")
