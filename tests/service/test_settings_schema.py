"""Settings schemas and the checking of setting values against them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runner.service.settings_schema import (
    MAX_SETTINGS,
    TYPES,
    SchemaError,
    SettingSpec,
    camel_case,
    parse_schema,
    validate_values,
)


@pytest.mark.parametrize(("label", "name"), [
    ("API Key", "apiKey"),
    ("Webhook signing secret", "webhookSigningSecret"),
    ("repo_name", "repoName"),
    ("URL", "url"),
    ("Webhook URL", "webhookUrl"),
    ("webhookURL", "webhookUrl"),
    ("APIKey", "apiKey"),
    ("apiKey", "apiKey"),
    ("  spaced--out  label!! ", "spacedOutLabel"),
    ("Clé d'accès", "cleDAcces"),
    ("2nd key", "setting2ndKey"),
    ("Key 2nd", "key2nd"),
    ("42", "setting42"),
])
def test_camel_case(label: str, name: str) -> None:
    assert camel_case(label) == name
    assert name.isidentifier()


@pytest.mark.parametrize("label", ["", "   ", "!?-", "中文"])
def test_camel_case_needs_a_letter_or_digit(label: str) -> None:
    with pytest.raises(SchemaError, match="no letters or digits"):
        camel_case(label)


def test_defaults_and_to_dict() -> None:
    (spec,) = parse_schema([{"label": "API Key"}])
    assert spec == SettingSpec(label="API Key", name="apiKey")
    assert spec.to_dict() == {"label": "API Key", "name": "apiKey", "type": "string",
                              "description": "", "required": False, "encrypted": False}
    assert parse_schema([{"label": "x", "name": None, "type": None}])[0].type == "string"


def test_a_full_schema_round_trips_through_json() -> None:
    document = [{"label": "Repo", "name": "repo_name", "type": kind, "description": "d",
                 "required": True, "encrypted": True} for kind in TYPES]
    for number, item in enumerate(document):
        item["name"] = f"setting{number}"
    specs = parse_schema(json.loads(json.dumps(document)))
    assert [spec.to_dict() for spec in specs] == document
    assert parse_schema([spec.to_dict() for spec in specs]) == specs


@pytest.mark.parametrize("document", [None, []])
def test_no_schema_means_no_settings(document: Any) -> None:
    assert parse_schema(document) == ()


@pytest.mark.parametrize(("document", "problem"), [
    ({"label": "x"}, "must be a list of settings, not an object"),
    ("x", "must be a list of settings, not a string"),
    ([{"label": str(n)} for n in range(MAX_SETTINGS + 1)], "at most 100 settings, not 101"),
    (["API Key"], "setting 1 must be an object, not a string"),
    ([{}], "setting 1: a label is required"),
    ([{"label": "  "}], "setting 1 ('  '): a label is required"),
    ([{"label": 7}], "a label is required"),
    ([{"label": "x" * 101}], "the label is over 100 characters"),
    ([{"label": "x", "kind": "string"}], "unknown field 'kind'"),
    ([{"label": "x", "type": "integer"}], "the type must be one of string, text, boolean"),
    ([{"label": "x", "type": ["string"]}], "not ['string']"),
    ([{"label": "x", "required": "yes"}], "required must be true or false, not 'yes'"),
    ([{"label": "x", "encrypted": 1}], "encrypted must be true or false, not 1"),
    ([{"label": "x", "description": 5}], "the description must be a string"),
    ([{"label": "x", "description": "d" * 2001}], "at most 2000 characters"),
    ([{"label": "!!"}], "no letters or digits to make a name of; give it a name"),
    ([{"label": "x", "name": "_private"}], "the name must be letters, digits and underscores"),
    ([{"label": "x", "name": "2fa"}], "not '2fa'"),
    ([{"label": "x", "name": "api-key"}], "not 'api-key'"),
    ([{"label": "x", "name": 3}], "not 3"),
    ([{"label": "x", "name": "a" * 129}], "at most 128 long"),
    ([{"label": "API Key"}, {"label": "api key"}],
     "settings 1 and 2 both have the name 'apiKey'"),
    ([{"label": "A", "name": "same"}, {"label": "B", "name": "same"}], "both have the name"),
])
def test_invalid_schemas_are_refused(document: Any, problem: str) -> None:
    with pytest.raises(SchemaError) as raised:
        parse_schema(document)
    assert problem in str(raised.value)
    assert str(raised.value).startswith("settings_schema: ")


def test_every_schema_problem_is_reported_at_once() -> None:
    with pytest.raises(SchemaError) as raised:
        parse_schema([{"label": "Good"}, {"label": "Bad", "type": "float", "required": "no"},
                      {"name": "noLabel"}, 3, {"label": "good"}])
    problems = raised.value.problems
    assert problems == [
        "setting 2 ('Bad'): the type must be one of string, text, boolean, number, array, "
        "text_map, not 'float'",
        "setting 2 ('Bad'): required must be true or false, not 'no'",
        "setting 3: a label is required, a non-empty string",
        "setting 4 must be an object, not a number",
        "settings 1 and 5 both have the name 'good'; give one of them another name",
    ]
    assert str(raised.value) == "settings_schema: " + "; ".join(problems)


def test_a_given_name_is_kept_and_labels_are_trimmed() -> None:
    (spec,) = parse_schema([{"label": " Token ", "name": "from"}])
    assert (spec.label, spec.name) == ("Token", "from")


SCHEMA = parse_schema([
    {"label": "API Key", "required": True, "encrypted": True},
    {"label": "Notes", "type": "text"},
    {"label": "Enabled", "type": "boolean"},
    {"label": "Retries", "type": "number"},
    {"label": "Tags", "type": "array"},
    {"label": "Headers", "type": "text_map"},
])


@pytest.mark.parametrize(("name", "value"), [
    ("apiKey", "k"), ("notes", "line 1\nline 2"), ("notes", ""), ("enabled", False),
    ("enabled", True), ("retries", 0), ("retries", 2.5), ("retries", -3), ("tags", []),
    ("tags", ["a", "b"]), ("headers", {}), ("headers", {"X-Env": "prod"}),
])
def test_every_type_accepts_its_values(name: str, value: Any) -> None:
    values = {"apiKey": "k", name: value}
    assert validate_values(SCHEMA, values) == values


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("notes", 3, "notes must be a string, not 3"),
    ("enabled", "true", "enabled must be a boolean (true or false), not 'true'"),
    ("enabled", 1, "enabled must be a boolean (true or false), not 1"),
    ("retries", "x", "retries must be a number, not 'x'"),
    ("retries", True, "retries must be a number, not True"),
    ("retries", float("inf"), "retries must be a number, not inf"),
    ("retries", float("nan"), "retries must be a number, not nan"),
    ("tags", "a,b", "tags must be a list of strings, not 'a,b'"),
    ("tags", ["a", 1], "tags must be a list of strings, not ['a', 1]"),
    ("tags", ("a",), "tags must be a list of strings"),
    ("headers", ["a"], "headers must be an object of string to string, not ['a']"),
    ("headers", {"a": 1}, "headers must be an object of string to string, not {'a': 1}"),
    ("headers", {1: "a"}, "headers must be an object of string to string"),
])
def test_every_type_refuses_other_values(name: str, value: Any, problem: str) -> None:
    with pytest.raises(SchemaError) as raised:
        validate_values(SCHEMA, {"apiKey": "k", name: value})
    (found,) = raised.value.problems
    assert found.startswith(problem)
    assert str(raised.value) == f"settings: {found}"


def test_long_values_are_cut_in_messages() -> None:
    with pytest.raises(SchemaError) as raised:
        validate_values(SCHEMA, {"apiKey": "k", "retries": "9" * 500})
    assert raised.value.problems == ["retries must be a number, not '" + "9" * 36 + "..."]


@pytest.mark.parametrize("missing", [{}, {"apiKey": None}, {"apiKey": ""}])
def test_a_required_setting_must_have_a_value(missing: dict[str, Any]) -> None:
    with pytest.raises(SchemaError, match=r"^settings: apiKey is required$"):
        validate_values(SCHEMA, missing)


@pytest.mark.parametrize(("kind", "empty"), [("array", []), ("text_map", {})])
def test_an_empty_list_or_map_counts_as_missing(kind: str, empty: Any) -> None:
    schema = parse_schema([{"label": "Value", "type": kind, "required": True}])
    with pytest.raises(SchemaError, match="^settings: value is required$"):
        validate_values(schema, {"value": empty})
    optional = parse_schema([{"label": "Value", "type": kind}])
    assert validate_values(optional, {"value": empty}) == {"value": empty}


def test_optional_none_is_dropped_and_the_result_is_a_copy() -> None:
    values = {"apiKey": "k", "notes": None, "tags": ["a"], "headers": {"h": "v"}}
    valid = validate_values(SCHEMA, values)
    assert valid == {"apiKey": "k", "tags": ["a"], "headers": {"h": "v"}}
    values["tags"].append("b")
    values["headers"]["h"] = "changed"
    assert valid["tags"] == ["a"] and valid["headers"] == {"h": "v"}
    assert "notes" in values


@pytest.mark.parametrize(("key", "hint"), [
    ("apikey", "unknown setting 'apikey' (did you mean apiKey?)"),
    ("retry", "unknown setting 'retry' (did you mean retries?)"),
    ("zzz", "unknown setting 'zzz' (the settings are apiKey, notes, enabled, retries, tags, "
            "headers)"),
])
def test_unknown_settings_are_refused_with_a_hint(key: str, hint: str) -> None:
    with pytest.raises(SchemaError) as raised:
        validate_values(SCHEMA, {"apiKey": "k", key: "v"})
    assert raised.value.problems == [hint]


def test_a_function_without_settings_takes_none() -> None:
    assert validate_values((), {}) == {}
    with pytest.raises(SchemaError, match="unknown setting 'x' \\(this function has no settings"):
        validate_values((), {"x": None})


def test_values_must_be_an_object() -> None:
    with pytest.raises(SchemaError, match="settings: must be an object, not a list"):
        validate_values(SCHEMA, ["apiKey"])  # type: ignore[arg-type]


def test_every_value_problem_is_reported_at_once() -> None:
    with pytest.raises(SchemaError) as raised:
        validate_values(SCHEMA, {"retries": "x", "tags": [1], "colour": "red"})
    assert str(raised.value) == (
        "settings: apiKey is required; retries must be a number, not 'x'; "
        "tags must be a list of strings, not [1]; unknown setting 'colour' (the settings are "
        "apiKey, notes, enabled, retries, tags, headers)")
    assert len(raised.value.problems) == 4


@pytest.mark.parametrize(("kind", "secret"), [
    ("string", 123456789), ("text", ["hunter2"]), ("boolean", "hunter2"),
    ("number", "hunter2"), ("array", "hunter2"), ("array", ["hunter2", 123456789]),
    ("text_map", {"hunter2": 123456789}), ("text_map", "hunter2"),
])
def test_encrypted_values_never_appear_in_messages(kind: str, secret: Any) -> None:
    schema = parse_schema([{"label": "Secret", "type": kind, "encrypted": True}])
    with pytest.raises(SchemaError) as raised:
        validate_values(schema, {"secret": secret})
    message = str(raised.value)
    assert message.startswith("settings: secret must be ")
    assert "hunter2" not in message and "123456789" not in message and ", not" not in message


def test_a_non_encrypted_value_is_quoted_but_an_encrypted_one_is_not() -> None:
    schema = parse_schema([{"label": "Token", "type": "number", "encrypted": True},
                           {"label": "Count", "type": "number"}])
    with pytest.raises(SchemaError) as raised:
        validate_values(schema, {"token": "tok-live-1234", "count": "tok-live-5678"})
    assert raised.value.problems == ["token must be a number",
                                     "count must be a number, not 'tok-live-5678'"]


def test_limits_are_inclusive() -> None:
    document = [{"label": f"Setting {n}", "description": "d" * 2000} for n in range(99)]
    specs = parse_schema([*document, {"label": "L" * 100}])
    assert len(specs) == MAX_SETTINGS
    assert specs[-1].name == "l" * 100 and specs[0].name == "setting0"
