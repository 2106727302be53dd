"""Payload files: a recorded delivery and the settings it assumes (SPEC 12).

``{"payload": {"body": ..., "headers": {...}, "queryParameters" | "queryParams": {...} |
"url": "..."}, "settings": {...}, "source": "where it was recorded"}``. An object body is
sent as ``json.dumps(body)``, a string body as its UTF-8 bytes, ``null`` as an empty body.
A payload file with other keys is refused (it is most likely a request body, given where
a payload file goes); a document that carries more (the service's test request has
``version``) is read with ``strict=False``, which ignores them.

The recorded deliveries mostly give each header as a list of its values
(``"Content-Type": ["application/json"]``) and sometimes as a bare string; both are read,
and a header with several values is sent once per value, as it was received.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs


class PayloadError(ValueError):
    """A payload file that cannot be read or is not in the payload format."""


class NotAPayload(PayloadError):
    """A document with keys the payload format does not have: a request body, most likely."""


# "source" says where a recorded delivery came from, for whoever reads the file.
DOCUMENT_KEYS = ("payload", "settings", "source")
PAYLOAD_KEYS = ("body", "headers", "queryParameters", "queryParams", "url")
SHAPE = ('{"payload": {"body", "headers", "queryParameters" or "queryParams", "url"}, '
         '"settings"} (and "source", where it was recorded)')


@attrs.frozen
class Payload:
    body: bytes
    # Every header's values in order; ``webhook.build_request`` sends one line per value.
    headers: dict[str, list[str]]
    query: dict[str, Any] | None
    url: str | None
    settings: dict[str, Any]

    def header_pairs(self) -> list[tuple[str, str]]:
        """The headers as ``(name, value)`` pairs, a repeated header once per value."""
        return [(name, value) for name, values in self.headers.items() for value in values]


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    # An object (or any other JSON value) is what the provider POSTed as JSON.
    return json.dumps(body).encode("utf-8")


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _header_values(name: str, value: Any, where: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not all(_scalar(v) for v in values):
        raise PayloadError(f"{where}: header {name!r} must be a string or a list of strings")
    return [str(v) for v in values]


def _unknown(keys: Any, known: tuple[str, ...]) -> list[str]:
    return sorted(str(key) for key in keys if key not in known)


def _check_keys(document: dict[str, Any], where: str) -> None:
    for place, keys, known in (("at the top", document, DOCUMENT_KEYS),
                               ("in \"payload\"", document["payload"], PAYLOAD_KEYS)):
        if unknown := _unknown(keys, known):
            raise NotAPayload(f"{where}: not a payload file: {', '.join(map(repr, unknown))} "
                              f"{place}; expected {SHAPE}")


def parse_payload(document: Any, where: str = "payload", strict: bool = True) -> Payload:
    """Read a payload document already parsed from JSON; ``where`` names it in errors.

    ``strict``: refuse keys the format does not have (``NotAPayload``), else ignore them.
    """
    if not isinstance(document, dict) or not isinstance(document.get("payload"), dict):
        raise NotAPayload(f"{where}: expected an object with a \"payload\" object: {SHAPE}")
    if strict:
        _check_keys(document, where)
    payload = document["payload"]
    headers = payload.get("headers")
    headers = {} if headers is None else headers
    settings = document.get("settings")
    settings = {} if settings is None else settings
    if not isinstance(headers, dict):
        raise PayloadError(f"{where}: payload.headers must be an object")
    if not isinstance(settings, dict):
        raise PayloadError(f"{where}: settings must be an object")
    query = payload.get("queryParameters", payload.get("queryParams"))
    if query is not None and not isinstance(query, dict):
        raise PayloadError(f"{where}: the query parameters must be an object")
    url = payload.get("url")
    if url is not None and not isinstance(url, str):
        raise PayloadError(f"{where}: payload.url must be a string")
    return Payload(
        _body_bytes(payload.get("body")),
        {str(name): _header_values(str(name), value, where) for name, value in headers.items()},
        query, url, settings)


def load_payload(path: str | Path) -> Payload:
    """Read a payload file; raises ``PayloadError`` saying what is wrong with it."""
    try:
        document = json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise PayloadError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise PayloadError(f"{path}: not valid JSON: {exc}") from None
    return parse_payload(document, str(path))
