"""Payload files: a recorded delivery and the settings it assumes (SPEC 12).

``{"payload": {"body": ..., "headers": {...}, "queryParameters" | "queryParams": {...} |
"url": "..."}, "settings": {...}}``. An object body is sent as ``json.dumps(body)``, a
string body as its UTF-8 bytes, ``null`` as an empty body. Other keys are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs


class PayloadError(ValueError):
    """A payload file that cannot be read or is not in the payload format."""


@attrs.frozen
class Payload:
    body: bytes
    headers: dict[str, str]
    query: dict[str, Any] | None
    url: str | None
    settings: dict[str, Any]


def parse_payload(document: Any, where: str = "payload") -> Payload:
    if not isinstance(document, dict) or not isinstance(document.get("payload"), dict):
        raise PayloadError(f"{where}: expected an object with a \"payload\" object")
    payload = document["payload"]
    body = payload.get("body")
    if body is None:
        raw = b""
    elif isinstance(body, str):
        raw = body.encode("utf-8")
    else:
        raw = json.dumps(body).encode("utf-8")
    headers = payload.get("headers") or {}
    settings = document.get("settings") or {}
    query = payload.get("queryParameters", payload.get("queryParams"))
    if not isinstance(headers, dict) or not isinstance(settings, dict):
        raise PayloadError(f"{where}: headers and settings must be objects")
    if query is not None and not isinstance(query, dict):
        raise PayloadError(f"{where}: the query parameters must be an object")
    url = payload.get("url")
    return Payload(raw, {str(k): str(v) for k, v in headers.items()}, query,
                   url if isinstance(url, str) else None, settings)


def load_payload(path: str | Path) -> Payload:
    try:
        document = json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise PayloadError(f"{path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"{path}: not valid JSON: {exc}") from None
    return parse_payload(document, str(path))
