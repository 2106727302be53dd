"""``segfn new``: scaffold a handler, its settings, a delivery and a test of it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from segfn.cli.output import fail, print_json

REFUSED = 2
# A setting line in a handler's docstring: ``webhookSecret (string, optional, encrypted): ...``
SETTING = re.compile(r"^\s+([A-Za-z][A-Za-z0-9]*) \(([a-z ]+), (required|optional)(, encrypted)?\)")
PLACEHOLDERS: dict[str, Any] = {"boolean": False, "number": 0, "array": [], "text map": {}}

MINIMAL_HANDLER = '''\
"""{name}: a Segment source function.

Point a webhook at this function. Each delivery is a JSON object with a ``userId`` and an
``event`` name; it becomes one track call.

Settings: none.
"""

from segfn import Segment, ValidationError


def on_request(request, settings):
    body = request.json()
    if not body.get("userId"):
        raise ValidationError("userId is missing")
    Segment.track({{
        "userId": str(body["userId"]),
        "event": body.get("event") or "Webhook Received",
        "properties": body.get("properties") or {{}},
    }})
'''

# The delivery NAME.delivery.json holds for a new handler: what the minimal one reads.
MINIMAL_DELIVERY: dict[str, Any] = {
    "payload": {"body": {"userId": "user-1", "event": "Signed Up"},
                "headers": {"Content-Type": "application/json"}}}
MINIMAL_CALLS: list[tuple[str, str | None]] = [("track", "Signed Up")]

# What each example emits on its delivery (examples/deliveries/NAME.json): (type, event).
TEMPLATE_CALLS: dict[str, list[tuple[str, str | None]]] = {
    "adyen": [("track", "Payment Failed")],
    "auth0": [("identify", None), ("track", "Sign Up Failed")],
    "calendly": [("identify", None), ("track", "Meeting Canceled")],
    "close_io": [("track", "Contact Updated"), ("identify", None), ("group", None)],
    "formstack": [("identify", None), ("track", "Form Submitted")],
    "github": [("identify", None), ("track", "Issue Closed")],
    "gitlab": [("identify", None), ("track", "Issue Closed")],
    "intercom": [("identify", None), ("track", "Conversation Replied")],
    "jira": [("identify", None), ("track", "Issue Created")],
    "linear": [("identify", None), ("track", "Comment Created")],
    "mailchimp": [("identify", None), ("track", "Subscribed")],
    "meta": [("identify", None), ("track", "Message Received")],
    "paddle": [("track", "Subscription Canceled")],
    "paypal": [("identify", None), ("track", "Order Completed")],
    "pipedrive": [("identify", None), ("group", None)],
    "sendgrid": [
        ("track", "Email Processed"), ("track", "Email Deferred"), ("track", "Email Delivered"),
        ("track", "Email Opened"), ("track", "Email Link Clicked"), ("track", "Email Bounced"),
        ("track", "Email Dropped"), ("track", "Email Marked as Spam"), ("track", "Unsubscribed"),
        ("track", "Group Unsubscribed"), ("track", "Group Resubscribed"),
    ],
    "sentry": [("identify", None), ("identify", None), ("track", "Issue Assigned")],
    "shopify": [("identify", None), ("track", "Order Refunded")],
    "slack_events": [("track", "Message Sent")],
    "stripe_events": [("identify", None), ("track", "Customer Created")],
    "survey_monkey": [("track", "Survey Response Submitted")],
    "talkable": [("identify", None), ("track", "Offer Claimed")],
    "typeform": [("identify", None), ("track", "Form Submitted")],
    "woocommerce": [("identify", None), ("track", "Order Completed")],
    "zoom": [("identify", None), ("track", "Meeting Joined")],
}

TEST = '''\
"""Tests of {name}.py; run them with pytest (pip install 'segfn[test]')."""

import json
from pathlib import Path

HERE = Path(__file__).parent
SETTINGS = json.loads((HERE / "{name}.settings.json").read_text())


def test_the_delivery_becomes_these_calls(load_handler):
    handler = load_handler(HERE / "{name}.py", settings=SETTINGS)
    result = handler.post_payload(HERE / "{name}.delivery.json")
    assert result.ok, result.error
    # (type, event) of each call, in order; an identify or group has no event.
    assert [(m["type"], m.get("event")) for m in result.messages] == {calls!r}


def test_a_body_that_is_not_json_is_rejected(load_handler):
    result = load_handler(HERE / "{name}.py", settings=SETTINGS).post(
        "not json", headers={{"Content-Type": "application/json"}})
    assert not result.ok and not result.messages
'''


EXAMPLE_FOLDERS = (Path(__file__).resolve().parents[2] / "examples",
                   Path(sys.prefix) / "share" / "segfn" / "examples")


def _example(template: str, folder: str, suffix: str) -> Path | None:
    module = template.replace("-", "_")
    if module.isidentifier():
        for base in EXAMPLE_FOLDERS:
            if (base / folder / f"{module}{suffix}").is_file():
                return base / folder / f"{module}{suffix}"
    return None


def template_names() -> list[str]:
    """The examples ``--template`` takes, as written on the command line."""
    return sorted(name.replace("_", "-") for name in TEMPLATE_CALLS)


def template_source(template: str) -> str:
    """The source of the example ``template`` ("stripe-events" or "stripe_events").

    Read from ``examples/`` beside the package in a source checkout, else from the copies
    installed with the package under ``{sys.prefix}/share/segfn/examples``.
    """
    path = _example(template, ".", ".py")
    if path is None or template.replace("-", "_") not in TEMPLATE_CALLS:
        raise click.BadParameter(f"no example named {template!r}; the templates are: "
                                 + ", ".join(template_names()), param_hint="--template")
    return path.read_text("utf-8")


def template_delivery(template: str) -> str:
    """The recorded delivery the example ``template`` is tested on, a payload file."""
    path = _example(template, "deliveries", ".json")
    if path is None:
        raise click.ClickException(f"the delivery of example {template!r} is not installed "
                                   "(reinstall segfn)")
    return path.read_text("utf-8")


def settings_from_docstring(source: str) -> dict[str, Any]:
    """Placeholder values for the settings a handler's docstring lists.

    Secrets are left empty, so that checks guarded by them stay off until filled in;
    required plain settings get a ``<name>`` to replace.
    """
    settings: dict[str, Any] = {}
    for match in map(SETTING.match, source.splitlines()):
        if match:
            name, kind, required, encrypted = match.groups()
            if kind in PLACEHOLDERS:
                settings[name] = PLACEHOLDERS[kind]
            else:
                settings[name] = f"<{name}>" if required == "required" and not encrypted else ""
    return settings


@click.command(short_help="Scaffold a handler, its settings, a delivery and a test.")
@click.argument("name")
@click.option("--template", metavar="SOURCE",
              help="Start from an example (github, stripe-events, shopify, ...; an "
                   "unknown name lists them).")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=".",
              help="Where to create the files [default: the current directory].")
@click.option("--json", "as_json", is_flag=True, help="Print {\"created\": [...]}.")
def new(name: str, template: str | None, directory: str, as_json: bool) -> None:
    """Create NAME.py, NAME.settings.json, NAME.delivery.json (a payload file) and
    test_NAME.py, which checks what the handler makes of the delivery.

    Refuses (exit 2) when any of them exists.
    """
    name = name.removesuffix(".py")
    if not name.isidentifier():
        raise click.BadParameter(f"{name!r} is not a valid Python module name",
                                 param_hint="NAME")
    if template:
        handler, delivery = template_source(template), template_delivery(template)
        calls = TEMPLATE_CALLS[template.replace("-", "_")]
    else:
        handler = MINIMAL_HANDLER.format(name=name)
        delivery, calls = json.dumps(MINIMAL_DELIVERY, indent=2) + "\n", MINIMAL_CALLS
    settings = json.dumps(settings_from_docstring(handler), indent=2) + "\n"

    folder = Path(directory)
    files = {folder / f"{name}.py": handler, folder / f"{name}.settings.json": settings,
             folder / f"{name}.delivery.json": delivery,
             folder / f"test_{name}.py": TEST.format(name=name, calls=calls)}
    existing = [str(path) for path in files if path.exists()]
    if existing:
        verb = "exists" if len(existing) == 1 else "exist"
        fail(f"{', '.join(existing)} already {verb}; not overwriting anything")
        sys.exit(REFUSED)
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text, "utf-8")

    created = [str(path) for path in files]
    if as_json:
        print_json({"created": created})
        return
    for shown in created:
        click.echo(f"created {shown}")
    click.echo("\nnext:")
    click.echo(f"  segfn invoke {folder / f'{name}.py'} --payload "
               f"{folder / f'{name}.delivery.json'} --settings "
               f"{folder / f'{name}.settings.json'}")
    click.echo(f"  pytest {folder / f'test_{name}.py'}    "
               "(pytest: pip install 'segfn[test]')")
