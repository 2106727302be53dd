"""``segfn deploy``, ``segfn rollback`` and ``segfn test``: versions onto sources, and trials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from segfn.cli.files import read_json, read_settings
from segfn.cli.functions import show_saved
from segfn.cli.invoke import FAILED, NOT_REACHED
from segfn.cli.output import print_json, printable, show_result
from segfn.cli.remote import (
    Client,
    RemoteError,
    compiling,
    connect,
    json_option,
    names,
    part,
    read_code,
    read_schema,
)
from segfn.cli.shadow import end_shadow, start_shadow
from segfn.payloads import PayloadError, parse_payload
from segfn.sandbox.invocation import Result


def _save(client: Client, path: Path, name: str, schema_path: str | None,
          description: str | None) -> tuple[dict[str, Any], bool]:
    """Create function ``name`` from the file, or save it as a new version: (answer, created)."""
    body: dict[str, Any] = {"code": read_code(str(path), "TARGET")}
    if schema_path:
        body["settings_schema"] = read_schema(schema_path)
    if description is not None:
        body["description"] = description
    try:
        client.get(f"/functions/{part(name)}")
    except RemoteError as exc:
        if exc.type != "NotFound":
            raise
        with compiling(str(path)):
            return client.post("/functions", {"name": name, **body}), True
    with compiling(str(path)):
        return client.patch(f"/functions/{part(name)}", body), False


def show_deployed(deployed: list[dict[str, Any]]) -> None:
    if not deployed:
        click.echo("  no source runs this function (connect one with segfn sources connect)")
    for source in deployed:
        click.echo(click.style("  ✓ ", fg="green", bold=True)
                   + f"source {click.style(printable(source['name']), bold=True)} now runs "
                   f"version {source['version']}")


@click.command(short_help="Save a handler file as a version; deploy versions to sources.")
@click.argument("target")
@click.option("--to", "to", multiple=True, metavar="SOURCE",
              help="A source to deploy to, by id or name; repeat it or separate with "
                   "commas; 'all' for every source of the function.")
@click.option("--version", type=click.IntRange(min=1),
              help="The version to deploy when TARGET is a function [default: the latest].")
@click.option("--name", help="With a file: the function's name [default: the file's stem].")
@click.option("--settings-schema", "schema_path", metavar="FILE",
              help="With a file: the settings schema, a JSON list of settings.")
@click.option("--description", help="With a file: the function's description.")
@click.option("--shadow", "shadow_of", metavar="SOURCE",
              help="Run the version on SOURCE's live deliveries too, beside the one it runs, "
                   "its output compared and discarded (see segfn shadow SOURCE).")
@click.option("--shadow-off", "shadow_off", metavar="SOURCE",
              help="End SOURCE's shadow deploy, printing how it compared.")
@json_option
def deploy(target: str, to: tuple[str, ...], version: int | None, name: str | None,
           schema_path: str | None, description: str | None, shadow_of: str | None,
           shadow_off: str | None, as_json: bool) -> None:
    """Save a handler file as a function version, or deploy a function's version to sources.

    \b
    TARGET a handler file (an existing path): create the function (named --name, else the
      file's stem) or save the file as its new version (unchanged when code and schema
      are), then deploy that version to the --to sources, if any.
    TARGET a function id or name: deploy its latest version (or --version N) to the --to
      sources, or to all its sources when --to is omitted.

    \b
    Examples:
      segfn deploy handler.py --name github --settings-schema schema.json
      segfn deploy handler.py --name github --to github-prod,github-staging
      segfn deploy github --version 3 --to all
      segfn deploy github --version 4 --shadow github-prod
      segfn deploy github --shadow-off github-prod

    --shadow SOURCE: the version (of a function TARGET) runs on SOURCE's live deliveries
    too, after each is answered, and is compared as segfn replay compares; nothing it
    emits is delivered or stored. --shadow-off SOURCE ends it.

    Deploying is all or nothing: if a source's settings do not satisfy the version's
    schema, no source moves. With --json: a file prints the save's answer plus
    "deployed" (a list of sources, empty without --to); a function prints the deploy's
    answer, {"deployed": [...]}.
    """
    targets = names(to)
    sources: str | list[str] = "all" if "all" in targets else targets
    path = Path(target)
    if shadow_of or shadow_off:
        if targets or path.is_file() or (shadow_of and shadow_off):
            raise click.UsageError("--shadow SOURCE and --shadow-off SOURCE each go alone "
                                   "with a function (not a file, not --to)")
        if shadow_off is not None:
            end_shadow(target, shadow_off, as_json)
        elif shadow_of is not None:
            start_shadow(target, version, shadow_of, as_json)
        return
    if path.is_file():
        if version is not None:
            raise click.UsageError("--version is for deploying a function; a file deploys "
                                   "the version it saves")
        client = connect()
        saved, created = _save(client, path, name or path.stem, schema_path, description)
        if not as_json:
            # Before deploying: if the deploy is refused, the version is saved all the same.
            show_saved(saved, new_function=created)
        deployed = (client.post(f"/functions/{part(saved['function']['id'])}/deploy",
                                {"version": saved["version"]["number"],
                                 "sources": sources})["deployed"]
                    if targets else [])
        if as_json:
            print_json({**saved, "deployed": deployed})
        elif targets:
            show_deployed(deployed)
        else:
            click.echo(click.style("  not deployed: add --to SOURCE (or --to all)", dim=True))
        return
    if name or schema_path or description is not None:
        raise click.UsageError(f"no file {target!r}: --name, --settings-schema and "
                               "--description only go with a handler file")
    body: dict[str, Any] = {"sources": sources or "all"}
    if version is not None:
        body["version"] = version
    answer = connect().post(f"/functions/{part(target)}/deploy", body)
    if as_json:
        print_json(answer)
    else:
        show_deployed(answer["deployed"])


@click.command(short_help="Make a source run another version of its function.")
@click.argument("source")
@click.argument("version", type=click.IntRange(min=1))
@json_option
def rollback(source: str, version: int, as_json: bool) -> None:
    """Make SOURCE run VERSION of its function (an older one, usually); others stay.

    With --json, prints the deploy's answer, {"deployed": [source]}.
    """
    client = connect()
    before = client.get(f"/sources/{part(source)}")
    answer = client.post(f"/functions/{part(before['function'])}/deploy",
                         {"version": version, "sources": [before["id"]]})
    if as_json:
        print_json(answer)
        return
    click.echo(click.style("✓ rolled back", fg="green", bold=True)
               + f" source {click.style(printable(before['name']), bold=True)}: version "
                 f"{before['version']} → {answer['deployed'][0]['version']}")


@click.command("test", short_help="Run a function once on the service's tester.")
@click.argument("function")
@click.option("--payload", "payload_path", required=True, metavar="FILE",
              help="A payload file: {\"payload\": {body, headers, queryParameters, url}, "
                   "\"settings\"}.")
@click.option("--version", type=click.IntRange(min=1), help="[default: the latest]")
@click.option("--settings", "settings_path", metavar="FILE",
              help="Setting values, a JSON object (merged over the payload's).")
@json_option
@click.pass_context
def test_command(ctx: click.Context, function: str, payload_path: str, version: int | None,
                 settings_path: str | None, as_json: bool) -> None:
    """Run FUNCTION once on the service's tester, as segfn invoke runs a file: nothing is
    delivered.

    Exits 0 when the handler succeeded, 1 when it failed, 2 when the request never reached
    it (the API refused it). With --json, prints the tester's answer: ok, messages,
    objects, logs (the first 4 KiB), logs_truncated, error, duration_ms.
    """
    document = read_json(payload_path, "--payload")
    try:
        settings = dict(parse_payload(document, payload_path).settings)
    except PayloadError as exc:
        raise click.BadParameter(str(exc), param_hint="--payload") from None
    if settings_path:
        settings.update(read_settings(settings_path))
    # Only the fields the API takes: a payload file may carry others (SPEC 12 ignores them).
    body: dict[str, Any] = {"payload": document["payload"], "settings": settings}
    if version is not None:
        body["version"] = version
    try:
        answer = connect().post(f"/functions/{part(function)}/test", body)
    except click.ClickException as exc:
        exc.show()
        ctx.exit(NOT_REACHED)
    if as_json:
        print_json(answer)
        if answer["error"]:
            click.echo(f"{answer['error']['type']}: {printable(answer['error']['message'])}",
                       err=True)
    else:
        show_result(Result.from_dict(answer), function)
        if answer.get("logs_truncated"):
            click.echo(click.style("  … (the tester keeps the first 4 KiB of logs)", dim=True))
    ctx.exit(0 if answer["ok"] else FAILED)
