"""A function's settings schema, and the checking of a source's setting values against it."""

from __future__ import annotations

import copy
import difflib
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

TYPES = ("string", "text", "boolean", "number", "array", "text_map")
MAX_SETTINGS = 100
MAX_LABEL = 100
MAX_NAME = 128  # room for any name derived from a label of MAX_LABEL characters
MAX_DESCRIPTION = 2000
SETTING_NAME_PATTERN = "^[A-Za-z][A-Za-z0-9_]*$"

_NAME = re.compile(SETTING_NAME_PATTERN)
_TEXT = attrs.validators.instance_of(str)
_FLAG = attrs.validators.instance_of(bool)
_TYPE_WORDS = {"string": "a string", "text": "a string", "boolean": "a boolean (true or false)",
               "number": "a number", "array": "a list of strings",
               "text_map": "an object of string to string"}


class SchemaError(ValueError):
    """A schema or setting values that are invalid; the message names every problem."""

    def __init__(self, problems: Sequence[str], subject: str = "settings") -> None:
        self.problems = list(problems)
        super().__init__(f"{subject}: " + "; ".join(self.problems))


@attrs.frozen
class SettingSpec:
    """One setting of a schema. ``parse_schema`` explains what is wrong with a document;
    these validators only keep an invalid setting from being made any other way."""

    label: str = attrs.field(validator=attrs.validators.and_(
        _TEXT, attrs.validators.max_len(MAX_LABEL)))
    name: str = attrs.field(validator=attrs.validators.and_(
        _TEXT, attrs.validators.matches_re(SETTING_NAME_PATTERN),
        attrs.validators.max_len(MAX_NAME)))
    type: str = attrs.field(default="string", validator=attrs.validators.in_(TYPES))
    description: str = attrs.field(default="", validator=[
        _TEXT, attrs.validators.max_len(MAX_DESCRIPTION)])
    required: bool = attrs.field(default=False, validator=_FLAG)
    encrypted: bool = attrs.field(default=False, validator=_FLAG)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


_FIELDS = tuple(spec_field.name for spec_field in attrs.fields(SettingSpec))


def camel_case(label: str) -> str:
    """The setting name for ``label``: "API Key" -> "apiKey", "repo_name" -> "repoName".

    Accents are dropped ("Clé" -> "cle") and any other character outside ASCII letters and
    digits separates words. A name that would start with a digit gets the prefix
    ``setting`` ("2nd key" -> "setting2ndKey"), so it is always a Python identifier.
    """
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    # Split camelCase and acronyms too, so a label like "webhookURL" keeps its word breaks.
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", ascii_text)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    words = [w.lower() for w in re.findall(r"[A-Za-z0-9]+", spaced)]
    if not words:
        raise SchemaError([f"the label {label!r} has no letters or digits to make a name of"])
    name = words[0] + "".join(w[0].upper() + w[1:] for w in words[1:])
    return "setting" + name if name[0].isdigit() else name


def parse_schema(document: Any) -> tuple[SettingSpec, ...]:
    """The settings of a schema document (the API's JSON list; ``None`` means none)."""
    if document is None:
        return ()
    if not isinstance(document, list):
        raise SchemaError([f"must be a list of settings, not {_json_type(document)}"],
                          "settings_schema")
    if len(document) > MAX_SETTINGS:
        raise SchemaError([f"at most {MAX_SETTINGS} settings, not {len(document)}"],
                          "settings_schema")
    problems: list[str] = []
    specs: list[SettingSpec] = []
    where_named: dict[str, int] = {}
    for number, item in enumerate(document, 1):
        spec = _parse_setting(item, number, problems)
        if spec is not None and spec.name in where_named:
            problems.append(f"settings {where_named[spec.name]} and {number} both have the name "
                            f"{spec.name!r}; give one of them another name")
        elif spec is not None:
            where_named[spec.name] = number
            specs.append(spec)
    if problems:
        raise SchemaError(problems, "settings_schema")
    return tuple(specs)


def _parse_setting(item: Any, number: int, problems: list[str]) -> SettingSpec | None:
    """Setting ``number`` of the schema, or None after adding its problems to ``problems``."""
    if not isinstance(item, dict):
        problems.append(f"setting {number} must be an object, not {_json_type(item)}")
        return None
    item = {k: v for k, v in item.items() if v is not None}  # null means "the default"
    found = [f"unknown field {_short(k)} (the fields are {', '.join(_FIELDS)})"
             for k in item if k not in _FIELDS]
    label, name = item.get("label"), item.get("name")
    if not isinstance(label, str) or not label.strip():
        found.append("a label is required, a non-empty string")
    elif len(label := label.strip()) > MAX_LABEL:
        found.append(f"the label is over {MAX_LABEL} characters")
    elif name is None:
        try:
            name = camel_case(label)
        except SchemaError as error:
            found.append(f"{error.problems[0]}; give it a name")
    if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)
                             or len(name) > MAX_NAME):
        found.append(f"the name must be letters, digits and underscores starting with a letter, "
                     f"at most {MAX_NAME} long, not {_short(name)}")
    if item.get("type", "string") not in TYPES:
        found.append(f"the type must be one of {', '.join(TYPES)}, not {_short(item['type'])}")
    description = item.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        found.append(f"the description must be a string of at most {MAX_DESCRIPTION} characters")
    found += [f"{flag} must be true or false, not {_short(item[flag])}"
              for flag in ("required", "encrypted") if not isinstance(item.get(flag, False), bool)]
    where = f"setting {number}" + (f" ({_short(label)})" if isinstance(label, str) else "")
    problems += [f"{where}: {problem}" for problem in found]
    return None if found else SettingSpec(label=label, name=name, **{
        k: item[k] for k in ("type", "description", "required", "encrypted") if k in item})


def validate_values(schema: Sequence[SettingSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """The valid setting values, optional ones set to None dropped; SchemaError otherwise.

    The value of an encrypted setting never appears in a message.
    """
    if not isinstance(values, Mapping):
        raise SchemaError([f"must be an object, not {_json_type(values)}"])
    problems: list[str] = []
    valid: dict[str, Any] = {}
    for spec in schema:
        value = values.get(spec.name)
        if value is None:
            if spec.required:
                problems.append(f"{spec.name} is required")
        elif not _fits(spec.type, value):
            shown = "" if spec.encrypted else f", not {_short(value)}"
            problems.append(f"{spec.name} must be {_TYPE_WORDS[spec.type]}{shown}")
        elif spec.required and isinstance(value, str | list | dict) and not value:
            problems.append(f"{spec.name} is required")
        else:
            valid[spec.name] = copy.copy(value)  # a caller's later edits must not leak in
    known = [spec.name for spec in schema]
    for key in values:
        if key not in known:
            problems.append(f"unknown setting {_short(key)}{_suggestion(key, known)}")
    if problems:
        raise SchemaError(problems)
    return valid


def _fits(kind: str, value: Any) -> bool:
    if kind == "number":  # bool is an int to Python, not a number to JSON
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        # A JSON integer may be any size; one no float can hold is no setting anyone meant.
        return abs(value) < 2**63 if isinstance(value, int) else math.isfinite(value)
    if kind == "array":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "text_map":
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return isinstance(value, bool if kind == "boolean" else str)


def _suggestion(key: Any, known: list[str]) -> str:
    if not known:
        return " (this function has no settings)"
    text = str(key)
    close = [n for n in known if n.lower() == text.lower()]
    close = close or difflib.get_close_matches(text, known, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]}?)"
    return f" (the settings are {', '.join(known)})" if len(known) <= 10 else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _json_type(value: Any) -> str:
    kind = type(value).__name__
    return {"bool": "a boolean", "str": "a string", "int": "a number", "float": "a number",
            "list": "a list", "dict": "an object", "NoneType": "null"}.get(kind, kind)
