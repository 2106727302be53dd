"""``segfn invoke``: run a handler once on one request, in the production sandbox."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import click

from segfn.cli.files import read_settings, read_text
from segfn.cli.output import fail, print_json, show_result
from segfn.payloads import NotAPayload, PayloadError, load_payload
from segfn.sandbox.cachestore import CacheStores
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.invocation import Job, new_invocation_id
from segfn.sandbox.modules import read_module_config
from segfn.sandbox.pool import BlockingPool, Limits
from segfn.sandbox.webhook import MAX_BODY_BYTES, RequestRefused, build_request

FAILED = 1
NOT_REACHED = 2

# An HTTP header name is a "token" (RFC 9110): no spaces, colons or other separators.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not _TOKEN.fullmatch(name):
        raise click.BadParameter(f"{text!r} is not 'Name: value'", param_hint="--header")
    if "\r" in value or "\n" in value:
        raise click.BadParameter(f"{text!r}: a header value is one line", param_hint="--header")
    return name, value.strip()


def _read_limited(stream: IO[bytes]) -> bytes:
    # One byte past the limit is enough to refuse the body, as the webhook would.
    return stream.read(MAX_BODY_BYTES + 1)


def _read_body(path: str) -> bytes:
    if path == "-":
        return _read_limited(sys.stdin.buffer)
    try:
        with open(path, "rb") as file:
            return _read_limited(file)
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}", param_hint="--body") from None


def _reason(kind: str, message: str) -> str:
    # A message often starts with the exception's class, which may be the type's name.
    return message if message.startswith(f"{kind}:") else f"{kind}: {message}"


def _module_config(ctx: click.Context, param: click.Parameter,
                   path: str | None) -> dict[str, list[str]]:
    if path is None:
        return {}
    try:
        return read_module_config(path)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


modules_option = click.option(
    "--modules", metavar="FILE", callback=_module_config,
    help="Extra modules handlers may import: a JSON object of module name to the names "
         "it exposes, e.g. {\"textwrap\": [\"dedent\"]}.")


@click.command()
@click.argument("handler_path", metavar="HANDLER.py",
                type=click.Path(exists=True, dir_okay=False))
@click.option("--payload", "payload_path", metavar="FILE",
              help="A payload file: {\"payload\": {body, headers, queryParameters, url}, "
                   "\"settings\"}; the other flags override its parts.")
@click.option("--body", "body_path", metavar="FILE", help="The request body ('-' for stdin).")
@click.option("--header", "headers", multiple=True, metavar="'Name: value'",
              help="A request header; repeat for more. Replaces the payload's header "
                   "of that name.")
@click.option("--content-type",
              help="The body's content type [default: the payload's, else application/json].")
@click.option("--query", help="The query string, as 'a=1&b=2'.")
@click.option("--method", type=click.Choice(["POST", "GET"], case_sensitive=False),
              default="POST", show_default=True,
              help="GET: as a source that takes GET (--allow-get) receives one, no body.")
@click.option("--url", help="The request URL [default: http://localhost/].")
@click.option("--settings", "settings_path", metavar="FILE",
              help="Setting values, a JSON object (merged over the payload's).")
@click.option("--invocation-id", help="Fix the invocation id, so messageIds are reproducible.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Wall-clock limit in seconds.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: ok, messages, objects, logs, error, duration_ms, "
                   "reply (nothing when the request never reached the handler).")
@modules_option
@click.pass_context
def invoke(ctx: click.Context, handler_path: str, payload_path: str | None,
           body_path: str | None, headers: tuple[str, ...], content_type: str | None,
           query: str | None, method: str, url: str | None, settings_path: str | None,
           invocation_id: str | None, timeout: float, as_json: bool,
           modules: dict[str, list[str]]) -> None:
    """Run HANDLER.py once on one request, as the webhook would.

    Exits 0 when the handler succeeded, 1 when it failed (whatever the error type,
    Retry and Timeout included), 2 when the request never reached it.
    """
    body: bytes | None = None
    pairs: list[tuple[str, str]] = []
    settings: dict[str, Any] = {}
    query_value: Any = query
    if payload_path:
        try:
            payload = load_payload(payload_path)
        except PayloadError as exc:
            hint = "; a request body alone goes in --body FILE" if isinstance(
                exc, NotAPayload) else ""
            raise click.BadParameter(f"{exc}{hint}", param_hint="--payload") from None
        body, pairs, settings = payload.body, payload.header_pairs(), dict(payload.settings)
        # A --url that carries its own query keeps it; an empty recorded query adds nothing.
        if query is None and payload.query and not (url and "?" in url):
            query_value = payload.query
        url = url or payload.url
    if body_path:
        body = _read_body(body_path)
    given = [_header(text) for text in headers]
    # A --header replaces every payload header of that name, whatever its case; several
    # --header flags with one name all go in, as repeated headers.
    replaced = {name.lower() for name, _ in given}
    pairs = [(k, v) for k, v in pairs if k.lower() not in replaced] + given
    if settings_path:
        settings.update(read_settings(settings_path))
    try:
        request = build_request(body, headers=pairs, query=query_value, url=url,
                                content_type=content_type, method=method.upper())
    except RequestRefused as exc:
        fail(f"the webhook would refuse this request ({exc.status} {exc.type}): {exc}")
        ctx.exit(NOT_REACHED)
    except ValueError as exc:  # a URL that is not absolute, a GET with a body
        hint = "--method" if str(exc).startswith("a GET") else "--url"
        raise click.BadParameter(str(exc), param_hint=hint) from None

    name = Path(handler_path).name
    handler = Handler(read_text(handler_path, "HANDLER.py"), name)
    try:
        pool = BlockingPool(size=1, limits=Limits(timeout=timeout), modules=modules)
    except RuntimeError as exc:  # the worker process died before it was ready
        fail(f"the sandbox could not start: {exc}")
        ctx.exit(NOT_REACHED)
    with tempfile.TemporaryDirectory(prefix="segfn-cache-") as directory, pool:
        # Each run starts with an empty cache (SPEC 4).
        caches = CacheStores(directory)
        job = Job(handler, request, settings, invocation_id or new_invocation_id())
        egress = Egress(EgressPolicy(allow_loopback=True))
        try:
            result = pool.invoke(job, egress, caches.answerer("invoke"))
        finally:
            # Closed on the pool's loop, where its fetches opened it (else aiohttp warns).
            pool.run(egress.aclose())
            pool.run(caches.close())
    if as_json:
        print_json(result.to_dict())
        if result.error:
            # stdout stays one JSON document; the reason is for whoever reads the terminal.
            click.echo(_reason(result.error.type, result.error.message), err=True)
    else:
        show_result(result, name)
    ctx.exit(0 if result.ok else FAILED)
