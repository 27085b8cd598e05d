"""Signing in: a pasted token (or the dev token) kept in sessionStorage and sent as the
Authorization header, never a cookie; the caller's private images shown and marked while
signed in, and gone once signed out."""

from __future__ import annotations

import re
import time

import pytest
from jose import jwt
from playwright.sync_api import Request, expect

from tests.support.browser import OpenPage
from tests.support.gallery import SECRET, Gallery, token_for

# Signed with a key the server does not know; otherwise a good token (exp within range).
_IN_AN_HOUR = int(time.time()) + 3600

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]


def test_private_images_show_signed_in_and_go_when_signed_out(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    public = gallery.create(name, f"{name} a public fox", tags=[name])
    private = gallery.create(name, f"{name} a private owl", tags=[name], private=True)
    page = open_page(gallery.url, f"/?tag={name}")
    expect(page.page.locator("#grid > li")).to_have_count(1)
    assert page.tile_guids() == [public["guid"]]

    sent: list[Request] = []
    page.page.on("request", lambda request: sent.append(request))
    token = token_for(name)
    page.sign_in(token)
    expect(page.page.locator("#account-status")).to_have_text(f"Signed in as {name}")
    expect(page.page.locator("#grid > li")).to_have_count(2)
    assert page.tile_guids() == [private["guid"], public["guid"]]
    tile = page.page.locator(f'#grid > li[data-guid="{private["guid"]}"]')
    expect(tile.locator(".badge")).to_have_text("Private")
    # An <img> cannot send the token: the private picture is fetched and shown from memory.
    expect(tile.locator("img")).to_have_attribute("src", _blob_url())
    expect(tile.locator("img")).to_have_js_property("complete", True)
    assert tile.locator("img").evaluate("img => img.naturalWidth") == 256  # its thumbnail
    thumbnail = f"{gallery.url}/image/{private['guid']}/thumbnail?w=256"
    assert [r.headers.get("authorization") for r in sent if r.url == thumbnail] == [
        f"Bearer {token}"
    ]
    page.check_accessibility("the gallery signed in, with a private image")

    # The token travels as the Authorization header only: no cookie is ever set or sent.
    api_calls = [r for r in sent if r.url.startswith(f"{gallery.url}/image")]
    assert api_calls and all(r.headers.get("authorization") == f"Bearer {token}" for r in api_calls)
    assert all("cookie" not in r.headers for r in sent)
    assert page.page.context.cookies() == []
    assert page.page.evaluate("sessionStorage.getItem('pixyproxy.token')") == token

    page.page.get_by_role("link", name=private["prompt"]).click()
    expect(page.page.locator("#image-view .badge")).to_have_text("Private")
    expect(page.page.locator("#image-view img.full")).to_have_attribute("src", _blob_url())
    page.page.get_by_role("button", name="Sign out").click()
    # The open private image is gone at once, and so is its tile.
    expect(page.page.get_by_role("heading", level=1)).to_have_text("Image not found")
    expect(page.page.locator("#sign-in")).to_be_visible()
    assert page.page.evaluate("sessionStorage.getItem('pixyproxy.token')") is None
    page.page.get_by_role("button", name="Back to the gallery").click()
    expect(page.page.locator("#grid > li")).to_have_count(1)
    assert page.tile_guids() == [public["guid"]]


def test_the_token_lives_in_this_tab_only(gallery: Gallery, open_page: OpenPage, name: str) -> None:
    page = open_page(gallery.url)
    page.sign_in(token_for(name))
    page.page.reload()
    expect(page.page.locator("#account-status")).to_have_text(f"Signed in as {name}")
    other_tab = open_page(gallery.url)  # another browsing context: its own sessionStorage
    expect(other_tab.page.locator("#sign-in")).to_be_visible()
    expect(other_tab.page.locator("#account-status")).to_have_text("")


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("not-a-token", "The bearer token is not valid."),
        (jwt.encode({"sub": "x", "aud": "pixyproxy", "exp": 1}, SECRET), "not valid"),
        (jwt.encode({"sub": "x", "aud": "pixyproxy", "exp": _IN_AN_HOUR}, "s" * 40), "not valid"),
    ],
    ids=["garbage", "expired", "wrong-key"],
)
def test_a_refused_token_is_explained_next_to_the_field(
    gallery: Gallery, open_page: OpenPage, token: str, why: str
) -> None:
    page = open_page(gallery.url)
    page.page.get_by_role("button", name="Sign in", exact=True).click()
    field = page.page.get_by_label("Token")
    field.fill(token)
    page.page.locator("#sign-in-submit").click()
    expect(page.page.locator("#sign-in-token-error")).to_contain_text("This token was refused")
    expect(page.page.locator("#sign-in-token-error")).to_contain_text(why)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    page.check_accessibility("the sign-in dialog with an error")
    assert page.page.evaluate("sessionStorage.getItem('pixyproxy.token')") is None


def test_the_dev_button_signs_in_as_dev(gallery: Gallery, open_page: OpenPage) -> None:
    page = open_page(gallery.url)
    page.page.get_by_role("button", name="Sign in", exact=True).click()
    page.page.get_by_role("button", name="Use the dev token").click()
    expect(page.page.locator("#account-status")).to_have_text("Signed in as dev")
    expect(page.page.get_by_role("button", name="Sign out")).to_be_focused()


def test_a_token_the_server_stops_accepting_signs_the_page_out(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    public = gallery.create(name, f"{name} still public")
    page = open_page(gallery.url)
    page.sign_in(token_for(name))
    # The server's key changes (or the token expires) while the tab is open.
    page.page.evaluate(
        "t => sessionStorage.setItem('pixyproxy.token', t)",
        jwt.encode({"sub": name, "aud": "pixyproxy", "exp": _IN_AN_HOUR}, "r" * 40),
    )
    page.page.get_by_label("Search prompts").fill(name)
    page.page.get_by_label("Search prompts").press("Enter")
    expect(page.page.locator("#account-status")).to_have_text(
        "Signed out: The bearer token is not valid."
    )
    expect(page.page.locator("#sign-in")).to_be_visible()
    # ... and goes on as an anonymous caller.
    expect(page.page.locator("#grid > li")).to_have_count(1)
    assert page.tile_guids() == [public["guid"]]


def _blob_url() -> re.Pattern[str]:
    return re.compile(r"^blob:")
