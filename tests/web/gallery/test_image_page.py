"""The image page: the full picture and every fact about it, a download button and a curl
command that really fetches the image."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import OpenPage
from tests.support.gallery import Gallery, token_for

pytestmark = [pytest.mark.e2e, pytest.mark.mysql]


def test_opening_a_tile_shows_the_image_and_all_it_is(
    placeholder_gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    image = placeholder_gallery.create(
        name, f"{name} a lighthouse at dusk", tags=["sea", name], size="1536x1024"
    )
    page = open_page(placeholder_gallery.url, f"/?tag={name}")
    page.page.get_by_role("link", name=image["prompt"]).click()

    expect(page.page).to_have_url(f"{placeholder_gallery.url}/?tag={name}&image={image['guid']}")
    view = page.page.locator("#image-view")
    expect(view.get_by_role("heading", level=1)).to_have_text(image["prompt"])
    expect(view.get_by_role("heading", level=1)).to_be_focused()
    picture = view.locator("img.full")
    expect(picture).to_have_attribute("alt", image["prompt"])
    expect(picture).to_have_js_property("complete", True)
    assert picture.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1536, 1024]

    facts = dict(
        zip(
            view.locator("dt").all_inner_texts(),
            view.locator("dd").all_inner_texts(),
            strict=True,
        )
    )
    size = f"{image['size_bytes']:,} bytes"
    assert facts["Prompt"] == image["prompt"]
    assert facts["Tags"].split() == ["#sea", f"#{name}"]
    assert facts["Author"] == f"by {name}"
    assert facts["Visibility"] == "Public"
    assert size in facts["Size"]
    assert facts["Dimensions"] == "1536 \N{MULTIPLICATION SIGN} 1024 px"
    assert facts["Model"] == image["model"] == "placeholder"
    expect(view.locator("time")).to_have_attribute("datetime", image["created_at"])
    page.screenshot("image-page")
    page.check_accessibility("the image page")

    page.page.get_by_role("button", name="Back to the gallery").click()
    expect(page.page).to_have_url(f"{placeholder_gallery.url}/?tag={name}")
    expect(page.page.get_by_role("link", name=image["prompt"])).to_be_focused()


def test_the_download_button_saves_the_png(
    gallery: Gallery, open_page: OpenPage, name: str
) -> None:
    image = gallery.create(name, f"{name} a paper crane")
    page = open_page(gallery.url, f"/?image={image['guid']}")
    with page.page.expect_download() as download:
        page.page.get_by_role("link", name="Download PNG").click()
    saved = Path(download.value.path())
    assert download.value.suggested_filename == image["filename"]
    assert saved.read_bytes() == httpx.get(gallery.url + image["content_url"]).content


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
def test_the_copied_curl_command_fetches_the_image(
    gallery: Gallery, open_page: OpenPage, name: str, tmp_path: Path, private: bool
) -> None:
    image = gallery.create(name, f"{name} a glass teapot", private=private)
    page = open_page(gallery.url)
    if private:
        page.sign_in(token_for(name))
    page.open(f"/?image={image['guid']}")
    page.page.get_by_role("button", name="Copy the command").click()
    expect(page.page.locator(".copy-status")).to_have_text("Copied.")
    command = page.page.evaluate("navigator.clipboard.readText()")
    assert command == page.page.locator("#curl-command").inner_text()

    env = {"PATH": "/usr/bin:/bin", "TOKEN": token_for(name)}
    subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, check=True, timeout=30)
    with gallery.api(name) as api:
        assert (tmp_path / image["filename"]).read_bytes() == api.get(image["content_url"]).content


def test_an_unknown_image_says_so(gallery: Gallery, open_page: OpenPage) -> None:
    page = open_page(gallery.url, f"/?image={uuid.uuid4()}")
    expect(page.page.get_by_role("heading", level=1)).to_have_text("Image not found")
    expect(page.page.locator("#image-detail")).to_contain_text("No image with guid")
    page.check_accessibility("an unknown image")
    page.page.get_by_role("button", name="Back to the gallery").click()
    expect(page.page.get_by_role("heading", level=1)).to_have_text("Gallery")
