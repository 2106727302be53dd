"""The web console end to end: headless Chromium through a real ``segfn serve``.

Everything is found as a person with a screen reader finds it, by role and accessible name
(issue 17, item 6). One browser for the module, a fresh page (so a fresh sign-in) a test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from runner.service.keyring import generate_key
from tests.paths import PAYLOADS
from tests.service.browser import Console, browser
from tests.service.harness import Serve

BROKEN = '''from segfn import Segment, console


def on_request(request, settings):
    body = request.json()
    if body.get("fail")
        raise ValueError("told to fail")
'''
HANDLER = '''from segfn import Segment, console


def on_request(request, settings):
    body = request.json()
    if body.get("fail"):
        raise ValueError("told to fail")
    console.log("action:", body["action"])
    Segment.track({"event": "Issue " + body["action"], "userId": str(body["sender"]["id"]),
                   "properties": {"title": body["issue"]["title"]}})
'''
ISSUE_OPENED = json.loads((PAYLOADS / "github" / "issue-opened.json").read_text())["payload"]


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    data_dir = tmp_path_factory.mktemp("console") / "data"
    service = Serve(data_dir, [], {"SEGFN_SECRET_KEY": generate_key()}).start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with browser(tmp_path_factory.mktemp("profile")) as context:
        yield context


@pytest.fixture
def console(chromium: BrowserContext, serve: Serve) -> Iterator[Console]:
    opened = Console(chromium, serve.url)
    yield opened
    opened.close()


def type_code(page: Page, code: str) -> None:
    """Replace the editor's text with ``code``, as pasted."""
    page.get_by_role("textbox", name="Code").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(code)


def test_an_author_writes_tests_deploys_and_reads_events_and_errors(
        console: Console, serve: Serve) -> None:
    page = console.sign_in(serve.owner_token)
    page.get_by_role("button", name="New function").click()
    page.get_by_role("textbox", name="Name").fill("issues")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="issues")).to_be_visible()

    # A compile error is marked at its line before anything is saved.
    type_code(page, BROKEN)
    problems = page.get_by_role("list", name="Compile problems")
    expect(problems).to_contain_text("issues.py:6")
    expect(page.locator(".cm-line").nth(5).locator(".cm-lintRange-error")).to_have_count(1)
    expect(page.locator(".cm-gutter-lint .cm-lint-marker-error")).to_have_count(1)
    console.shoot("code-error")
    type_code(page, HANDLER)
    expect(problems.get_by_role("listitem")).to_have_count(0)
    console.shoot("code")

    # A test with a recorded GitHub delivery.
    page.get_by_role("tab", name="Test").click()
    page.get_by_role("textbox", name="Request body").fill(json.dumps(ISSUE_OPENED["body"]))
    page.get_by_role("textbox", name="Request headers").fill(
        json.dumps(ISSUE_OPENED["headers"]))
    page.get_by_role("button", name="Run test").click()
    result = page.get_by_role("region", name="Test result")
    expect(result).to_contain_text("Test passed")
    expect(result).to_contain_text('"event": "Issue opened"')
    expect(result).to_contain_text("action: opened")
    console.shoot("test")

    # Save & Deploy to a new source; its webhook's events show on its page.
    page.get_by_role("tab", name="Code").click()
    page.get_by_role("button", name="Save & Deploy").click()
    page.get_by_role("textbox", name="Source name").fill("github")
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(re.compile("deployed to github"))
    page.get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="github").click()
    url = page.get_by_label("Webhook URL").input_value()
    assert httpx.post(url, json=ISSUE_OPENED["body"], timeout=15).status_code == 200
    assert httpx.post(url, json={"fail": True}, timeout=15).status_code >= 400
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("table", name="Recent events")).to_contain_text("track Issue opened")
    console.shoot("source")

    # The failed delivery is in the function's Errors tab.
    page.get_by_role("link", name="Functions").click()
    page.get_by_role("link", name="issues").click()
    page.get_by_role("tab", name="Errors").click()
    expect(page.get_by_role("table", name="Errors")).to_contain_text("told to fail")
    console.shoot("errors")
