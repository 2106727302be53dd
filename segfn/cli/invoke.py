"""``segfn invoke``: run a handler once on one request, in the production sandbox."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from segfn.cli.output import fail, print_json, show_result
from segfn.compiler import Handler
from segfn.egress import Egress, EgressPolicy
from segfn.invocation import Job, new_invocation_id
from segfn.payloads import PayloadError, load_payload
from segfn.pool import BlockingPool, Limits
from segfn.webhook import RequestRefused, build_request

NOT_REACHED = 2


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise click.BadParameter(f"{text!r} is not 'Name: value'", param_hint="--header")
    return name.strip(), value.strip()


def _read_body(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}", param_hint="--body") from None


def read_settings(path: str) -> dict[str, Any]:
    """A settings file: one JSON object of setting values."""
    try:
        settings = json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}", param_hint="--settings") from None
    except ValueError as exc:
        raise click.BadParameter(f"{path}: not valid JSON: {exc}",
                                 param_hint="--settings") from None
    if not isinstance(settings, dict):
        raise click.BadParameter(f"{path}: expected a JSON object", param_hint="--settings")
    return settings


@click.command()
@click.argument("handler_path", metavar="HANDLER.py",
                type=click.Path(exists=True, dir_okay=False))
@click.option("--payload", "payload_path", metavar="FILE",
              help="A payload file: {\"payload\": {body, headers, query}, \"settings\"}.")
@click.option("--body", "body_path", metavar="FILE", help="The request body ('-' for stdin).")
@click.option("--header", "headers", multiple=True, metavar="'Name: value'",
              help="A request header; repeat for more.")
@click.option("--content-type", help="The body's content type [default: application/json].")
@click.option("--query", help="The query string, as 'a=1&b=2'.")
@click.option("--url", help="The request URL [default: http://localhost/].")
@click.option("--settings", "settings_path", metavar="FILE",
              help="Setting values, a JSON object.")
@click.option("--invocation-id", help="Fix the invocation id, so messageIds are reproducible.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Wall-clock limit in seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def invoke(handler_path: str, payload_path: str | None, body_path: str | None,
           headers: tuple[str, ...], content_type: str | None, query: str | None,
           url: str | None, settings_path: str | None, invocation_id: str | None,
           timeout: float, as_json: bool) -> None:
    """Run HANDLER.py once on one request, as the webhook would.

    Exits 0 when the handler succeeded, 1 when it failed, 2 when the request never
    reached it.
    """
    body: bytes | None = None
    header_map: dict[str, str] = {}
    settings: dict[str, Any] = {}
    query_value: Any = query
    if payload_path:
        try:
            payload = load_payload(payload_path)
        except PayloadError as exc:
            raise click.BadParameter(str(exc), param_hint="--payload") from None
        body, header_map, settings = payload.body, dict(payload.headers), dict(payload.settings)
        url = url or payload.url
        if query_value is None:
            query_value = payload.query
    if body_path:
        body = _read_body(body_path)
    lowered = {k.lower(): k for k in header_map}
    for name, value in map(_header, headers):
        header_map.pop(lowered.get(name.lower(), name), None)
        header_map[name] = value
    if settings_path:
        settings.update(read_settings(settings_path))
    try:
        request = build_request(body, headers=header_map, query=query_value, url=url,
                                content_type=content_type)
    except RequestRefused as exc:
        fail(f"the webhook would refuse this request ({exc.status}): {exc}")
        sys.exit(NOT_REACHED)

    source = Path(handler_path).read_text("utf-8")
    with tempfile.TemporaryDirectory(prefix="segfn-cache-") as cache_dir, \
            BlockingPool(size=1, limits=Limits(timeout=timeout)) as pool:
        job = Job(Handler(source, Path(handler_path).name), request, settings,
                  invocation_id or new_invocation_id(), cache_dir=cache_dir)
        result = pool.invoke(job, Egress(EgressPolicy(allow_loopback=True)))
    if as_json:
        print_json(result.to_dict())
        if result.error:
            click.echo(f"{result.error.type}: {result.error.message}", err=True)
    else:
        show_result(result, Path(handler_path).name)
    sys.exit(0 if result.ok else 1)
