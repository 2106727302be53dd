"""``segfn functions``: the logged-in workspace's functions and their versions."""

from __future__ import annotations

import sys
from typing import Any

import click

from segfn.cli.output import print_json, printable
from segfn.cli.remote import (
    compiling,
    connect,
    json_option,
    part,
    read_code,
    read_schema,
    table,
)


def describe_schema(schema: list[dict[str, Any]]) -> str:
    """``webhookSecret (string, encrypted), repo (string, required)``, or ``none``."""
    shown = []
    for spec in schema:
        flags = [spec.get("type", "string")] + [flag for flag in ("required", "encrypted")
                                                if spec.get(flag)]
        shown.append(f"{spec['name']} ({', '.join(flags)})")
    return printable(", ".join(shown)) or "none"


def show_saved(answer: dict[str, Any], new_function: bool) -> None:
    """What a save (create or update) did: a new function, a new version, or nothing."""
    function, version = answer["function"], answer["version"]
    name = click.style(printable(function["name"]), bold=True)
    if new_function:
        click.echo(click.style("✓ created", fg="green", bold=True)
                   + f" function {name} ({function['id']}), version {version['number']}")
    elif answer["created"]:
        click.echo(click.style("✓ new version", fg="green", bold=True)
                   + f" {version['number']} of {name}")
    else:
        click.echo(click.style("= unchanged", fg="yellow", bold=True)
                   + f": {name} is still version {version['number']} (same code and schema)")
    click.echo(f"  settings  {describe_schema(version['settings_schema'])}")


@click.group(short_help="Functions of the service: create, update, versions, delete.")
def functions() -> None:
    """Functions of the logged-in workspace: create, update, read versions, delete.

    FUNCTION is a function's id or name.
    """


@functions.command("list")
@json_option
def list_functions(as_json: bool) -> None:
    """The functions this token can see."""
    answer = connect().get("/functions")
    if as_json:
        print_json(answer)
        return
    if not answer["functions"]:
        click.echo("no functions (create one with segfn functions create or segfn deploy)")
        return
    table([(f["name"], f["id"], f"v{f['latest_version']}", f["updated_at"], f["description"])
           for f in answer["functions"]],
          ("NAME", "ID", "LATEST", "UPDATED", "DESCRIPTION"))


@functions.command()
@click.argument("name")
@click.option("--code", "code_path", required=True, metavar="FILE", help="The handler file.")
@click.option("--settings-schema", "schema_path", metavar="FILE",
              help="A JSON list of settings: {\"label\", \"name\", \"type\", \"description\", "
                   "\"required\", \"encrypted\"}.")
@click.option("--description", default="", help="What the function is for.")
@json_option
def create(name: str, code_path: str, schema_path: str | None, description: str,
           as_json: bool) -> None:
    """Create function NAME; its code becomes version 1."""
    body: dict[str, Any] = {"name": name, "code": read_code(code_path),
                            "description": description}
    if schema_path:
        body["settings_schema"] = read_schema(schema_path)
    with compiling(code_path):
        answer = connect().post("/functions", body)
    if as_json:
        print_json(answer)
    else:
        show_saved(answer, new_function=True)


@functions.command()
@click.argument("function")
@click.option("--code", "code_path", metavar="FILE", help="New code.")
@click.option("--settings-schema", "schema_path", metavar="FILE", help="A new settings schema.")
@click.option("--description", help="A new description (makes no version).")
@json_option
def update(function: str, code_path: str | None, schema_path: str | None,
           description: str | None, as_json: bool) -> None:
    """Save FUNCTION: a new version when the code or the schema changed.

    Sources keep running their version until segfn deploy moves them.
    """
    body: dict[str, Any] = {}
    if code_path:
        body["code"] = read_code(code_path)
    if schema_path:
        body["settings_schema"] = read_schema(schema_path)
    if description is not None:
        body["description"] = description
    if not body:
        raise click.UsageError("give --code, --settings-schema or --description")
    with compiling(code_path):
        answer = connect().patch(f"/functions/{part(function)}", body)
    if as_json:
        print_json(answer)
    else:
        show_saved(answer, new_function=False)


@functions.command()
@click.argument("function")
@json_option
def versions(function: str, as_json: bool) -> None:
    """FUNCTION's versions, newest first (segfn functions show prints one's code)."""
    answer = connect().get(f"/functions/{part(function)}/versions")
    if as_json:
        print_json(answer)
        return
    table([(f"v{v['number']}", v["created_at"], v.get("created_by_name") or v["created_by"],
            v["code_sha256"][:12],
            describe_schema(v["settings_schema"])) for v in answer["versions"]],
          ("VERSION", "CREATED", "BY", "SHA256", "SETTINGS"))


@functions.command()
@click.argument("function")
@click.option("--version", type=click.IntRange(min=1), help="[default: the latest]")
@json_option
def show(function: str, version: int | None, as_json: bool) -> None:
    """Print the code of FUNCTION's latest version (or --version N).

    Redirect it to a file to get the handler back: segfn functions show github > github.py
    """
    client = connect()
    if version is None:
        version = client.get(f"/functions/{part(function)}")["latest_version"]
    answer = client.get(f"/functions/{part(function)}/versions/{version}")
    if as_json:
        print_json(answer)
    elif sys.stdout.isatty():
        # Someone else's code may hold escape sequences: harmless in a file, not on a terminal.
        for line in answer["code"].splitlines():
            click.echo(printable(line))
    else:
        click.echo(answer["code"], nl=False)


@functions.command()
@click.argument("function")
@click.option("--force", is_flag=True, help="Delete the sources that use it too.")
@json_option
def delete(function: str, force: bool, as_json: bool) -> None:
    """Delete FUNCTION and all its versions; refused while sources use it, unless --force.

    With --json, prints {"ok": true} (the API answers nothing).
    """
    connect().delete(f"/functions/{part(function)}", force="true" if force else "false")
    if as_json:
        print_json({"ok": True})
    else:
        click.echo(click.style("✓ deleted", fg="green", bold=True) + f" function "
                   f"{printable(function)}" + (" and its sources" if force else ""))
