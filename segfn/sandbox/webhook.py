"""What a webhook accepts, and building the request it would receive.

The runner, ``segfn invoke`` and the pytest plugin all build requests here, so a request
that the deployed webhook would refuse is refused the same way everywhere.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from segfn.request import URL
from segfn.sandbox.invocation import HttpRequest

MAX_BODY_BYTES = 512 * 1024
# A sender that stalls this long while sending the body is answered 408.
STALL_SECONDS = 30.0
# A connection that has not sent its first request's headers in this long is closed, and
# past this many connections at once requests are answered 503 (runner/server.py).
HEADER_TIMEOUT = 10.0
MAX_CONNECTIONS = 512
ACCEPTED_CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")
DEFAULT_URL = "http://localhost/"


HeaderValue = str | Sequence[str]


class RequestRefused(ValueError):
    """The webhook would refuse this request before running the handler."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def check_content_type(content_type: str | None) -> None:
    if media_type(content_type) not in ACCEPTED_CONTENT_TYPES:
        shown = content_type or "none"
        raise RequestRefused(415, "UnsupportedMediaType",
                             f"content type {shown!r} is not accepted; send "
                             + " or ".join(ACCEPTED_CONTENT_TYPES))


def check_size(size: int, limit: int = MAX_BODY_BYTES) -> None:
    if size > limit:
        raise RequestRefused(413, "PayloadTooLarge",
                             f"request body is over the limit of {limit} bytes")


def header_pairs(headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]]
                 ) -> list[tuple[str, str]]:
    """Headers as ``(name, value)`` pairs; a mapping's list value gives one pair per item.

    Payload files record most headers as lists of values, so a mapping may hold either.
    """
    if not isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers]
    pairs: list[tuple[str, str]] = []
    for name, value in headers.items():
        values = [value] if isinstance(value, str | bytes) or not isinstance(
            value, Sequence) else value
        pairs.extend((str(name), str(v)) for v in values)
    return pairs


def build_request(body: bytes | str | None = None, *, json: Any = None,
                  data: Mapping[str, Any] | Iterable[tuple[str, str]] | None = None,
                  headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]] = (),
                  query: str | Mapping[str, Any] | None = None, url: str | None = None,
                  content_type: str | None = None,
                  max_body: int = MAX_BODY_BYTES) -> HttpRequest:
    """A delivery as the webhook would receive it, checked as the webhook checks it.

    Give the body one way: raw ``body``, ``json=`` (sent as ``json.dumps``) or ``data=``
    (a form). The content type comes from ``content_type``, else the headers, else the
    body's kind. A header mapping may give a list of values for a repeated header.
    Raises ``RequestRefused`` for a body or content type the webhook refuses, and
    ``ValueError`` for a URL that is not absolute.
    """
    if sum(x is not None for x in (body, json, data)) > 1:
        raise ValueError("give the body as body=, json= or data=, not several")
    pairs = header_pairs(headers)
    if data is not None:
        body = urlencode(list(data.items()) if isinstance(data, Mapping) else list(data),
                         doseq=True)
        implied = "application/x-www-form-urlencoded"
    else:
        if json is not None:
            body = jsonlib.dumps(json)
        implied = "application/json"
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    given = next((v for k, v in pairs if k.lower() == "content-type"), None)
    chosen = content_type or given or implied
    pairs = [(k, v) for k, v in pairs if k.lower() != "content-type"]
    pairs.insert(0, ("Content-Type", chosen))
    check_content_type(chosen)
    check_size(len(raw), max_body)
    full_url = with_query(url or DEFAULT_URL, query)
    URL(full_url)  # refused here, not in the worker where it would look like a handler error
    return HttpRequest(raw, pairs, full_url)


def with_query(url: str, query: str | Mapping[str, Any] | None) -> str:
    """``url`` with its query replaced by ``query`` (a string or a mapping), if given."""
    if query is None:
        return url
    text = query if isinstance(query, str) else urlencode(query, doseq=True)
    # urlsplit keeps a #fragment where it belongs, after the query.
    return urlunsplit(urlsplit(url)._replace(query=text.removeprefix("?")))
