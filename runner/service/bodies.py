"""Reading what API callers send: JSON bodies, numbers in paths and queries.

Everything is checked at the boundary, so the endpoints see only well-formed values: a body
is at most ``MAX_API_BODY`` bytes of UTF-8 strict JSON, a JSON object, not nested too deep;
its fields are then checked against the endpoint's declaration in runner/service/contract.py.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from runner.service.problems import InvalidRequest, NotFound
from segfn.sandbox.protocol import strict_loads

MAX_API_BODY = 1024 * 1024
# Deeper JSON would reach Python's recursion limit somewhere on its way (parsing, storing,
# the worker); no request the API takes needs more than a few levels.
MAX_NESTING = 100
# Of a number in a path or a query; int() refuses strings of more than 4300 digits.
MAX_DIGITS = 12


async def read_json(request: Request) -> dict[str, Any]:
    """The JSON object sent: UTF-8, strict JSON, within the limits above."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise HTTPException(415, "send the body as application/json")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_API_BODY:
            raise HTTPException(413, f"a request body is at most {MAX_API_BODY} bytes")
        chunks.append(chunk)
    try:
        # Decoded here rather than by json.loads, which would also take UTF-16 and
        # UTF-8-encoded surrogates.
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the body is not UTF-8: {exc.reason} at byte {exc.start}"
                             ) from None
    try:
        body = strict_loads(text)
    except RecursionError:
        raise InvalidRequest(_TOO_DEEP) from None
    except ValueError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    _check_document(body)
    return body


_TOO_DEEP = f"the body nests arrays and objects more than {MAX_NESTING} deep"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_document(body: dict[str, Any]) -> None:
    """Refuse what JSON's grammar lets through but the service can neither store nor send
    back: strings with a lone surrogate (an escape like "\\ud800"), deep nesting."""
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:  # a loop, not recursion: the nesting is what is being checked
        value, depth = pending.pop()
        if isinstance(value, str):
            if _LONE_SURROGATE.search(value):
                raise InvalidRequest("the body has a string that is not Unicode text "
                                     "(a lone surrogate escape such as \\ud800)")
        elif isinstance(value, dict | list):
            if depth > MAX_NESTING:
                raise InvalidRequest(_TOO_DEEP)
            items = [*value, *value.values()] if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)


def whole_number(text: str, name: str = "version", minimum: int = 1) -> int:
    # ASCII digits only ("²".isdigit() is true), and the length first.
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_DIGITS or int(text) < minimum:
        raise NotFound(f"no {name} {text!r}") if name == "version" else InvalidRequest(
            f"{name} must be a whole number")
    return int(text)
