"""``segfn tokens``: the workspace's API tokens (Workspace Owner only)."""

from __future__ import annotations

from typing import Any

import click

from runner.service.access import FUNCTION_ROLES, ROLES
from segfn.cli.login import describe_roles
from segfn.cli.output import print_json, printable
from segfn.cli.remote import connect, json_option, part, table


def parse_role(text: str) -> dict[str, Any]:
    """``functions_read:github,stripe`` → a grant of those functions; a bare role covers all."""
    role, sep, listed = text.partition(":")
    if role not in ROLES:
        raise click.BadParameter(f"unknown role {role!r}; roles are {', '.join(ROLES)}",
                                 param_hint="--role")
    if not sep:
        return {"role": role, "functions": None}
    functions = [name.strip() for name in listed.split(",") if name.strip()]
    if role not in FUNCTION_ROLES or not functions:
        raise click.BadParameter(f"{text!r}: only {' and '.join(FUNCTION_ROLES)} take a list of "
                                 "functions, as ROLE:F1,F2", param_hint="--role")
    return {"role": role, "functions": functions}


@click.group(short_help="API tokens of the service: create, list, revoke.")
def tokens() -> None:
    """API tokens of the logged-in workspace: create, list, revoke (Workspace Owner only)."""


@tokens.command()
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, metavar="ROLE[:F1,F2]",
              help="A role, repeatable: workspace_owner, source_admin, functions_admin or "
                   "functions_read; the functions roles cover every function, or those "
                   "listed after a colon (ids or names).")
@json_option
def create(name: str, roles: tuple[str, ...], as_json: bool) -> None:
    """Create token NAME; prints its secret, shown this once, alone on the last line.

    \b
    Example:
      segfn tokens create ci --role functions_admin:github,stripe --role source_admin
    """
    grants = [parse_role(text) for text in roles]
    answer = connect().post("/tokens", {"name": name, "roles": grants})
    if as_json:
        print_json(answer)
        return
    token = answer["token"]
    click.echo(click.style("✓ created", fg="green", bold=True)
               + f" token {click.style(printable(token['name']), bold=True)} ({token['id']}) "
                 f"with roles {describe_roles(grants)}; its secret, shown this once:")
    click.echo(answer["secret"])


@tokens.command("list")
@click.option("--all", "show_all", is_flag=True,
              help="Revoked tokens too (--json always lists them).")
@json_option
def list_tokens(show_all: bool, as_json: bool) -> None:
    """The workspace's tokens (never their secrets)."""
    client = connect()
    answer = client.get("/tokens")
    if as_json:
        print_json(answer)
        return
    function_names = {f["id"]: f["name"] for f in client.get("/functions")["functions"]}
    shown = [t for t in answer["tokens"] if show_all or t["revoked_at"] is None]
    table([(t["id"], t["name"], describe_roles(t["roles"], function_names), t["created_at"],
            t["last_used_at"] or "never", t["revoked_at"] or "-") for t in shown],
          ("ID", "NAME", "ROLES", "CREATED", "LAST USED", "REVOKED"))


@tokens.command()
@click.argument("token_id", metavar="ID")
@json_option
def revoke(token_id: str, as_json: bool) -> None:
    """Revoke token ID (tok_…): it stops working at once. With --json, prints {"ok": true}."""
    connect().delete(f"/tokens/{part(token_id)}")
    if as_json:
        print_json({"ok": True})
    else:
        click.echo(click.style("✓ revoked", fg="green", bold=True)
                   + f" token {printable(token_id)}")
