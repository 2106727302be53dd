"""``respond``: a handler's answer to a provider's URL-verification handshake.

A source function sends no custom response, except this one: ``return respond(json=...)``
or ``return respond(text=...)`` is answered 200 with that body (at most 4 KiB) instead of
``{"ok": true}``, and nothing may be emitted alongside it. The same ``Reply`` value is
checked again where it crosses from a worker to its parent, which trusts no worker.
"""

from __future__ import annotations

import json as jsonlib
from typing import Any

import attrs

from segfn.messages import to_json
from segfn.sandbox.protocol import strict_loads

MAX_REPLY_BYTES = 4096
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
_UNSET: Any = object()


def _size(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not str:
        raise TypeError("a handshake answer's body is text")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_REPLY_BYTES:
        raise ValueError(f"respond(): the answer is {size} bytes; a handshake answer is "
                         f"at most {MAX_REPLY_BYTES} bytes")


@attrs.frozen
class Reply:
    """What a webhook answers, 200, instead of ``{"ok": true}``: a JSON or text body."""

    content_type: str = attrs.field(validator=attrs.validators.in_((JSON_TYPE, TEXT_TYPE)))
    body: str = attrs.field(validator=_size)

    @body.validator
    def _json_is_json(self, attribute: attrs.Attribute[Any], value: str) -> None:
        if self.content_type == JSON_TYPE:
            try:
                strict_loads(value)
            except RecursionError:
                raise ValueError("a handshake answer's JSON is nested too deeply") from None

    def json(self) -> Any:
        """The body parsed, for a JSON answer (``ValueError`` for a text one)."""
        if self.content_type != JSON_TYPE:
            raise ValueError("this answer is text, not JSON")
        return jsonlib.loads(self.body)

    def texts(self) -> list[str]:
        """Every piece of text the answer shows: its body, and for JSON each decoded string
        (a secret with a quote in it is escaped in the body, not hidden)."""
        if self.content_type != JSON_TYPE:
            return [self.body]
        found = [self.body]
        _strings(jsonlib.loads(self.body), found)
        return found

    def to_dict(self) -> dict[str, str]:
        return {"content_type": self.content_type, "body": self.body}

    @classmethod
    def from_dict(cls, data: Any) -> Reply:
        # Exactly these: an answer carries no headers or status of the worker's choosing.
        if type(data) is not dict or set(data) != {"content_type", "body"}:
            raise TypeError("a handshake answer is an object of content_type and body")
        return cls(data["content_type"], data["body"])


def _strings(value: Any, found: list[str]) -> None:
    if type(value) is str:
        found.append(value)
    elif type(value) is dict:
        for key, item in value.items():
            found.append(key)
            _strings(item, found)
    elif type(value) is list:
        for item in value:
            _strings(item, found)


def respond(*, json: Any = _UNSET, text: Any = _UNSET) -> Reply:
    """The answer to a URL-verification handshake, for ``on_request`` to return:
    ``respond(json={"challenge": body["challenge"]})`` or ``respond(text=challenge)``."""
    if (json is _UNSET) == (text is _UNSET):
        raise TypeError("respond() takes one of json= or text=")
    if text is not _UNSET:
        if not isinstance(text, str):
            raise TypeError(f"respond(text=...) takes a str, not {type(text).__name__}")
        return Reply(TEXT_TYPE, to_json(text, "respond(text=...)"))
    value = to_json(json, "respond(json=...)")
    return Reply(JSON_TYPE, jsonlib.dumps(value, separators=(",", ":"), ensure_ascii=False))
