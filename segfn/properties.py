"""Building traits and properties from what providers send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the fields a provider sent empty (``None``, ``""``, ``[]``,
    ``{}``), so they do not reach the warehouse as columns of nulls."""
    return {name: value for name, value in values.items() if not _is_empty(value)}
