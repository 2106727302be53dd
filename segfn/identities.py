"""Ids and times from provider payloads, in the shapes Segment expects."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from segfn.errors import ValidationError

# A fixed namespace, so the same email gives the same anonymousId in every function.
_EMAIL_NAMESPACE = uuid.UUID("6d1f5c0e-3b7a-5e2c-9f4a-2b8c1d0e7a91")


def normalize_email(email: str) -> str:
    """``email`` trimmed and lower-cased; ``ValidationError`` if it is not an address."""
    if not isinstance(email, str) or "@" not in email.strip():
        raise ValidationError(f"not an email address: {email!r}")
    return email.strip().lower()


def anonymous_id(email: str) -> str:
    """A stable anonymousId for a person known only by email (a UUID derived from it)."""
    return str(uuid.uuid5(_EMAIL_NAMESPACE, normalize_email(email)))


def iso_timestamp(value: int | float | str | datetime) -> str:
    """A provider's time as ISO-8601 UTC with milliseconds (``2024-01-02T03:04:05.000Z``).

    Takes Unix seconds, Unix milliseconds (numbers past the year 5138 in seconds), ISO-8601
    strings (a trailing ``Z`` included) and datetimes (naive meaning UTC).
    """
    if isinstance(value, bool):
        raise ValidationError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= 1e11 else value
        moment = datetime.fromtimestamp(seconds, UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return iso_timestamp(int(text))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"not a timestamp: {value!r}") from None
    elif isinstance(value, datetime):
        moment = value
    else:
        raise ValidationError(f"not a timestamp: {value!r}")
    return utc_iso(moment)


def utc_iso(moment: datetime) -> str:
    """``moment`` in UTC with milliseconds, ``2024-01-02T03:04:05.678Z``; naive means UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"
