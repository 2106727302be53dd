"""``verify_signature``: checking the signature a provider puts on its webhooks.

Each provider's scheme is a small function in a module of its family, registered in
``PROVIDERS`` under its lower-case, hyphenated name. A scheme raises ``ValidationError``
saying what is wrong and returns None when the signature is good.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from segfn.errors import BodyError, ValidationError
from segfn.request import Request
from segfn.signatures import body, fields, keys, stamped, tokens, urls
from segfn.signatures.checks import ALGORITHMS, ENCODINGS, verify_hmac

Scheme = Callable[..., None]

_FAMILIES: list[dict[str, Scheme]] = [body.SCHEMES, stamped.SCHEMES, urls.SCHEMES,
                                      keys.SCHEMES, fields.SCHEMES, tokens.SCHEMES]
PROVIDERS: dict[str, Scheme] = dict(sorted(
    (name, scheme) for family in _FAMILIES for name, scheme in family.items()))


def _options(scheme: Scheme) -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(scheme).parameters.values()
    return {p.name: p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


OPTIONS = {name: _options(scheme) for name, scheme in PROVIDERS.items()}


def _number(provider: str, name: str, value: Any) -> None:
    if (name, value) == ("now", None):
        return
    # NaN compares false with everything: as a tolerance it would let any age through.
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise ValidationError(f"{provider}: {name} must be a number of seconds >= 0, "
                              f"not {value!r}")


def _check_call(provider: str, secret: Any, options: dict[str, Any]) -> None:
    if type(provider) is not str or provider not in PROVIDERS:
        raise ValidationError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    # An empty key is one anybody can sign with.
    if type(secret) is not str or not secret:
        raise ValidationError(f"{provider}: the secret must be a non-empty string")
    known = OPTIONS[provider]
    for name, value in options.items():
        if name not in known:
            takes = ", ".join(known) or "no options"
            raise ValidationError(f"{provider}: unknown option {name!r}; it takes {takes}")
        if name in ("tolerance", "now"):
            _number(provider, name, value)
        if name == "url" and (type(value) is not str or not value):
            raise ValidationError(f"{provider}: url must be the URL the provider was given, "
                                  f"not {value!r}")


def verify_signature(request: Request, provider: str, secret: str, **options: Any) -> None:
    """Check that ``request`` carries ``provider``'s signature made with ``secret``.

    Raises ``ValidationError`` naming the provider and what is wrong: a missing header, a
    signature that does not match, one older than the ``tolerance`` option (seconds).
    ``OPTIONS[provider]`` names the options a provider takes.
    """
    _check_call(provider, secret, options)
    if not isinstance(request, Request):
        raise ValidationError(f"{provider}: verify_signature takes the request, "
                              f"not a {type(request).__name__}")
    try:
        PROVIDERS[provider](request, secret, **options)
    except (ValidationError, BodyError) as exc:
        # A scheme that reads the body (Adyen, Mailgun, Linear) finds it unreadable.
        raise ValidationError(f"{provider}: {exc}") from None


__all__ = ["ALGORITHMS", "ENCODINGS", "OPTIONS", "PROVIDERS", "verify_hmac",
           "verify_signature"]
