"""``segfn invoke --json`` gives what the pytest plugin gives, for one recorded delivery of
every example: the other example tests run all deliveries in the plugin's pool alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.examples.conftest import OWN_PAYLOADS, PAYLOADS, ROOT, stable

# Example handler and its deliveries' directory.
EXAMPLES = sorted([
    ("adyen", "adyen"), ("close_io", "close-io"), ("formstack", "formstack"),
    ("github", "github"), ("intercom", "intercom"), ("paypal", "paypal"),
    ("pipedrive", "pipedrive"), ("shopify", "shopify"), ("stripe_events", "stripe-events"),
    ("survey_monkey", "survey-monkey"), ("talkable", "talkable"), ("typeform", "typeform"),
    ("linear", "linear"),
    ("sentry", "sentry"),
    ("gitlab", "gitlab"),
    ("jira", "jira"),
    ("slack_events", "slack"),
    ("auth0", "auth0"),
    ("sendgrid", "sendgrid"),
    ("paddle", "paddle"),
    ("woocommerce", "woocommerce"),
    ("mailchimp", "mailchimp"),
    ("calendly", "calendly"),
    ("zoom", "zoom"),
])


def invoke_cli(handler: Path, payload: Path) -> dict[str, Any]:
    """What ``segfn invoke HANDLER --payload FILE --json`` prints, after checking it exits 0."""
    command = [sys.executable, "-c", "from segfn.cli import main; main()", "invoke",
               str(handler), "--payload", str(payload), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def first_delivery(source: str) -> Path:
    """The first shared recording of ``source``, else the first of the project's own."""
    shared = sorted((PAYLOADS / source).glob("*.json"))
    return (shared or sorted((OWN_PAYLOADS / source).glob("*.json")))[0]


def test_every_example_is_checked_here() -> None:
    assert sorted(p.stem for p in (ROOT / "examples").glob("*.py")) == [e for e, _ in EXAMPLES]


@pytest.mark.parametrize("example, source", EXAMPLES, ids=[e for e, _ in EXAMPLES])
def test_segfn_invoke_agrees_with_the_plugin(load_handler, example: str, source: str) -> None:
    handler = ROOT / "examples" / f"{example}.py"
    payload = first_delivery(source)
    result = load_handler(handler).post_payload(payload)
    assert result.ok, result.error
    printed = invoke_cli(handler, payload)
    assert printed["ok"] is True
    assert stable(printed["messages"]) == stable(result.messages)
    assert printed["objects"] == list(result.objects)
