"""``atob`` and ``btoa``: the base64 helpers of the original runtime."""

from __future__ import annotations

import base64
import binascii


def btoa(text: str) -> str:
    """Base64-encode a string of Latin-1 characters, as the browser's ``btoa`` does."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("btoa: the string has characters outside Latin-1") from None
    return base64.b64encode(raw).decode("ascii")


def atob(data: str) -> str:
    """Decode base64 into a string of Latin-1 characters, as the browser's ``atob`` does."""
    padded = data.strip() + "=" * (-len(data.strip()) % 4)
    try:
        return base64.b64decode(padded, validate=True).decode("latin-1")
    except binascii.Error:
        raise ValueError("atob: the string is not valid base64") from None
