"""``segfn sources``: deployed instances of functions, each with settings and a webhook URL."""

from __future__ import annotations

import json
from typing import Any

import click

from runner.captures import MAX_DAYS
from segfn.cli.files import read_settings
from segfn.cli.output import print_json, printable
from segfn.cli.remote import Client, F, RemoteError, connect, json_option, part, table


def _pair(text: str, option: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"{text!r} is not NAME=VALUE", param_hint=option)
    return name, value


def setting_values(settings_path: str | None, set_json: tuple[str, ...],
                   set_text: tuple[str, ...]) -> dict[str, Any]:
    """The values given by --settings, --set-json and --set, in that order."""
    values = read_settings(settings_path) if settings_path else {}
    for text in set_json:
        name, raw = _pair(text, "--set-json")
        try:
            values[name] = json.loads(raw)
        except ValueError as exc:
            raise click.BadParameter(f"{name}: {raw!r} is not JSON ({exc}); use --set for "
                                     "a string", param_hint="--set-json") from None
    values.update(_pair(text, "--set") for text in set_text)
    return values


def setting_options(command: F) -> F:
    """--settings FILE, --set-json NAME=JSON and --set NAME=VALUE (see setting_values)."""
    command = click.option("--set", "set_text", multiple=True, metavar="NAME=VALUE",
                           help="A setting's value, always a string.")(command)
    command = click.option("--set-json", multiple=True, metavar="NAME=JSON",
                           help="A setting's value as JSON: 3, true, [\"a\"], "
                                "{\"k\": \"v\"}.")(command)
    return click.option("--settings", "settings_path", metavar="FILE",
                        help="Setting values, a JSON object.")(command)


_ALLOW_GET_HELP = ("Let GET reach the handler too, for providers that verify a URL so "
                   "[default: POST only].")
_capture_option = click.option(
    "--capture-days", type=click.IntRange(0, MAX_DAYS), metavar="N",
    help="Keep each delivery N days, encrypted, for segfn deliveries and segfn replay (the "
         "service needs its secret key); 0: keep none [default: 0].")
_DEDUP_HELP = ("A header in which the provider names each delivery: a redelivery within "
               "24 h is answered, not run again (webhook-id, X-GitHub-Delivery, "
               "X-Shopify-Webhook-Id and Idempotency-Key always are).")


def function_name(client: Client, function_id: str) -> str:
    try:
        return client.get(f"/functions/{part(function_id)}")["name"]
    except RemoteError:
        return function_id


def describe_secrets(source: dict[str, Any]) -> str:
    return ", ".join(f"{name}: {state}" for name, state in source["secrets"].items()) or "-"


def show_source(source: dict[str, Any], function: str) -> None:
    """A source in a few lines, its webhook URL last, alone, for scripts to take."""
    state = (click.style("paused", fg="yellow", bold=True) if source["paused"]
             else click.style("running", fg="green"))
    click.echo(f"  function   {printable(function)} version {source['version']}  ({state})")
    click.echo(f"  settings   {printable(json.dumps(source['settings'], ensure_ascii=False))}")
    click.echo(f"  secrets    {printable(describe_secrets(source))}")
    click.echo("  write key  " + ("its own" if source["write_key"] else "the service's"))
    click.echo("  methods    " + ("POST, GET" if source.get("allow_get") else "POST"))
    days = source.get("capture_days", 0)
    click.echo("  captures   " + (f"kept {days} days" if days else "none kept"))
    if source.get("dedup_header"):
        click.echo(f"  dedup      also by {printable(source['dedup_header'])}")
    click.echo(click.style("webhook URL:", bold=True))
    click.echo(click.style(source["webhook_url"], fg="cyan", bold=True))


def _done(verb: str | None, source: dict[str, Any], client: Client, as_json: bool) -> None:
    if as_json:
        print_json(source)
        return
    title = f"source {click.style(printable(source['name']), bold=True)} ({source['id']})"
    click.echo(click.style(f"✓ {verb} ", fg="green", bold=True) + title if verb else title)
    show_source(source, function_name(client, source["function"]))


@click.group(short_help="Sources of the service: connect, configure, pause, resume.")
def sources() -> None:
    """Sources of the logged-in workspace: connect, configure, pause, resume, delete.

    SOURCE is a source's id or name.
    """


@sources.command("list")
@json_option
def list_sources(as_json: bool) -> None:
    """Every source: its function and version, state, secrets and webhook URL."""
    client = connect()
    answer = client.get("/sources")
    if as_json:
        print_json(answer)
        return
    if not answer["sources"]:
        click.echo("no sources (connect one with segfn sources connect)")
        return
    names = {f["id"]: f["name"] for f in client.get("/functions")["functions"]}
    table([(s["name"], names.get(s["function"], s["function"]), f"v{s['version']}",
            "paused" if s["paused"] else "running", describe_secrets(s), s["webhook_url"])
           for s in answer["sources"]],
          ("NAME", "FUNCTION", "VERSION", "STATE", "SECRETS", "WEBHOOK URL"))


@sources.command("connect")
@click.argument("name")
@click.option("--function", "function_ref", required=True, metavar="FUNCTION",
              help="The function it runs, by id or name.")
@click.option("--version", type=click.IntRange(min=1), help="[default: the latest]")
@setting_options
@click.option("--write-key", help="Deliver its events with this write key "
                                  "[default: the service's].")
@click.option("--allow-get/--no-allow-get", default=None, help=_ALLOW_GET_HELP)
@_capture_option
@click.option("--dedup-header", metavar="NAME", help=_DEDUP_HELP)
@json_option
def connect_source(name: str, function_ref: str, version: int | None,
                   settings_path: str | None, set_json: tuple[str, ...],
                   set_text: tuple[str, ...], write_key: str | None, allow_get: bool | None,
                   capture_days: int | None, dedup_header: str | None,
                   as_json: bool) -> None:
    """Connect source NAME running a function; prints its webhook URL, alone on the last line.

    \b
    Setting values, later ones winning: --settings FILE (a JSON object), then each
    --set-json NAME=JSON (any JSON value), then each --set NAME=VALUE (always a string,
    taken literally: --set retries=3 is "3", --set-json retries=3 is 3).
    """
    body: dict[str, Any] = {"name": name, "function": function_ref,
                            "settings": setting_values(settings_path, set_json, set_text)}
    if version is not None:
        body["version"] = version
    if write_key is not None:
        body["write_key"] = write_key
    if allow_get is not None:
        body["allow_get"] = allow_get
    if capture_days is not None:
        body["capture_days"] = capture_days
    if dedup_header is not None:
        body["dedup_header"] = dedup_header
    client = connect()
    _done("connected", client.post("/sources", body), client, as_json)


@sources.command()
@click.argument("source")
@setting_options
@click.option("--unset", multiple=True, metavar="NAME", help="Remove a setting's value.")
@click.option("--write-key", help="Deliver its events with this write key.")
@click.option("--default-write-key", is_flag=True,
              help="Go back to the service's write key.")
@click.option("--allow-get/--no-allow-get", default=None, help=_ALLOW_GET_HELP)
@_capture_option
@click.option("--dedup-header", metavar="NAME", help=_DEDUP_HELP)
@click.option("--no-dedup-header", is_flag=True, help="Name no header of its own any more.")
@json_option
def configure(source: str, settings_path: str | None, set_json: tuple[str, ...],
              set_text: tuple[str, ...], unset: tuple[str, ...], write_key: str | None,
              default_write_key: bool, allow_get: bool | None, capture_days: int | None,
              dedup_header: str | None, no_dedup_header: bool, as_json: bool) -> None:
    """Change SOURCE's setting values, write key or methods; what is not named stays as
    it is.

    The new values are checked against the schema of the version the source runs.

    \b
    Setting values, later ones winning: --settings FILE (a JSON object), then each
    --set-json NAME=JSON (any JSON value), then each --set NAME=VALUE (always a string),
    then each --unset NAME.
    """
    body: dict[str, Any] = {}
    values: dict[str, Any] = setting_values(settings_path, set_json, set_text)
    values.update(dict.fromkeys(unset))
    if values:
        body["settings"] = values
    if write_key is not None and default_write_key:
        raise click.UsageError("give --write-key or --default-write-key, not both")
    if write_key is not None or default_write_key:
        body["write_key"] = write_key
    if allow_get is not None:
        body["allow_get"] = allow_get
    if capture_days is not None:
        body["capture_days"] = capture_days
    if dedup_header is not None and no_dedup_header:
        raise click.UsageError("give --dedup-header or --no-dedup-header, not both")
    if dedup_header is not None or no_dedup_header:
        body["dedup_header"] = dedup_header
    if not body:
        raise click.UsageError("nothing to change: give --settings, --set, --set-json, "
                               "--unset, --write-key, --default-write-key, "
                               "--[no-]allow-get, --capture-days or --[no-]dedup-header")
    client = connect()
    _done("configured", client.patch(f"/sources/{part(source)}", body), client, as_json)


@sources.command()
@click.argument("source")
@json_option
def show(source: str, as_json: bool) -> None:
    """SOURCE's function, version, settings, secrets and webhook URL."""
    client = connect()
    _done(None, client.get(f"/sources/{part(source)}"), client, as_json)


@sources.command()
@click.argument("source")
@json_option
def pause(source: str, as_json: bool) -> None:
    """Pause SOURCE: its webhook answers 503 with Retry-After, so senders keep deliveries."""
    client = connect()
    _done("paused", client.patch(f"/sources/{part(source)}", {"paused": True}), client,
          as_json)


@sources.command()
@click.argument("source")
@json_option
def resume(source: str, as_json: bool) -> None:
    """Resume SOURCE: its webhook runs the function again."""
    client = connect()
    _done("resumed", client.patch(f"/sources/{part(source)}", {"paused": False}), client,
          as_json)


@sources.command()
@click.argument("source")
@json_option
def delete(source: str, as_json: bool) -> None:
    """Delete SOURCE; its webhook URL stops working. With --json, prints {"ok": true}."""
    connect().delete(f"/sources/{part(source)}")
    if as_json:
        print_json({"ok": True})
    else:
        click.echo(click.style("✓ deleted", fg="green", bold=True)
                   + f" source {printable(source)}")
