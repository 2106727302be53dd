"""Encryption at rest of secret setting values, with keys an operator can rotate."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENV_VAR = "SEGFN_SECRET_KEY"
# Where segfn serve takes its key from, as messages say it.
START_WITH_A_KEY = f"start segfn serve with the key in {ENV_VAR} or --secret-key-file"
# Stricter than base64 decoding, which would silently ignore text glued after the "=".
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}=")
_KEY_HELP = ("a key is 44 characters of url-safe base64 (32 random bytes), like the output of "
             "`segfn admin generate-key`")
_WRONG_KEY = ("the secret key does not decrypt a stored value; start with the key it was saved "
              "with (or 'new,old' while rotating)")


class KeyringError(Exception):
    """A secret key that is missing, malformed or not the one a value was saved with."""


def generate_key() -> str:
    """A new random key, for ``SEGFN_SECRET_KEY`` or the key file."""
    return Fernet.generate_key().decode("ascii")


class Keyring:
    """Fernet keys: the first encrypts, every one decrypts, so keys can be rotated."""

    def __init__(self, keys: Sequence[str]) -> None:
        keys = [keys] if isinstance(keys, str) else list(keys)
        if not keys:
            raise KeyringError(f"no secret key given; {_KEY_HELP}")
        fernets = []
        for number, key in enumerate(keys, 1):
            if not isinstance(key, str) or not _KEY_SHAPE.fullmatch(key):
                # The key itself stays out of the message: it may be nearly right.
                raise KeyringError(f"secret key {number} of {len(keys)} is malformed; {_KEY_HELP}")
            fernets.append(Fernet(key))
        self._fernet = MultiFernet(fernets)
        primary = base64.urlsafe_b64decode(keys[0])
        self._fingerprint = hashlib.sha256(primary).hexdigest()[:12]

    @classmethod
    def from_text(cls, text: str) -> Keyring:
        """The keys of ``text``, separated by commas and/or whitespace, the primary first."""
        return cls([key for key in re.split(r"[\s,]+", text) if key])

    @property
    def fingerprint(self) -> str:
        """A short id of the primary key for logs; it reveals nothing of the key."""
        return self._fingerprint

    def __repr__(self) -> str:
        return f"Keyring(fingerprint={self._fingerprint!r})"

    def encrypt(self, value: Any) -> str:
        """A token holding ``value`` (anything JSON can carry), under the primary key."""
        data = json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, token: str) -> Any:
        """The value in ``token``; KeyringError if no key of the ring opens it."""
        try:
            data = self._fernet.decrypt(token)
        except (InvalidToken, ValueError, TypeError):
            raise KeyringError(_WRONG_KEY) from None
        return json.loads(data)

    def rotate(self, token: str) -> str:
        """``token`` encrypted again under the primary key."""
        try:
            return self._fernet.rotate(token).decode("ascii")
        except (InvalidToken, ValueError, TypeError):
            raise KeyringError(_WRONG_KEY) from None


def load_keyring(environ: Mapping[str, str], key_file: Path | None) -> Keyring | None:
    """The keyring from ``key_file`` when given, else from ``$SEGFN_SECRET_KEY``, else None.

    An empty ``SEGFN_SECRET_KEY`` counts as unset; an empty key file is an error.
    """
    if key_file is not None:
        try:
            text, where = key_file.read_text(encoding="utf-8").strip(), f"key file {key_file}"
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise KeyringError(f"cannot read the secret key file {key_file}: {reason}") from None
    elif environ.get(ENV_VAR, "").strip():
        text, where = environ[ENV_VAR], ENV_VAR
    else:
        return None
    try:
        return Keyring.from_text(text)
    except KeyringError as error:
        raise KeyringError(f"{where}: {error}") from None
