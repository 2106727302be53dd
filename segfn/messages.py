"""Validating a handler's Segment calls and completing them into Segment-spec messages.

Every function here is pure: the caller supplies the invocation id, the call's sequence
number and the clock, so a retried invocation rebuilds byte-identical messages.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from segfn import jsontext
from segfn.errors import MessageTooLarge, ValidationError
from segfn.identities import utc_iso
from segfn.version import VERSION

KINDS = ("identify", "track", "page", "screen", "group", "alias")
LIBRARY = {"name": "segfn", "version": VERSION}
MAX_MESSAGE_BYTES = 32 * 1024
MAX_MESSAGE_ID = 100

_IDENTITY = ("userId", "anonymousId")
_COMMON = ("context", "integrations", "timestamp", "messageId")
# Table order is also the order of the fields in a completed message.
_FIELDS = {
    "identify": (*_IDENTITY, "traits", *_COMMON),
    "track": (*_IDENTITY, "event", "properties", *_COMMON),
    "page": (*_IDENTITY, "name", "category", "properties", *_COMMON),
    "screen": (*_IDENTITY, "name", "properties", *_COMMON),
    "group": (*_IDENTITY, "groupId", "traits", *_COMMON),
    "alias": ("previousId", *_IDENTITY, *_COMMON),
    "set": ("collection", "id", "properties"),
}
_IDS = ("userId", "anonymousId", "groupId", "previousId", "id")
_OBJECTS = ("traits", "properties", "context", "integrations")
_STRINGS = ("name", "category")
_COLLECTION = re.compile(r"[a-z][a-z0-9_]*")


def call_fields(kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Turn a call's arguments into Segment's camelCase fields.

    Either exactly one positional dict in camelCase, or snake_case keyword arguments, not
    both, not neither. A camelCase keyword (``userId=``) raises ``ValidationError``
    suggesting the snake_case spelling (``user_id=``); a snake_case key inside the dict
    raises suggesting camelCase.
    """
    allowed = _allowed(kind)
    if args and kwargs:
        raise ValidationError(f"{kind}: pass one dict or keyword arguments, not both")
    if kwargs:
        by_snake = {_snake(name): name for name in allowed}
        fields = {}
        for key, value in kwargs.items():
            if key not in by_snake:
                hint = _suggest(key, list(by_snake))
                hint = f"; did you mean {hint}=?" if hint else ""
                raise ValidationError(f"{kind}: unknown argument {key}={hint}")
            fields[by_snake[key]] = value
        return fields
    if not args:
        raise ValidationError(f"{kind}: expected one dict or keyword arguments, got neither")
    if len(args) > 1:
        raise ValidationError(f"{kind}: expected one dict, got {len(args)} positional arguments")
    if not isinstance(args[0], dict):
        raise ValidationError(f"{kind}: expected a dict, got {_type(args[0])}")
    _check_names(kind, args[0], allowed)
    return dict(args[0])


def build_message(
    kind: str, fields: dict[str, Any], *, invocation_id: str, sequence: int, now: datetime
) -> dict[str, Any]:
    """Validate ``fields`` for a call of ``kind`` and return the completed message.

    Raises ``ValidationError`` naming the offending field, ``MessageTooLarge`` when the
    compact JSON of the message is over ``MAX_MESSAGE_BYTES``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown call {kind!r}, expected one of {', '.join(KINDS)}")
    fields = _clean(kind, fields)
    if kind == "alias" and "previousId" not in fields:
        raise ValidationError("alias: previousId is required")
    if not any(name in fields for name in _IDENTITY):
        raise ValidationError(f"{kind}: userId or anonymousId is required")
    if kind == "track":
        event = fields.get("event")
        if event is None:
            raise ValidationError("track: event is required")
        if not isinstance(event, str) or not event:
            raise ValidationError(
                f"track: event must be a non-empty string, got {_describe(event)}"
            )
    if kind == "group" and "groupId" not in fields:
        raise ValidationError("group: groupId is required")

    if "messageId" in fields:
        _check_message_id(kind, fields["messageId"])
    else:
        fields["messageId"] = message_id(invocation_id, sequence)
    fields["timestamp"] = _timestamp(kind, fields.get("timestamp", now))
    # The user's own context keys win, library included.
    fields["context"] = {"library": dict(LIBRARY), **fields.get("context", {})}
    message = {"type": kind}
    message.update((name, fields[name]) for name in _FIELDS[kind] if name in fields)

    try:
        size = len(jsontext.dumps(message))
    except ValueError as exc:  # an integer past Python's digit limit for str()
        raise ValidationError(f"{kind}: {exc}") from None
    if size > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(
            f"{kind}: message is {size} bytes, over the limit of {MAX_MESSAGE_BYTES} bytes"
        )
    return message


def build_object(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate the fields of a ``set`` call: ``{"collection", "id", "properties"}``."""
    fields = _clean("set", fields)
    for name in _FIELDS["set"]:
        if name not in fields:
            raise ValidationError(f"set: {name} is required")
    collection = fields["collection"]
    if not isinstance(collection, str) or not _COLLECTION.fullmatch(collection):
        raise ValidationError(
            f"set: collection must match [a-z][a-z0-9_]*, got {_describe(collection)}"
        )
    return {name: fields[name] for name in _FIELDS["set"]}


def message_id(invocation_id: str, sequence: int) -> str:
    """The id of the ``sequence``-th (0-based) message of an invocation.

    Readable ``{invocation_id}-{sequence}`` when that fits in 100 characters, else its
    sha256 in hex (which has no ``-``, so it never equals a readable id).
    """
    if sequence < 0:
        raise ValueError(f"sequence must be 0 or more, got {sequence}")
    readable = f"{invocation_id}-{sequence}"
    if len(readable) <= MAX_MESSAGE_ID:
        return readable
    return hashlib.sha256(readable.encode()).hexdigest()


def to_json(value: Any, path: str) -> Any:
    """A fresh JSON-compatible copy of ``value``.

    ``datetime`` and ``date`` become ISO-8601 strings, ``Decimal`` a number, a tuple a
    list; anything else that is not JSON raises ``ValidationError`` naming its ``path``.
    """
    try:
        return _to_json(value, path, set())
    except RecursionError:
        raise ValidationError(f"{path} is nested too deeply") from None


def _to_json(value: Any, path: str, parents: set[int]) -> Any:
    # Exact types first: they are by far the most common and need no conversion.
    if value is None or type(value) in (bool, int):
        return value
    if isinstance(value, str):
        return _text(value, path)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{path} is {value}, which is not JSON")
        return float(value)
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _number(value, path)
    if isinstance(value, dict | list | tuple):
        if id(value) in parents:
            raise ValidationError(f"{path} contains itself, which is not JSON")
        parents.add(id(value))
        copy: Any
        if isinstance(value, dict):
            copy = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValidationError(
                        f"{path} has a key {key!r} ({_type(key)}); JSON keys are strings"
                    )
                copy[_text(key, path)] = _to_json(item, _child(path, key), parents)
        else:
            copy = [_to_json(item, f"{path}[{i}]", parents) for i, item in enumerate(value)]
        parents.discard(id(value))
        return copy
    raise ValidationError(f"{path} is {_article(value)}, which is not JSON")


def _allowed(kind: str) -> tuple[str, ...]:
    try:
        return _FIELDS[kind]
    except KeyError:
        raise ValueError(f"unknown call {kind!r}") from None


def _check_names(kind: str, fields: dict[Any, Any], allowed: tuple[str, ...]) -> None:
    for name in fields:
        if not isinstance(name, str):
            raise ValidationError(f"{kind}: field names are strings, got {name!r}")
        if name not in allowed:
            hint = _suggest(name, list(allowed))
            hint = f"; did you mean {hint!r}?" if hint else ""
            raise ValidationError(f"{kind}: unknown field {name!r}{hint}")


def _clean(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Check every field of a call and return fresh JSON copies, without the ``None`` ones."""
    allowed = _allowed(kind)
    _check_names(kind, fields, allowed)
    clean = {}
    for name, value in fields.items():
        # None reads as absent, so `user_id=body.get("user")` works when the key is missing.
        if value is None:
            continue
        if name in _IDS:
            value = _id(kind, name, value)
        elif name in _OBJECTS:
            if not isinstance(value, dict):
                raise ValidationError(f"{kind}: {name} must be a dict, got {_type(value)}")
            value = _prefixed(kind, value, name)
        elif name in _STRINGS:
            if not isinstance(value, str):
                raise ValidationError(f"{kind}: {name} must be a string, got {_type(value)}")
            value = _prefixed(kind, value, name)
        elif name != "timestamp":
            value = _prefixed(kind, value, name)
        clean[name] = value
    return clean


def _prefixed(kind: str, value: Any, path: str) -> Any:
    try:
        return to_json(value, path)
    except ValidationError as exc:
        raise ValidationError(f"{kind}: {exc}") from None


def _id(kind: str, name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"{kind}: {name} must be a string or an integer, got {_type(value)}")
    if isinstance(value, int):
        return str(int(value))
    if not value:
        raise ValidationError(f"{kind}: {name} must not be empty")
    return _prefixed(kind, value, name)


def _check_message_id(kind: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ValidationError(f"{kind}: messageId must be a string, got {_type(value)}")
    if not value:
        raise ValidationError(f"{kind}: messageId must not be empty")
    if len(value) > MAX_MESSAGE_ID:
        raise ValidationError(
            f"{kind}: messageId is {len(value)} characters, over the limit of {MAX_MESSAGE_ID}"
        )


def _timestamp(kind: str, value: Any) -> str:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, str):
        iso = value[:-1] + "+00:00" if value.endswith("Z") else value
        try:
            datetime.fromisoformat(iso)
        except ValueError:
            raise ValidationError(
                f"{kind}: timestamp {value!r} is not an ISO-8601 date and time"
            ) from None
        return _text(value, "timestamp")
    raise ValidationError(
        f"{kind}: timestamp must be an ISO-8601 string or a datetime, got {_type(value)}"
    )


def _number(value: Decimal, path: str) -> int | float:
    if value.is_finite():
        if value == value.to_integral_value():
            return int(value)
        number = float(value)
        if math.isfinite(number):
            return number
    raise ValidationError(f"{path} is Decimal({str(value)!r}), which is not a JSON number")


def _text(value: str, path: str) -> str:
    # A lone surrogate (from a "\ud800" escape in a request body, say) cannot be UTF-8.
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValidationError(
                f"{path} contains a lone surrogate, which is not valid UTF-8"
            ) from None
    return str(value)


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", r"_\1", name).lower()


def _suggest(name: str, candidates: list[str]) -> str | None:
    # Spelling the same name in the other case style is the most common slip.
    def squash(s: str) -> str:
        return s.replace("_", "").lower()

    for candidate in candidates:
        if squash(candidate) == squash(name):
            return candidate
    close = difflib.get_close_matches(name, candidates, n=1)
    return close[0] if close else None


def _type(value: Any) -> str:
    return type(value).__name__


def _article(value: Any) -> str:
    name = _type(value)
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def _describe(value: Any) -> str:
    return repr(value) if isinstance(value, str) else _type(value)
