"""The commands that drive a ``segfn serve``: the saved login, an API client, shared bits.

The login is ``{"url", "token"}`` in ``$SEGFN_CONFIG_DIR/credentials.json`` (default
``$XDG_CONFIG_HOME/segfn``, else ``~/.config/segfn``), readable by its owner only.
``SEGFN_URL`` and ``SEGFN_TOKEN`` override it, each on its own.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote

import attrs
import click

from segfn.cli.files import read_json, read_text, write_private
from segfn.cli.output import fail, printable
from segfn.version import VERSION

API_PREFIX = "/api/v1"
CREDENTIALS_FILE = "credentials.json"
NOT_LOGGED_IN = "not logged in: run segfn login URL TOKEN first (or set SEGFN_URL and SEGFN_TOKEN)"

F = TypeVar("F", bound=Callable[..., Any])


def config_dir() -> Path:
    if configured := os.environ.get("SEGFN_CONFIG_DIR"):
        return Path(configured)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "segfn"


def service_url(url: str) -> str:
    """The service's base URL, as printed by ``segfn serve``; a pasted API URL works too."""
    url = url.strip().rstrip("/")
    return url.removesuffix(API_PREFIX).rstrip("/")


class RemoteError(click.ClickException):
    """Why a remote command stopped: the API's refusal (``error: type: message``), or no
    login, or no answer (``error: message``)."""

    def __init__(self, type: str | None, message: str, status: int | None = None) -> None:
        super().__init__(f"{type}: {message}" if type else message)
        self.type = type
        self.detail = message
        self.status = status

    def show(self, file: IO[Any] | None = None) -> None:
        fail(self.format_message())


@attrs.frozen
class Login:
    url: str
    token: str = attrs.field(repr=False)

    def __attrs_post_init__(self) -> None:
        # It goes into an HTTP header: a pasted stray character would fail deep in httpx.
        if not (self.token.isascii() and self.token.isprintable()) or " " in self.token:
            raise RemoteError(None, "the token has spaces or characters other than ASCII "
                                    "letters, digits and punctuation; check what was pasted")


def save_login(login: Login) -> Path:
    """Write the credentials file, mode 0600 from its first byte (never world-readable)."""
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / CREDENTIALS_FILE
    write_private(path, json.dumps({"url": login.url, "token": login.token}) + "\n")
    return path


def saved_login() -> dict[str, Any]:
    path = config_dir() / CREDENTIALS_FILE
    try:
        saved = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RemoteError(None, f"cannot read {path}: {exc}; run segfn login again") from None
    return saved if isinstance(saved, dict) else {}


def current_login() -> Login:
    """SEGFN_URL and SEGFN_TOKEN when set, else the saved login."""
    saved = saved_login()
    url = os.environ.get("SEGFN_URL") or saved.get("url")
    token = os.environ.get("SEGFN_TOKEN") or saved.get("token")
    if not isinstance(url, str) or not isinstance(token, str) or not url or not token:
        raise RemoteError(None, NOT_LOGGED_IN)
    return Login(service_url(url), token)


def logged_in_url() -> str | None:
    """The URL of the service logged in to, if any (a login that cannot be read: none)."""
    try:
        return current_login().url
    except RemoteError:
        return None


class Client:
    """A small synchronous client for ``/api/v1``; each call returns the decoded answer."""

    def __init__(self, login: Login, timeout: float = 60.0) -> None:
        # Imported here: every segfn command loads this module, few of them call a service.
        import httpx

        self.url = login.url
        try:
            self._http = httpx.Client(
                base_url=login.url + API_PREFIX, timeout=timeout,
                headers={"Authorization": f"Bearer {login.token}",
                         "User-Agent": f"segfn-cli/{VERSION}"})
        except httpx.InvalidURL as exc:
            raise RemoteError(None, f"invalid URL {login.url!r}: {exc}") from None

    def request(self, method: str, path: str, json: Any = None,
                params: dict[str, str] | None = None) -> Any:
        """The answer's JSON (None for 204); ``RemoteError`` for anything else."""
        import httpx

        try:
            response = self._http.request(method, path, json=json, params=params)
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise RemoteError(None, f"cannot reach {self.url}: {exc}") from None
        if response.status_code == 204:
            return None
        try:
            document = response.json()
        except ValueError:
            document = None
        if response.is_success and document is not None:
            return document
        error = document.get("error") if isinstance(document, dict) else None
        if isinstance(error, dict) and "type" in error:
            raise RemoteError(str(error["type"]), str(error.get("message", "")),
                              response.status_code)
        # Not a segfn service (a proxy's error page, a wrong URL): say what came back.
        raise RemoteError(f"HTTP {response.status_code}",
                          f"{method} {response.url} answered {response.text[:200]!r}",
                          response.status_code)

    def get(self, path: str, **params: str) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, json: Any) -> Any:
        return self.request("POST", path, json=json)

    def patch(self, path: str, json: Any) -> Any:
        return self.request("PATCH", path, json=json)

    def put(self, path: str, json: Any) -> Any:
        return self.request("PUT", path, json=json)

    def delete(self, path: str, **params: str) -> Any:
        return self.request("DELETE", path, params=params or None)


def part(ref: str | int) -> str:
    """A function, source or token reference as one path segment, whatever it contains."""
    return quote(str(ref), safe="")


def connect() -> Client:
    """A client for the logged-in service."""
    return Client(current_login())


# The service compiles code as NAME.py, the function's name; its messages start with it.
_COMPILED_AS = re.compile(r"^[^\s:]+\.py(?=:)")


@contextmanager
def compiling(path: str | None) -> Iterator[None]:
    """Compile errors of code read from ``path`` name ``path``, not the service's NAME.py."""
    try:
        yield
    except RemoteError as exc:
        if exc.type != "CompileError" or path is None:
            raise
        raise RemoteError(exc.type, _COMPILED_AS.sub(lambda _: path, exc.detail),
                          exc.status) from None


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the API's JSON answer as is.")(command)


def read_code(path: str, option: str = "--code") -> str:
    return read_text(path, option)


def read_schema(path: str) -> list[Any]:
    schema = read_json(path, "--settings-schema")
    if not isinstance(schema, list):
        raise click.BadParameter(f"{path}: expected a JSON list of settings",
                                 param_hint="--settings-schema")
    return schema


def names(values: Sequence[str]) -> list[str]:
    """Repeated options that may also be comma-separated (names never contain commas)."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    """Aligned columns, the header dimmed; cells are shown with control characters escaped."""
    cells = [[printable(str(cell)) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo(click.style(line.rstrip(), dim=True) if index == 0 else line.rstrip())
