"""Compact JSON text, as segfn writes it to its frames, its store and its answers."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# The UTF-8 form (with surrogatepass) of a lone surrogate; valid UTF-8 never has one.
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")
_REPLACEMENT = "\ufffd".encode()
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# orjson checks none of its allocations: one that fails has it write through a null pointer
# (SIGSEGV) where ``json`` raises MemoryError. Off for good by ``without_orjson``.
_orjson = True


def without_orjson() -> None:
    """Write and read JSON with ``json`` alone in this process from now on. For a sandbox
    worker, whose capped address space makes allocations fail: there a failed one must be
    a MemoryError the worker answers, not a crash that takes every job on it down."""
    global _orjson
    _orjson = False


def uses_orjson() -> bool:
    """Whether this process writes and reads JSON with orjson (see ``without_orjson``)."""
    return _orjson


def dumps(value: Any) -> bytes:
    """``value`` as ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``
    writes it, in valid UTF-8: each lone surrogate is replaced by U+FFFD.

    orjson writes that some ten times faster, except where it refuses: a lone surrogate, a
    key that is not a string, an integer beyond 64 bits. Those values go the slow way. It
    writes NaN as null where ``json`` refuses it; segfn writes none, since a handler's
    messages and objects are refused NaN when made (``segfn.messages.to_json``) and the
    runner's own numbers are validated."""
    if _orjson:
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:
            pass
    return valid_utf8(_COMPACT.encode(value))


def valid_utf8(text: str) -> bytes:
    """``text`` as UTF-8, each lone surrogate replaced by U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE_BYTES.sub(_REPLACEMENT, text.encode("utf-8", "surrogatepass"))
