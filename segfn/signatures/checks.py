"""The pieces every signature scheme is built of: a header, an HMAC, a comparison, an age.

A failed check raises ``ValidationError`` saying what is wrong; ``verify_signature`` puts
the provider's name in front of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable
from datetime import datetime

from segfn.errors import ValidationError
from segfn.request import Request

# The digests a handler may name, looked up in this table and never by name on a module:
# getattr(hashlib, name) would give a handler any attribute it names ("__builtins__").
ALGORITHMS = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha224": hashlib.sha224,
              "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
ENCODINGS = ("hex", "base64")


def _one_of(parameter: str, value: object, allowed: Iterable[str]) -> str:
    if type(value) is not str or value not in allowed:
        raise ValueError(f"verify_hmac: {parameter} must be one of {', '.join(allowed)}, "
                         f"not {value!r}")
    return value


def digest(key: str | bytes, data: bytes, algorithm: str = "sha256") -> bytes:
    """The HMAC of ``data``; a text key is used as its UTF-8 bytes."""
    raw = key.encode("utf-8") if isinstance(key, str) else key
    return hmac.new(raw, data, ALGORITHMS[algorithm]).digest()


def encoded(value: bytes, encoding: str) -> str:
    return value.hex() if encoding == "hex" else base64.b64encode(value).decode()


def matches(given: Iterable[str], expected: str) -> bool:
    """Any of ``given`` is ``expected``, each compared in constant time."""
    found = False
    for candidate in given:
        # Every candidate is compared, so the time says nothing about which one matched.
        found |= hmac.compare_digest(candidate.strip().encode(), expected.encode())
    return found


def expect(name: str, given: Iterable[str], expected: str, signed: str = "the body") -> None:
    """Refuse unless one of the signatures ``given`` in ``name`` is ``expected``."""
    if not matches(given, expected):
        raise ValidationError(f"{name} does not match {signed}")


def header(request: Request, name: str) -> str:
    """The value of header ``name``; its absence is the sender's fault."""
    value = request.headers.get(name)
    if not value or not value.strip():
        raise ValidationError(f"no {name} header")
    return value.strip()


def unhex(key: str, what: str) -> bytes:
    try:
        return bytes.fromhex(key)
    except ValueError:
        raise ValidationError(f"the {what} is not hexadecimal") from None


def unbase64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{what} is not base64") from None


def seconds(stamp: str, what: str, *, scale: int = 1) -> float:
    """A Unix time written in decimal digits (``scale`` 1000 for milliseconds)."""
    stamp = stamp.strip()
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 16:
        raise ValidationError(f"{what} is not a Unix timestamp: {stamp[:40]!r}")
    return int(stamp) / scale


def iso_seconds(stamp: str, what: str) -> float:
    try:
        moment = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{what} is not an ISO 8601 time: {stamp[:40]!r}") from None
    if moment.tzinfo is None:
        raise ValidationError(f"{what} has no time zone: {stamp[:40]!r}")
    return moment.timestamp()


def fresh(stamp: float, tolerance: float, now: float | None) -> None:
    """Refuse a signature made more than ``tolerance`` seconds from ``now``, either way:
    a replayed delivery is old, a forged clock is in the future."""
    age = (time.time() if now is None else now) - stamp
    if abs(age) > tolerance:
        when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
        raise ValidationError(f"signature is {when}, tolerance is {tolerance:g} s")


def pairs(value: str, separator: str) -> list[tuple[str, str]]:
    """``k=v<separator>k=v`` as (key, value) pairs, keys stripped."""
    found = []
    for part in value.split(separator):
        key, equals, item = part.partition("=")
        if equals:
            found.append((key.strip(), item.strip()))
    return found


def verify_hmac(raw_body: bytes, secret: str, signature: str | None, *,
                algorithm: str = "sha256", encoding: str = "hex", prefix: str = "",
                header: str = "signature") -> None:
    """Check ``signature`` (``prefix`` + hex or base64 HMAC of ``raw_body``), for a
    provider ``verify_signature`` does not know.

    ``algorithm`` is one of ``ALGORITHMS`` and ``encoding`` one of ``ENCODINGS``; another
    value is a ``ValueError`` naming the ones there are.
    """
    _one_of("algorithm", algorithm, ALGORITHMS)
    _one_of("encoding", encoding, ENCODINGS)
    if not signature:
        raise ValidationError(f"missing {header}")
    if prefix and not signature.startswith(prefix):
        raise ValidationError(f"{header} does not start with {prefix!r}")
    expected = encoded(digest(secret, raw_body, algorithm), encoding)
    if not matches([signature[len(prefix):]], expected):
        raise ValidationError(f"{header} does not match the body")
