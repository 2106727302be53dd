"""The ``settings`` mapping a handler receives (the pool tests run it in a worker)."""

from __future__ import annotations

import pytest

from segfn.errors import InvalidSettings, error_type
from segfn.settings import Settings


def test_reading_by_item_attribute_and_get() -> None:
    settings = Settings({"apiKey": "k", "count": 0})
    assert settings["apiKey"] == settings.apiKey == settings.get("apiKey") == "k"
    assert settings.count == 0
    assert settings.get("missing") is None
    assert settings.get("missing", "fallback") == "fallback"
    assert dict(settings) == {"apiKey": "k", "count": 0} and len(settings) == 2


@pytest.mark.parametrize("read", [lambda s: s["apiKey"], lambda s: s.apiKey])
def test_a_missing_setting_is_invalid_settings_naming_it(read: object) -> None:
    with pytest.raises(InvalidSettings, match="'apiKey'") as raised:
        read(Settings({"other": 1}))  # type: ignore[operator]
    assert error_type(raised.value) == "InvalidSettings"


def test_settings_are_read_only() -> None:
    settings = Settings({"apiKey": "k"})
    with pytest.raises(TypeError, match="read-only"):
        settings.apiKey = "changed"
    with pytest.raises(TypeError):
        settings["apiKey"] = "changed"  # type: ignore[index]
    assert settings.apiKey == "k"


def test_settings_are_a_deep_copy() -> None:
    # Scalars beside them: the shallow copy that does for scalars must not be taken here.
    values = {"apiKey": "k", "tags": ["a"], "map": {"k": "v"}}
    settings = Settings(values)
    settings["tags"].append("added by the handler")
    values["map"]["k"] = "changed by the caller"
    assert values["tags"] == ["a"]
    assert settings["map"] == {"k": "v"}
    exported = settings.to_dict()
    exported["tags"].clear()
    assert settings["tags"] == ["a", "added by the handler"]


def test_settings_of_scalars_are_a_copy_too() -> None:
    values = {"apiKey": "k", "sandbox": True, "limit": 3}
    settings = Settings(values)
    values["apiKey"] = "changed by the caller"
    assert settings.to_dict() == {"apiKey": "k", "sandbox": True, "limit": 3}


def test_private_names_are_not_settings() -> None:
    with pytest.raises(AttributeError):
        Settings({"_values": 1})._hidden  # noqa: B018


def test_repr_names_settings_without_their_values() -> None:
    text = repr(Settings({"secret": "hunter2", "apiKey": "k"}))
    assert "apiKey" in text and "secret" in text
    assert "hunter2" not in text
