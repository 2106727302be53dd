"""``segfn login`` and ``segfn logout``: the service the remote commands talk to."""

from __future__ import annotations

import sys
from typing import Any

import click

from segfn.cli.output import print_json, printable
from segfn.cli.remote import (
    CREDENTIALS_FILE,
    Client,
    Login,
    config_dir,
    json_option,
    save_login,
    service_url,
)


def describe_roles(roles: list[dict[str, Any]], function_names: dict[str, str] | None = None
                   ) -> str:
    """``functions_read:github,stripe, source_admin``: the roles as ``--role`` takes them."""
    shown = []
    for grant in roles:
        functions = grant.get("functions")
        if functions is None:
            shown.append(grant["role"])
        else:
            listed = ",".join((function_names or {}).get(f, f) for f in functions)
            shown.append(f"{grant['role']}:{listed}")
    return ", ".join(shown)


@click.command(short_help="Log in to a segfn serve with an API token.")
@click.argument("url")
@click.argument("token")
@json_option
def login(url: str, token: str, as_json: bool) -> None:
    """Check TOKEN against the service at URL, then save both for the remote commands.

    URL is the service's base URL as segfn serve prints it (http://HOST:PORT). Give TOKEN
    as '-' to read it from stdin and keep it out of the shell's history. The login is kept
    in $SEGFN_CONFIG_DIR/credentials.json (default ~/.config/segfn/), readable by you
    only; SEGFN_URL and SEGFN_TOKEN, when set, are used instead. With --json, prints the
    answer of GET /api/v1/whoami.
    """
    if token == "-":
        token = sys.stdin.readline()
    token = token.strip()
    url = service_url(url)
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} does not start with http:// or https://",
                                 param_hint="URL")
    login = Login(url, token)
    who = Client(login).get("/whoami")
    path = save_login(login)
    if as_json:
        print_json(who)
        return
    workspace, me = who["workspace"], who["token"]
    click.echo(click.style("✓ logged in", fg="green", bold=True) + f" to {printable(url)}")
    click.echo(f"  workspace  {printable(workspace['name'])} ({workspace['id']})")
    click.echo(f"  token      {printable(me['name'])} ({me['id']})")
    click.echo(f"  roles      {describe_roles(me['roles'])}")
    click.echo(click.style(f"  saved in {path}", dim=True))


@click.command(short_help="Forget the saved login.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"removed": FILE}, or {"removed": null} when not logged in.')
def logout(as_json: bool) -> None:
    """Forget the saved login (the token stays valid: revoke it with segfn tokens revoke)."""
    path = config_dir() / CREDENTIALS_FILE
    removed = path.exists()
    if removed:
        path.unlink()
    if as_json:
        print_json({"removed": str(path) if removed else None})
    else:
        click.echo(f"removed {path}" if removed else "not logged in")
