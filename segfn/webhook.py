"""What a webhook accepts, and building the request it would receive.

The runner, ``segfn invoke`` and the pytest plugin all build requests here, so a request
that the deployed webhook would refuse is refused the same way everywhere.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from segfn.invocation import HttpRequest

MAX_BODY_BYTES = 512 * 1024
ACCEPTED_CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")
DEFAULT_URL = "http://localhost/"


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


def build_request(body: bytes | str | None = None, *, json: Any = None,
                  data: Mapping[str, Any] | Iterable[tuple[str, str]] | None = None,
                  headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
                  query: str | Mapping[str, Any] | None = None, url: str | None = None,
                  content_type: str | None = None,
                  max_body: int = MAX_BODY_BYTES) -> HttpRequest:
    """A delivery as the webhook would receive it, checked as the webhook checks it.

    Give the body one way: raw ``body``, ``json=`` (sent as ``json.dumps``) or ``data=``
    (a form). The content type comes from ``content_type``, else the headers, else the
    body's kind. Raises ``RequestRefused`` for a body or content type the webhook refuses.
    """
    if sum(x is not None for x in (body, json, data)) > 1:
        raise ValueError("give the body as body=, json= or data=, not several")
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
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
    return HttpRequest(raw, pairs, with_query(url or DEFAULT_URL, query))


def with_query(url: str, query: str | Mapping[str, Any] | None) -> str:
    """``url`` with its query replaced by ``query`` (a string or a mapping), if given."""
    if query is None:
        return url
    text = query if isinstance(query, str) else urlencode(query, doseq=True)
    text = text.lstrip("?")
    base = url.split("?", 1)[0]
    return f"{base}?{text}" if text else base
