"""Reading what providers send: required fields, and leaving out empty ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segfn.errors import ValidationError


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the fields a provider sent empty (``None``, ``""``, ``[]``,
    ``{}``), so they do not reach the warehouse as columns of nulls."""
    return {name: value for name, value in values.items() if not _is_empty(value)}


def require(data: Any, path: str, *, within: str = "") -> Any:
    """The value at a dotted ``path`` (``"issue.user.id"``, ``"items.0.sku"``), or a
    ``ValidationError`` naming it (prefixed with ``within``) when it is missing or empty."""
    value = data
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            value = None
        if _is_empty(value):
            raise ValidationError(f"{within + '.' if within else ''}{path} is missing")
    return value
