"""The ``request`` a handler receives: body, headers and URL of one webhook delivery.

These objects are handed to sandboxed code, where names starting with ``_`` cannot be
reached: everything a handler may read is a public method or property, and all state
lives in ``_`` slots so that no public name leads to a mutable internal or a module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from segfn.errors import BodyError

_Pairs = Iterable[tuple[str, str]]


def _pairs(items: _Pairs | Mapping[str, str]) -> _Pairs:
    # A dict would otherwise iterate over its keys and fail far from the mistake.
    return items.items() if isinstance(items, Mapping) else items


class Headers:
    """Case-insensitive request headers, read like the Fetch API's ``Headers``."""

    __slots__ = ("_values",)

    def __init__(self, items: _Pairs | Mapping[str, str] = ()) -> None:
        values: dict[str, list[str]] = {}
        for name, value in _pairs(items):
            values.setdefault(name.lower(), []).append(value)
        self._values = values

    def get(self, name: str, default: str | None = None) -> str | None:
        """Every value of ``name`` joined with ``", "``, or ``default``."""
        values = self._values.get(name.lower())
        return ", ".join(values) if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._values.get(name.lower(), ()))

    def has(self, name: str) -> bool:
        return name.lower() in self._values

    def keys(self) -> list[str]:
        return list(self._values)

    def items(self) -> list[tuple[str, str]]:
        """``(lower-case name, joined value)`` once per name, in first-seen order."""
        return [(name, ", ".join(values)) for name, values in self._values.items()]

    def to_dict(self) -> dict[str, str]:
        return dict(self.items())

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.has(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


class _MultiValues:
    """Name/value pairs where a name may repeat; plain lookups give the first value."""

    __slots__ = ("_pairs", "_values")

    def __init__(self, pairs: _Pairs = ()) -> None:
        self._pairs = [(name, value) for name, value in pairs]
        values: dict[str, list[str]] = {}
        for name, value in self._pairs:
            values.setdefault(name, []).append(value)
        self._values = values

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._values.get(name)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._values.get(name, ()))

    def has(self, name: str) -> bool:
        return name in self._values

    def keys(self) -> list[str]:
        """Each name once, in first-seen order."""
        return list(self._values)

    def to_dict(self) -> dict[str, str]:
        """``{name: first value}``."""
        return {name: values[0] for name, values in self._values.items()}

    def __getitem__(self, name: str) -> str:
        values = self._values.get(name)
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._pairs!r})"


class FormData(_MultiValues):
    """An ``application/x-www-form-urlencoded`` body; iterates over its names."""

    __slots__ = ()

    def items(self) -> list[tuple[str, str]]:
        """``(name, first value)`` once per name."""
        return list(self.to_dict().items())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._values)


class SearchParams(_MultiValues):
    """A URL's query, read like JavaScript's ``URLSearchParams``: iterates over pairs."""

    __slots__ = ()

    def __init__(self, query: str = "") -> None:
        super().__init__(parse_qsl(query.removeprefix("?"), keep_blank_values=True))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)


class URL:
    """An absolute URL split into parts, named as in JavaScript's ``URL`` where they meet."""

    __slots__ = ("_href", "_scheme", "_hostname", "_port", "_path", "_query", "_params")

    def __init__(self, href: str) -> None:
        if not isinstance(href, str):
            raise TypeError(f"URL expects a string, got {type(href).__name__}")
        try:
            parts = urlsplit(href)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"invalid URL {href!r}: {exc}") from None
        if not parts.scheme or not parts.hostname:
            raise ValueError(
                f"invalid URL {href!r}: expected an absolute URL like http://host/path"
            )
        hostname = parts.hostname
        # As in JavaScript, an IPv6 hostname keeps its brackets so that host reads back.
        if ":" in hostname:
            hostname = f"[{hostname}]"
        self._href = href
        self._scheme = parts.scheme
        self._hostname = hostname
        self._port = "" if port is None else str(port)
        self._path = parts.path or "/"
        self._query = parts.query
        self._params = SearchParams(parts.query)

    @property
    def href(self) -> str:
        return self._href

    @property
    def scheme(self) -> str:
        return self._scheme

    @property
    def hostname(self) -> str:
        return self._hostname

    @property
    def port(self) -> str:
        """The port as written, ``""`` when the URL names none."""
        return self._port

    @property
    def host(self) -> str:
        """The hostname, plus ``:port`` when the URL names one."""
        return f"{self._hostname}:{self._port}" if self._port else self._hostname

    @property
    def path(self) -> str:
        return self._path

    @property
    def query(self) -> str:
        """The query string without its ``?``."""
        return self._query

    @property
    def search_params(self) -> SearchParams:
        return self._params

    @property
    def searchParams(self) -> SearchParams:
        """``search_params`` under its JavaScript name, for handlers ported from JavaScript."""
        return self._params

    def __str__(self) -> str:
        return self._href

    def __repr__(self) -> str:
        return f"URL({self._href!r})"


def _sorted_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # dict() first, so a repeated key keeps its last value as json.loads does.
    return dict(sorted(dict(pairs).items()))


def _reject_constant(name: str) -> Any:
    raise BodyError(f"request body is not JSON: {name} is not a JSON value")


# Made once: ``json.loads`` with any option makes a new decoder on every call.
_DECODERS = {
    alphabetize: json.JSONDecoder(
        object_pairs_hook=_sorted_object if alphabetize else None,
        parse_constant=_reject_constant,
    )
    for alphabetize in (False, True)
}


class Request:
    """One webhook delivery: its method (``"POST"``, or ``"GET"`` where a source takes
    GET for a URL verification), exact body, headers and URL."""

    __slots__ = ("_body", "_headers", "_url", "_alphabetize", "_method")

    def __init__(
        self,
        raw_body: bytes,
        headers: Headers | _Pairs | Mapping[str, str],
        url: str | URL,
        *,
        alphabetize: bool = False,
        method: str = "POST",
    ) -> None:
        self._method = str(method)
        self._body = bytes(raw_body)
        self._headers = headers if isinstance(headers, Headers) else Headers(headers)
        # Parsed when first asked for: most handlers never look at it.
        self._url: str | URL = url
        self._alphabetize = bool(alphabetize)

    @property
    def method(self) -> str:
        return self._method

    @property
    def raw_body(self) -> bytes:
        """The body exactly as received, for signature checks."""
        return self._body

    @property
    def headers(self) -> Headers:
        return self._headers

    @property
    def url(self) -> URL:
        if isinstance(self._url, str):
            self._url = URL(self._url)
        return self._url

    def json(self) -> Any:
        """The body parsed as JSON; raises ``BodyError`` when it is not UTF-8 JSON."""
        if not self._body:
            raise BodyError("request body is empty, expected JSON")
        try:
            # utf-8-sig: a leading byte order mark is tolerated, as JSON parsers may.
            text = self._body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BodyError(
                f"request body is not valid UTF-8: {exc.reason} at byte {exc.start}"
            ) from None
        try:
            return _DECODERS[self._alphabetize].decode(text)
        except json.JSONDecodeError as exc:
            raise BodyError(
                f"request body is not JSON: {exc.msg} at character {exc.pos}"
            ) from None
        except RecursionError:
            raise BodyError("request body is not JSON: nested too deeply") from None
        except BodyError:
            raise
        except ValueError as exc:  # e.g. an integer over Python's digit limit
            raise BodyError(f"request body is not JSON: {exc}") from None

    def text(self) -> str:
        """The body decoded with the Content-Type's charset, UTF-8 when it names none."""
        content_type = next(iter(self._headers.get_all("content-type")), "")
        charset = _charset(content_type) or "utf-8"
        try:
            return self._body.decode(charset)
        except LookupError:
            raise BodyError(f"request body has an unknown charset {charset!r}") from None
        except UnicodeDecodeError as exc:
            raise BodyError(
                f"request body is not valid {charset}: {exc.reason} at byte {exc.start}"
            ) from None

    def form(self) -> FormData:
        """The body parsed as ``application/x-www-form-urlencoded`` (UTF-8)."""
        try:
            text = self._body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise BodyError(f"request form body is not valid UTF-8: {exc.reason}") from None
        return FormData(pairs)

    def __repr__(self) -> str:
        return f"<Request {self._method} {self.url.href} {len(self._body)} bytes>"


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').strip() or None
    return None
