"""Generating from the page: progress and elapsed time while it runs, the rest of the page
usable meanwhile, and every failure read from the problem JSON (422 next to its field,
Retry-After counted down for 429 and 503, a retry for 502 that never generates twice)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Request, expect

from tests.support.browser import GalleryPage, OpenPage
from tests.support.gallery import Gallery, gallery_of_its_own, token_for
from tests.support.mock_server import MockServer

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]

RATE_WINDOW_S = 15


def signed_in_form(page: GalleryPage, subject: str) -> None:
    page.sign_in(token_for(subject))
    page.page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.page.get_by_label("Prompt", exact=True)).to_be_focused()


def submit(page: GalleryPage, prompt: str, tags: str = "") -> None:
    page.page.get_by_label("Prompt", exact=True).fill(prompt)
    page.page.locator("#generate-tags").fill(tags)
    page.page.locator("#generate-submit").click()


def generations(sent: list[Request]) -> list[Request]:
    return [r for r in sent if r.method == "POST" and r.url.endswith("/image")]


def test_generate_shows_progress_and_the_page_stays_usable(
    gallery: Gallery, openai_mock: MockServer, open_page: OpenPage, name: str
) -> None:
    old = gallery.create(name, f"{name} an older picture", tags=[name])
    before = openai_mock.stats()["generations"]
    page = open_page(gallery.url)
    signed_in_form(page, name)
    openai_mock.set_behavior("ok", delay_s=4)  # the upstream takes its time, as OpenAI does
    prompt = f"{name} a robot gardener among tomatoes"
    page.page.get_by_label("Prompt", exact=True).fill(prompt)
    page.page.locator("#generate-tags").fill(f"{name}, garden")
    page.page.locator("#generate-size").select_option("1536x1024")
    page.page.locator("#generate-private").check()
    page.page.locator("#generate-submit").click()

    expect(page.page.locator("#generate-progress")).to_be_visible()
    expect(page.page.locator("#generate-submit")).to_be_disabled()
    expect(page.page.locator("#generate-elapsed")).to_have_text(re.compile(r"^[1-9]\d* s$"))
    page.screenshot("generation-in-progress")
    page.check_accessibility("the gallery while generating")

    # Meanwhile the page is usable: search, open an image, come back.
    page.page.get_by_label("Search prompts").fill(f"{name} an older")
    page.page.get_by_label("Search prompts").press("Enter")
    page.page.get_by_role("link", name=old["prompt"]).click()
    expect(page.page.get_by_role("heading", level=1)).to_have_text(old["prompt"])
    page.page.get_by_role("button", name="Back to the gallery").click()

    expect(page.page.locator("#generate-status")).to_contain_text("Done")
    expect(page.page.locator("#generate-progress")).to_be_hidden()
    page.page.locator("#generated-link").click()
    view = page.page.locator("#image-view")
    expect(view.get_by_role("heading", level=1)).to_have_text(prompt)
    expect(view.locator(".badge")).to_have_text("Private")
    expect(view.locator("dd").nth(1)).to_have_text(f"#{name}#garden")
    expect(view.locator("img.full")).to_have_js_property("complete", True)
    assert view.locator("img.full").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [
        1536,
        1024,
    ]
    made = gallery.listing(name, q=prompt)
    assert [m["private"] for m in made] == [True]
    assert openai_mock.stats()["generations"] == before + 1


def test_signing_in_with_the_dev_token_and_generating_a_placeholder(
    placeholder_gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    page = open_page(placeholder_gallery.url)
    page.page.get_by_role("button", name="Sign in", exact=True).click()
    page.page.get_by_role("button", name="Use the dev token").click()
    expect(page.page.locator("#account-status")).to_have_text("Signed in as dev")
    page.page.get_by_role("button", name="Generate", exact=True).click()
    submit(page, f"{name} a lighthouse at dusk", f"{name} sea")
    expect(page.page.locator("#generate-status")).to_contain_text("Done")
    # Shown first in the (unfiltered) grid at once, before any reload.
    made = placeholder_gallery.listing("dev", tag=name)
    assert len(made) == 1 and made[0]["model"] == "placeholder" and made[0]["author"] == "dev"
    assert page.tile_guids()[0] == made[0]["guid"]
    first = page.page.locator("#grid > li").first
    expect(first.locator("img")).to_have_js_property("complete", True)
    shown = first.locator("img").evaluate("img => [img.currentSrc, img.naturalWidth]")
    assert shown == [f"{placeholder_gallery.url}/image/{made[0]['guid']}/thumbnail?w=256", 256]


def test_generating_without_signing_in_asks_for_it(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    page = open_page(gallery.url)
    page.page.get_by_role("button", name="Generate", exact=True).click()
    submit(page, f"{name} a fox")
    expect(page.page.locator("#generate-status")).to_contain_text("needs a bearer token")
    page.page.locator("#generate-status").get_by_role("button", name="Sign in").click()
    expect(page.page.get_by_label("Token")).to_be_focused()


@pytest.mark.parametrize(
    ("prompt", "tags", "field", "message"),
    [
        ("   ", "", "prompt", "prompt must not be blank"),
        ("a fox", "good bad!tag", "tags", "String should match pattern"),
        ("[mock:content_policy] a fox", "", "prompt", "refused this prompt"),
    ],
    ids=["blank-prompt", "bad-tag", "prompt-rejected"],
)
def test_a_422_is_shown_next_to_its_field(
    gallery: Gallery,
    openai_mock: MockServer,
    open_page: OpenPage,
    name: str,
    prompt: str,
    tags: str,
    field: str,
    message: str,
) -> None:
    page = open_page(gallery.url)
    signed_in_form(page, name)
    submit(page, prompt, tags)
    error = page.page.locator(f"#generate-{field}-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(message)
    expect(page.page.locator(f"#generate-{field}")).to_have_attribute("aria-invalid", "true")
    expect(page.page.locator(f"#generate-{field}")).to_be_focused()
    expect(page.page.locator("#generate-submit")).to_be_enabled()
    page.check_accessibility(f"the generate form with a 422 on {field}")
    # Fixing the field and sending again clears the message.
    submit(page, f"{name} a fox", "")
    expect(page.page.locator("#generate-status")).to_contain_text("Done")
    expect(error).to_be_hidden()


def test_a_502_offers_a_retry_that_never_generates_twice(
    gallery: Gallery, openai_mock: MockServer, open_page: OpenPage, name: str
) -> None:
    page = open_page(gallery.url)
    signed_in_form(page, name)
    sent: list[Request] = []
    page.page.on("request", lambda request: sent.append(request))
    openai_mock.set_behavior("server_error")
    submit(page, f"{name} a koi pond")
    expect(page.page.locator("#generate-status")).to_contain_text("image service")
    retry = page.page.get_by_role("button", name="Try again")
    expect(retry).to_be_visible()
    page.check_accessibility("the generate form after a 502")

    openai_mock.set_behavior("ok")
    retry.click()
    expect(page.page.locator("#generate-status")).to_contain_text("Done")
    posts = generations(sent)
    assert len(posts) == 2
    keys = {post.headers["idempotency-key"] for post in posts}
    assert len(keys) == 1, "the retry must send the first attempt's Idempotency-Key"
    assert posts[0].post_data_json == posts[1].post_data_json
    assert len(gallery.listing(name, q=f"{name} a koi pond")) == 1


def test_a_503_counts_down_its_retry_after(
    gallery: Gallery, openai_mock: MockServer, open_page: OpenPage, name: str
) -> None:
    page = open_page(gallery.url)
    signed_in_form(page, name)
    openai_mock.set_behavior("overloaded")  # the upstream's 503 says Retry-After: 3
    sent: list[Request] = []
    page.page.on("request", lambda request: sent.append(request))
    submit(page, f"{name} a desert observatory")
    _counts_down_from(page, 3)
    openai_mock.set_behavior("ok")
    page.page.get_by_role("button", name="Try again").click()
    expect(page.page.locator("#generate-status")).to_contain_text("Done")
    assert len({p.headers["idempotency-key"] for p in generations(sent)}) == 1


@pytest.fixture(scope="module")
def limited_gallery(
    mysql_url: str, mock_server: MockServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gallery]:
    """One generation per caller every few seconds."""
    with gallery_of_its_own(
        mysql_url,
        "limited",
        tmp_path_factory.mktemp("limited"),
        mock_server,
        generation_limit="1",
        generation_window_s=str(RATE_WINDOW_S),
    ) as server:
        yield server


def test_a_429_counts_down_its_retry_after(
    limited_gallery: Gallery, openai_mock: MockServer, open_page: OpenPage, name: str
) -> None:
    page = open_page(limited_gallery.url)
    signed_in_form(page, name)
    _fill_the_window(limited_gallery, name)
    submit(page, f"{name} one too many")
    expect(page.page.locator("#generate-status")).to_contain_text("You can try again in")
    _counts_down_from(page, RATE_WINDOW_S)
    page.page.get_by_role("button", name="Try again").click()
    expect(page.page.locator("#generate-status")).to_contain_text("Done")


def _fill_the_window(gallery: Gallery, subject: str) -> None:
    """Use up the caller's generations in a window with at least 5 s left (windows are
    fixed, so one that is about to end is waited out first)."""
    with gallery.api(subject) as api:
        for attempt in range(10):
            response = api.post("/image", json={"prompt": f"{subject} filler {attempt}"})
            if response.status_code == 429:
                left = int(response.headers["Retry-After"])
                if left >= 5:
                    return
                time.sleep(left)
            else:
                assert response.status_code == 200, response.text
    raise AssertionError("the generation limit never answered 429")


def _counts_down_from(page: GalleryPage, at_most_s: int) -> None:
    """The countdown shows, decreases to the end with the form held, then lets go."""
    countdown = page.page.locator("#generate-countdown")
    expect(countdown).to_have_text(re.compile(r"^\d+ s$"))
    first = int(countdown.inner_text().split()[0])
    assert 0 < first <= at_most_s
    expect(page.page.locator("#generate-submit")).to_be_disabled()
    expect(page.page.get_by_role("button", name="Try again")).to_be_hidden()
    if first > 1:  # it goes down (by however much a loaded machine lets pass)
        status = page.page.locator("#generate-status")
        expect(status).not_to_contain_text(f"in {first} s")
        left = re.search(r"in (\d+) s", status.inner_text())
        assert left is None or int(left.group(1)) < first
    expect(page.page.locator("#generate-status")).to_contain_text("You can try again now.")
    expect(page.page.locator("#generate-submit")).to_be_enabled()
    expect(page.page.get_by_role("button", name="Try again")).to_be_visible()
