"""``segfn new``: scaffold a handler, its settings file and its test."""

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

MINIMAL_TEST = '''\
import json
from pathlib import Path

HERE = Path(__file__).parent
SETTINGS = json.loads((HERE / "{name}.settings.json").read_text())


def test_delivery_becomes_a_track(load_handler):
    handler = load_handler(HERE / "{name}.py", settings=SETTINGS)
    result = handler.post(json={{"userId": "user-1", "event": "Signed Up"}})
    assert result.ok, result.error
    assert [t["event"] for t in result.tracks] == ["Signed Up"]


def test_delivery_without_user_is_rejected(load_handler):
    result = load_handler(HERE / "{name}.py", settings=SETTINGS).post(json={{}})
    assert result.error.type == "MessageRejected"
'''

TEMPLATE_TEST = '''\
import json
from pathlib import Path

HERE = Path(__file__).parent
SETTINGS = json.loads((HERE / "{name}.settings.json").read_text())


def test_handler_answers_a_delivery(load_handler):
    handler = load_handler(HERE / "{name}.py", settings=SETTINGS)
    # Next: post a recorded delivery from {template} (handler.post(body, headers=...)) and
    # assert the exact calls it emits.
    result = handler.post(json={{}})
    assert result.ok or result.error.type in ("MessageRejected", "UnsupportedEventType")
'''


EXAMPLE_FOLDERS = (Path(__file__).resolve().parents[2] / "examples",
                   Path(sys.prefix) / "share" / "segfn" / "examples")


def template_source(template: str) -> str:
    """The source of the example ``template`` ("stripe-events" or "stripe_events").

    Read from ``examples/`` beside the package in a source checkout, else from the copies
    installed with the package under ``{sys.prefix}/share/segfn/examples``.
    """
    module = template.replace("-", "_")
    if module.isidentifier():
        for folder in EXAMPLE_FOLDERS:
            if (folder / f"{module}.py").is_file():
                return (folder / f"{module}.py").read_text("utf-8")
    raise click.BadParameter(f"no example named {template!r}", param_hint="--template")


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


@click.command()
@click.argument("name")
@click.option("--template", metavar="SOURCE",
              help="Start from an example (github, stripe-events, shopify, ...).")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=".",
              help="Where to create the files [default: the current directory].")
@click.option("--json", "as_json", is_flag=True, help="Print {\"created\": [...]}.")
def new(name: str, template: str | None, directory: str, as_json: bool) -> None:
    """Create NAME.py, NAME.settings.json and test_NAME.py.

    Refuses (exit 2) when any of them exists.
    """
    name = name.removesuffix(".py")
    if not name.isidentifier():
        raise click.BadParameter(f"{name!r} is not a valid Python module name",
                                 param_hint="NAME")
    if template:
        handler = template_source(template)
        test = TEMPLATE_TEST.format(name=name, template=template)
    else:
        handler = MINIMAL_HANDLER.format(name=name)
        test = MINIMAL_TEST.format(name=name)
    settings = json.dumps(settings_from_docstring(handler), indent=2) + "\n"

    folder = Path(directory)
    files = {folder / f"{name}.py": handler, folder / f"{name}.settings.json": settings,
             folder / f"test_{name}.py": test}
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
    click.echo(f"  segfn invoke {folder / f'{name}.py'} --settings "
               f"{folder / f'{name}.settings.json'} --body delivery.json")
    click.echo(f"  pytest {folder / f'test_{name}.py'}")
