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
from tests.runner.harness import wait_until
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
    service = Serve(data_dir, [], {"SEGFN_SECRET_KEY": generate_key()})
    service.start()
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
    page = console.sign_in(serve.owner_token, shot="sign-in")
    page.get_by_role("button", name="New function").click()
    page.get_by_role("textbox", name="Name").fill("issues")
    page.get_by_role("textbox", name="Description").fill("GitHub issues as track events")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="issues")).to_be_visible()
    expect(page.get_by_text("GitHub issues as track events")).to_be_visible()

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

    # A test with a recorded GitHub delivery, of the code not yet saved.
    page.get_by_role("tab", name="Test").click()
    expect(page.get_by_role("tabpanel", name="Test")).to_contain_text(
        "Runs the code in the editor (not yet saved).")
    page.get_by_role("textbox", name="Request body").fill(
        json.dumps(ISSUE_OPENED["body"], indent=2))
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
    expect(page.get_by_role("tabpanel").get_by_role("status")).to_have_text(
        "Saved version 2; deployed to github.")
    expect(page.get_by_text("Version 2", exact=True)).to_be_visible()
    page.get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="github").click()
    url = page.get_by_label("Webhook URL").input_value()
    assert httpx.post(url, json=ISSUE_OPENED["body"], timeout=15).status_code == 200
    assert httpx.post(url, json={"fail": True}, timeout=15).status_code >= 400
    # Stored events may land a moment after the answer: wait for them, then reload the page.
    wait_until(lambda: serve.api("GET", "/sources/github/events").json()["events"])
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("table", name="Recent events")).to_contain_text("track Issue opened")
    console.shoot("source")

    # The failed delivery is in the function's Errors tab.
    page.get_by_role("link", name="Functions").click()
    page.get_by_role("link", name="issues").click()
    page.get_by_role("tab", name="Errors").click()
    expect(page.get_by_role("table", name="Errors")).to_contain_text("told to fail")
    console.shoot("errors")


def test_an_owner_makes_a_read_only_token_that_finds_no_save_and_revokes_it(
        console: Console, serve: Serve) -> None:
    for name in ("readable", "hidden"):
        made = serve.api("POST", "/functions", json={"name": name, "code": HANDLER})
        assert made.status_code == 201, made.text
    page = console.sign_in(serve.owner_token)
    page.get_by_role("link", name="Tokens").click()
    page.get_by_role("textbox", name="Token name").fill("reader")
    page.get_by_role("combobox", name="Role").select_option("functions_read")
    page.get_by_role("textbox", name="Token functions").fill("readable")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("New token secret").inner_text()
    assert secret.startswith("sfn_")
    console.shoot("tokens")
    page.get_by_role("button", name="Sign out").click()

    page = console.sign_in(secret)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Functions"])
    expect(page.get_by_role("button", name="New function")).to_have_count(0)
    # Only its function is listed; another answers as the API does.
    expect(page.get_by_role("main").get_by_role("link")).to_have_text(["readable"])
    page.goto(serve.url + "console/#/functions/hidden")
    expect(page.get_by_role("alert")).to_contain_text("hidden")
    page.get_by_role("link", name="Functions").click()
    page.get_by_role("link", name="readable").click()
    expect(page.get_by_role("textbox", name="Code")).to_have_attribute("aria-readonly", "true")
    expect(page.get_by_role("tab")).to_have_text(["Code", "Settings", "Test", "Versions",
                                                   "Errors"])
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Save & Deploy")).to_have_count(0)
    page.get_by_role("tab", name="Versions").click()
    expect(page.get_by_role("button", name=re.compile("Restore"))).to_have_count(0)
    page.get_by_role("tab", name="Test").click()
    page.get_by_role("textbox", name="Request body").fill(
        json.dumps(ISSUE_OPENED["body"], indent=2))
    page.get_by_role("button", name="Run test").click()
    expect(page.get_by_role("region", name="Test result")).to_contain_text("Test passed")
    page.get_by_role("button", name="Sign out").click()

    page = console.sign_in(serve.owner_token)
    page.get_by_role("link", name="Tokens").click()
    page.get_by_role("button", name="Revoke reader").click()
    expect(page.get_by_role("row", name=re.compile("reader"))).to_contain_text("revoked")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Service token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    expect(page.get_by_role("link", name="Functions")).to_have_count(0)


def test_settings_versions_sources_and_a_captured_delivery(console: Console,
                                                           serve: Serve) -> None:
    made = serve.api("POST", "/functions", json={"name": "shop", "code": HANDLER})
    assert made.status_code == 201, made.text
    page = console.sign_in(serve.owner_token)
    console.shoot("functions")
    page.get_by_role("link", name="shop").click()

    # A setting: its name derived as it is typed; encrypted. The tabs take the arrow keys.
    page.get_by_role("tab", name="Code").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Settings")).to_be_focused()
    expect(page.get_by_role("tab", name="Settings")).to_have_attribute("aria-selected", "true")
    page.get_by_role("button", name="Add setting").click()
    page.get_by_role("textbox", name="Label").fill("API Key")
    expect(page.get_by_role("status", name="Derived name")).to_have_text("apiKey")
    page.get_by_role("checkbox", name="Encrypted").check()
    page.get_by_role("button", name="Add setting").click()
    page.get_by_role("textbox", name="Label").last.fill("Region")
    page.get_by_role("button", name="Remove").last.click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("tabpanel").get_by_role("status").last).to_have_text(
        "Saved version 2.")
    schema = serve.api("GET", "/functions/shop/versions/2").json()["settings_schema"]
    assert [(s["name"], s["encrypted"]) for s in schema] == [("apiKey", True)]
    console.shoot("settings")

    # A source connected to it: the form from the schema; the secret only as set / not set.
    page.get_by_role("link", name="Sources").click()
    page.get_by_role("button", name="Connect source").click()
    console.shoot("sources")
    page.get_by_role("combobox", name="Function").select_option(label="shop")
    page.get_by_role("textbox", name="Source name").fill("shop-hooks")
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.get_by_label("Webhook URL")).to_have_value(re.compile(r"^http://127\.0\.0\.1"))
    expect(page.get_by_text("encrypted: not set")).to_be_visible()
    page.get_by_label("API Key").fill("k-123")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("encrypted: set")).to_be_visible()
    expect(page.get_by_label("API Key")).to_have_value("")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("version 2, paused")).to_be_visible()
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_text("version 2, running")).to_be_visible()
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_text("version 1, running")).to_be_visible()

    # Versions: a side-by-side diff, and restore as a new version.
    changed = serve.api("PATCH", "/functions/shop", json={
        "code": HANDLER.replace('"Issue "', '"Shop "')})
    assert changed.json()["version"]["number"] == 3
    page.get_by_role("link", name="Functions").click()
    page.get_by_role("link", name="shop").click()
    page.get_by_role("tab", name="Versions").click()
    diff = page.get_by_label("Diff")
    expect(diff.locator(".del")).to_contain_text('"Issue "')
    expect(diff.locator(".add")).to_contain_text('"Shop "')
    console.shoot("versions")
    page.get_by_role("button", name="Restore v1").click()
    expect(page.get_by_role("tabpanel").get_by_role("status")).to_have_text(
        "Restored v1 as version 4.")

    # Auto-fill: the next delivery to a capture URL fills the test request.
    page.get_by_role("tab", name="Test").click()
    page.get_by_role("button", name="Auto-fill via webhook").click()
    url = page.get_by_label("Capture URL").inner_text()
    caught = httpx.post(url, json={"captured": "yes"}, headers={"X-Github-Event": "issues"},
                        timeout=15)
    assert caught.status_code == 200, caught.text
    expect(page.get_by_role("textbox", name="Request body")).to_have_value(
        re.compile('"captured": "yes"'), timeout=5000)
    expect(page.get_by_role("textbox", name="Request headers")).to_have_value(
        re.compile("x-github-event", re.IGNORECASE))
    page.get_by_role("button", name="Run test").click()
    result = page.get_by_role("region", name="Test result")
    expect(result).to_contain_text("Test failed")
    expect(result.get_by_role("alert")).to_have_text("BadRequest: KeyError: 'action' (shop.py:8)")

    # Deleting: not a function a source uses; the source first, then the function.
    page.get_by_role("button", name="Delete function").click()
    page.get_by_role("button", name="Yes, delete function").click()
    expect(page.get_by_role("main").get_by_role("status").first).to_contain_text(
        "sources use this function (shop-hooks)")
    page.get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="shop-hooks").click()
    page.get_by_role("button", name="Delete source").click()
    page.get_by_role("button", name="Yes, delete source").click()
    expect(page.get_by_role("heading", name="Sources")).to_be_visible()
    expect(page.get_by_role("link", name="shop-hooks")).to_have_count(0)
    page.get_by_role("link", name="Functions").click()
    page.get_by_role("link", name="shop").click()
    page.get_by_role("button", name="Delete function").click()
    page.get_by_role("button", name="Yes, delete function").click()
    expect(page.get_by_role("heading", name="Functions")).to_be_visible()
    expect(page.get_by_role("link", name="shop", exact=True)).to_have_count(0)
    assert serve.api("GET", "/functions/shop").status_code == 404
