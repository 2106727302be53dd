"""Headless Chromium driven by Playwright, for the console's end-to-end tests.

The browser is Debian's ``chromium`` (``.ci/run`` installs it), never one Playwright
downloads. Every page records what the console must never do: a script error, a server
error, a request anywhere but the service, or anything the Content-Security-Policy
blocked. ``SEGFN_SCREENSHOTS=DIR`` keeps a screenshot of each page the tests name
(``docs/console/`` holds the README's).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Request,
    Response,
    ViewportSize,
    sync_playwright,
)

# Quiet and self-contained: nothing reaches beyond loopback, no first-run or update traffic.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 15_000
VIEWPORT: ViewportSize = {"width": 1280, "height": 860}
# Every CSP violation, as the page's own listener reports it on the console; but for one
# the console cannot help: Chromium's own editing, typing over a selection in the editor's
# contenteditable, tries a style attribute on the line (CodeMirror redraws the line from
# its state either way).
WATCH = """document.addEventListener("securitypolicyviolation", (e) => {
  if (e.violatedDirective === "style-src-attr" && e.target.classList?.contains("editor")) return;
  console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI} ${e.sample} at ` +
                `${e.sourceFile}:${e.lineNumber} ${e.target.outerHTML?.slice(0, 120) ?? ""}`);
}, true);"""


def chromium() -> str:
    """Debian's chromium: the tests fail without it, as ``.ci/run`` installs it."""
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("the console's browser tests need Debian's chromium "
                    "(apt-get install chromium; .ci/run installs it)")
    return found


@contextmanager
def browser(profile: Path) -> Iterator[BrowserContext]:
    """One headless Chromium with a fresh profile in ``profile``."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=chromium(), headless=True, args=ARGS,
            viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


class Console:
    """A page of the console, and what went wrong on it."""

    def __init__(self, context: BrowserContext, url: str) -> None:
        self.url = url
        self.page: Page = context.new_page()
        self.problems: list[str] = []
        self.page.add_init_script(WATCH)
        self.page.on("pageerror", self._page_error)
        self.page.on("console", self._console)
        self.page.on("response", self._response)
        self.page.on("request", self._request)

    def _page_error(self, error: Error) -> None:
        self.problems.append(f"page error: {error}")

    def _console(self, message: ConsoleMessage) -> None:
        if "CSP violation" in message.text:
            self.problems.append(message.text)

    def _request(self, request: Request) -> None:
        # No CDN, nothing fetched from elsewhere: the service serves everything.
        if not request.url.startswith((self.url, "data:")):
            self.problems.append(f"a request off the service: {request.url}")

    def _response(self, answer: Response) -> None:
        if answer.status >= 500:
            self.problems.append(f"{answer.status} from {answer.url}")

    def sign_in(self, token: str, shot: str | None = None) -> Page:
        page = self.page
        page.goto(self.url + "console/")
        page.get_by_role("textbox", name="Service token").fill(token)
        if shot:
            self.shoot(shot)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Functions").wait_for()
        return page

    def shoot(self, name: str) -> None:
        """A screenshot of the page as it is, when ``SEGFN_SCREENSHOTS`` names a folder."""
        folder = os.environ.get("SEGFN_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.page.close()
        assert not self.problems, self.problems
