"""Real Chromium for the gallery's tests: Debian's build (Playwright's own browser download
cannot be reached here), driven by Playwright for Python, with axe-core injected.

Every page records what would go wrong silently in a browser: uncaught errors, console
errors (Content-Security-Policy and Trusted Types refusals among them) and dialogs
(``alert``) opened. ``GalleryPage.assert_clean()`` fails on any of them.

Without Chromium or Playwright the browser tests are skipped with one line saying why;
``PIXY_REQUIRE_BROWSER=1`` (set by CI) turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("PIXY_CHROMIUM", "/usr/bin/chromium"))
# A closed network: nothing may try to reach out, and nothing needs a GPU or a sandbox.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_DIR = REPO / "tools" / "axe-core"
AXE_SOURCE = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
RESULTS_DIR = Path(os.environ.get("PIXY_TEST_RESULTS", REPO / "test-results")) / "gallery"
VIEWPORT = {"width": 1280, "height": 900}
# Impacts that fail a page; "moderate" and "minor" findings are reported, not failed.
AXE_FAILING_IMPACTS = ("serious", "critical")


def browser_required() -> bool:
    return os.environ.get("PIXY_REQUIRE_BROWSER", "") not in ("", "0", "false")


def _unavailable(reason: str) -> None:
    if browser_required():
        pytest.fail(f"{reason}; PIXY_REQUIRE_BROWSER is set")
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, for one test session."""
    if not CHROMIUM.is_file():
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def axe_source() -> str:
    """axe-core's script, installed from tools/axe-core's lock file when missing."""
    if not AXE_SOURCE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("npm is needed to install axe-core (apt-get install npm)")
        subprocess.run(
            [npm, "ci", "--silent", "--no-audit", "--no-fund", "--prefix", str(AXE_DIR)],
            check=True,
            timeout=300,
        )
    return AXE_SOURCE.read_text(encoding="utf-8")


@dataclass
class GalleryPage:
    """A page of the gallery under test, and what went wrong in it."""

    page: Page
    base_url: str
    axe: str
    problems: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open(self, path: str = "/") -> None:
        self.page.goto(self.base_url + path)
        self.page.wait_for_function("document.readyState === 'complete'")

    def check_accessibility(self, view: str) -> list[dict[str, Any]]:
        """axe-core on the page as it is now; fails on serious or critical violations.

        Returns every violation found (all impacts), for reports.
        """
        if not self.page.evaluate("typeof window.axe === 'object'"):
            # Evaluated through the DevTools protocol, which the page's CSP does not govern
            # (a <script> tag would be refused, as it should be).
            self.page.evaluate(self.axe)
        violations: list[dict[str, Any]] = self.page.evaluate(
            """async () => (await axe.run(document)).violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ")),
            }))"""
        )
        failing = [v for v in violations if v["impact"] in AXE_FAILING_IMPACTS]
        assert not failing, f"axe on {view}: {json.dumps(failing, indent=1)}"
        return violations

    def screenshot(self, name: str) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def tile_guids(self) -> list[str]:
        guids: list[str] = self.page.locator("#grid > li").evaluate_all(
            "items => items.map(item => item.dataset.guid)"
        )
        return guids

    def sign_in(self, token: str) -> None:
        """Through the dialog, as a person would: paste the token and press Sign in."""
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.page.get_by_label("Token").fill(token)
        self.page.locator("#sign-in-submit").click()
        self.page.locator("#sign-out").wait_for(state="visible")

    def assert_clean(self) -> None:
        assert not self.problems, "the page reported problems:\n" + "\n".join(self.problems)
        assert not self.dialogs, f"the page opened dialogs: {self.dialogs}"


OpenPage = Callable[..., GalleryPage]  # open_page(base_url, path="/")


def watch(page: Page, base_url: str, axe: str) -> GalleryPage:
    watched = GalleryPage(page, base_url, axe)

    def on_console(message: ConsoleMessage) -> None:
        # Chromium logs every HTTP error answer to fetch() as an error; those are the
        # API's problem JSON, which the tests provoke on purpose and check on the page.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            watched.problems.append(f"console: {message.text}")

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.problems.append(f"uncaught: {error}"))
    page.on("dialog", on_dialog)
    return watched
