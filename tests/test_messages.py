import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from segfn.errors import MessageTooLarge, ValidationError
from segfn.messages import (
    KINDS,
    LIBRARY,
    MAX_MESSAGE_BYTES,
    build_message,
    build_object,
    call_fields,
    message_id,
    to_json,
)
from segfn.version import VERSION

NOW = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

MINIMAL = {
    "identify": {"userId": "u1"},
    "track": {"userId": "u1", "event": "Signed Up"},
    "page": {"userId": "u1"},
    "screen": {"userId": "u1"},
    "group": {"userId": "u1", "groupId": "g1"},
    "alias": {"userId": "u1", "previousId": "p1"},
}


def build(kind: str, fields: dict, sequence: int = 0, **kw) -> dict:
    kw.setdefault("invocation_id", "inv")
    kw.setdefault("now", NOW)
    return build_message(kind, fields, sequence=sequence, **kw)


def size(message: dict) -> int:
    return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())


# call_fields


def test_call_fields_dict_is_returned_as_a_copy():
    given = {"userId": "u1", "event": "E"}
    fields = call_fields("track", (given,), {})
    assert fields == given
    assert fields is not given


def test_call_fields_kwargs_become_camel_case():
    fields = call_fields(
        "group",
        (),
        {"user_id": "u", "anonymous_id": "a", "group_id": "g", "message_id": "m", "traits": {}},
    )
    assert fields == {
        "userId": "u",
        "anonymousId": "a",
        "groupId": "g",
        "messageId": "m",
        "traits": {},
    }
    assert call_fields("alias", (), {"previous_id": "p", "user_id": "u"}) == {
        "previousId": "p",
        "userId": "u",
    }
    assert call_fields("set", (), {"collection": "c", "id": 1, "properties": {}}) == {
        "collection": "c",
        "id": 1,
        "properties": {},
    }


def test_call_fields_refuses_both_and_neither():
    with pytest.raises(ValidationError, match="^track: .*not both"):
        call_fields("track", ({"userId": "u"},), {"event": "E"})
    with pytest.raises(ValidationError, match="^identify: .*neither"):
        call_fields("identify", (), {})


def test_call_fields_refuses_several_positionals_and_non_dicts():
    with pytest.raises(ValidationError, match="^track: expected one dict, got 2"):
        call_fields("track", ({}, {}), {})
    with pytest.raises(ValidationError, match="^track: expected a dict, got list"):
        call_fields("track", ([("userId", "u")],), {})


@pytest.mark.parametrize(
    ("camel", "snake"),
    [("userId", "user_id"), ("anonymousId", "anonymous_id"), ("messageId", "message_id")],
)
def test_call_fields_camel_case_keyword_suggests_snake_case(camel, snake):
    with pytest.raises(ValidationError) as info:
        call_fields("track", (), {camel: "x"})
    assert str(info.value) == f"track: unknown argument {camel}=; did you mean {snake}=?"


def test_call_fields_misspelt_keyword_suggests_the_closest():
    with pytest.raises(
        ValidationError, match="unknown argument propertes=; did you mean properties="
    ):
        call_fields("track", (), {"propertes": {}})
    with pytest.raises(ValidationError, match="unknown argument userID=; did you mean user_id="):
        call_fields("track", (), {"userID": "u"})


@pytest.mark.parametrize("forged", ["type", "sent_at", "received_at"])
def test_call_fields_refuses_runtime_keywords(forged):
    with pytest.raises(ValidationError, match=f"^track: unknown argument {forged}="):
        call_fields("track", (), {"user_id": "u", forged: "x"})


def test_call_fields_snake_case_key_in_dict_suggests_camel_case():
    with pytest.raises(ValidationError) as info:
        call_fields("identify", ({"user_id": "u"},), {})
    assert str(info.value) == "identify: unknown field 'user_id'; did you mean 'userId'?"
    with pytest.raises(ValidationError, match="'group_id'; did you mean 'groupId'"):
        call_fields("group", ({"userId": "u", "group_id": "g"},), {})


def test_call_fields_keyword_valid_for_another_kind_is_refused():
    with pytest.raises(ValidationError, match="^identify: unknown argument event="):
        call_fields("identify", (), {"user_id": "u", "event": "E"})


def test_call_fields_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown call"):
        call_fields("batch", (), {"user_id": "u"})


# Fields allowed per kind


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_builds_with_its_minimal_fields(kind):
    message = build(kind, MINIMAL[kind])
    assert message["type"] == kind
    for name, value in MINIMAL[kind].items():
        assert message[name] == value


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("identify", {"traits": {"email": "a@b.c"}}),
        ("track", {"properties": {"plan": "pro"}}),
        ("page", {"name": "Home", "category": "Docs", "properties": {"path": "/"}}),
        ("screen", {"name": "Home", "properties": {"x": 1}}),
        ("group", {"traits": {"size": 3}}),
    ],
)
def test_kinds_accept_their_optional_fields(kind, extra):
    message = build(kind, {**MINIMAL[kind], **extra})
    for name, value in extra.items():
        assert message[name] == value


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_accepts_the_common_fields(kind):
    fields = {
        **MINIMAL[kind],
        "context": {"ip": "1.2.3.4"},
        "integrations": {"All": False, "Mixpanel": True},
        "timestamp": "2023-05-06T07:08:09Z",
        "messageId": "mine",
    }
    message = build(kind, fields)
    assert message["context"]["ip"] == "1.2.3.4"
    assert message["integrations"] == {"All": False, "Mixpanel": True}
    assert message["timestamp"] == "2023-05-06T07:08:09Z"
    assert message["messageId"] == "mine"


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("identify", "properties"),
        ("identify", "event"),
        ("track", "traits"),
        ("track", "name"),
        ("page", "traits"),
        ("screen", "category"),
        ("group", "properties"),
        ("alias", "traits"),
        ("alias", "properties"),
    ],
)
def test_fields_of_other_kinds_are_refused(kind, field):
    with pytest.raises(ValidationError, match=f"^{kind}: unknown field '{field}'"):
        build(kind, {**MINIMAL[kind], field: {}})


@pytest.mark.parametrize(
    ("field", "hint"),
    [
        ("userID", "; did you mean 'userId'?"),
        ("propertes", "; did you mean 'properties'?"),
        ("sentAt", ""),
        ("type", ""),
        ("receivedAt", ""),
        ("originalTimestamp", "; did you mean 'timestamp'?"),
    ],
)
def test_unknown_top_level_fields_are_refused(field, hint):
    with pytest.raises(ValidationError) as info:
        build("track", {**MINIMAL["track"], field: "x"})
    assert str(info.value) == f"track: unknown field {field!r}{hint}"


def test_non_string_field_name_is_refused():
    with pytest.raises(ValidationError, match="^track: field names are strings, got 1"):
        build("track", {**MINIMAL["track"], 1: "x"})


@pytest.mark.parametrize("kind", KINDS)
def test_user_or_anonymous_id_is_required(kind):
    fields = {k: v for k, v in MINIMAL[kind].items() if k != "userId"}
    with pytest.raises(ValidationError, match=f"^{kind}: userId or anonymousId is required"):
        build(kind, fields)
    assert build(kind, {**fields, "anonymousId": "a1"})["anonymousId"] == "a1"


def test_both_user_and_anonymous_id_are_kept():
    message = build("identify", {"userId": "u", "anonymousId": "a"})
    assert (message["userId"], message["anonymousId"]) == ("u", "a")


def test_track_requires_a_non_empty_string_event():
    with pytest.raises(ValidationError, match="^track: event is required"):
        build("track", {"userId": "u"})
    with pytest.raises(ValidationError, match="^track: event must be a non-empty string, got ''"):
        build("track", {"userId": "u", "event": ""})
    with pytest.raises(ValidationError, match="^track: event must be a non-empty string, got int"):
        build("track", {"userId": "u", "event": 3})


def test_group_requires_group_id_and_alias_requires_previous_id():
    with pytest.raises(ValidationError, match="^group: groupId is required"):
        build("group", {"userId": "u"})
    with pytest.raises(ValidationError, match="^alias: previousId is required"):
        build("alias", {"userId": "u"})


def test_page_name_and_category_are_strings():
    with pytest.raises(ValidationError, match="^page: name must be a string, got int"):
        build("page", {"userId": "u", "name": 1})
    with pytest.raises(ValidationError, match="^page: category must be a string, got list"):
        build("page", {"userId": "u", "category": []})


def test_none_means_absent():
    message = build(
        "track",
        {"userId": None, "anonymousId": "a", "event": "E", "properties": None, "context": None},
    )
    assert "userId" not in message
    assert "properties" not in message
    assert message["context"] == {"library": LIBRARY}


@pytest.mark.parametrize("field", ["traits", "context", "integrations"])
@pytest.mark.parametrize("value", [[], "x", 1, True])
def test_object_fields_must_be_dicts(field, value):
    with pytest.raises(ValidationError, match=f"^identify: {field} must be a dict, got "):
        build("identify", {"userId": "u", field: value})


def test_properties_must_be_a_dict():
    with pytest.raises(ValidationError, match="^track: properties must be a dict, got list"):
        build("track", {**MINIMAL["track"], "properties": [1]})


# Ids


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("identify", "userId"),
        ("identify", "anonymousId"),
        ("group", "groupId"),
        ("alias", "previousId"),
    ],
)
def test_integer_ids_become_decimal_strings(kind, field):
    message = build(kind, {**MINIMAL[kind], field: 147410})
    assert message[field] == "147410"
    assert build(kind, {**MINIMAL[kind], field: -3})[field] == "-3"


@pytest.mark.parametrize(
    ("value", "got"), [(True, "bool"), (False, "bool"), (1.5, "float"), ([1], "list"), ({}, "dict")]
)
def test_ids_refuse_other_types_naming_the_field(value, got):
    with pytest.raises(ValidationError) as info:
        build("track", {"userId": value, "event": "E"})
    assert str(info.value) == f"track: userId must be a string or an integer, got {got}"
    with pytest.raises(ValidationError, match=f"^group: groupId must be .* got {got}"):
        build("group", {"userId": "u", "groupId": value})


def test_empty_id_is_refused():
    with pytest.raises(ValidationError, match="^alias: previousId must not be empty"):
        build("alias", {"userId": "u", "previousId": ""})


# Values


def test_to_json_converts_dates_decimals_and_tuples():
    value = {
        "when": datetime(2024, 1, 2, 3, 4, 5, 678901),
        "aware": datetime(2024, 1, 2, 5, 4, 5, 678000, tzinfo=timezone(timedelta(hours=2))),
        "day": date(2024, 1, 2),
        "whole": Decimal("12.00"),
        "part": Decimal("12.5"),
        "pair": (1, (2, 3)),
        "plain": [None, True, 1, 1.5, "s"],
    }
    assert to_json(value, "properties") == {
        "when": "2024-01-02T03:04:05.678Z",
        "aware": "2024-01-02T03:04:05.678Z",
        "day": "2024-01-02",
        "whole": 12,
        "part": 12.5,
        "pair": [1, [2, 3]],
        "plain": [None, True, 1, 1.5, "s"],
    }
    assert type(to_json(Decimal("12.00"), "x")) is int


def test_to_json_returns_a_fresh_copy():
    inner = {"b": [1]}
    given = {"a": inner}
    copy = to_json(given, "properties")
    assert copy == given
    assert copy is not given and copy["a"] is not inner and copy["a"]["b"] is not inner["b"]


def test_to_json_makes_subclasses_plain():
    class Tag(str):
        pass

    class Count(int):
        pass

    value = to_json({"t": Tag("x"), "c": Count(3)}, "p")
    assert type(value["t"]) is str and type(value["c"]) is int


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"items": [1, 2, {3}]}, "properties", "properties.items[2] is a set, which is not JSON"),
        ({"a": {"b": object()}}, "traits", "traits.a.b is an object, which is not JSON"),
        ({"f": float("nan")}, "properties", "properties.f is nan, which is not JSON"),
        ({"f": float("inf")}, "properties", "properties.f is inf, which is not JSON"),
        ({"first name": b"x"}, "traits", "traits['first name'] is a bytes, which is not JSON"),
        ({1: "x"}, "properties", "properties has a key 1 (int); JSON keys are strings"),
        ({"d": Decimal("NaN")}, "properties", "properties.d is Decimal('NaN')"),
        ({"d": Decimal("1" + "0" * 400 + ".5")}, "properties", "properties.d is Decimal("),
        ({"s": "a\ud800"}, "properties", "properties.s contains a lone surrogate"),
    ],
)
def test_to_json_names_the_path_of_what_is_not_json(value, path, message):
    with pytest.raises(ValidationError) as info:
        to_json(value, path)
    assert str(info.value).startswith(message)


def test_to_json_refuses_cycles():
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValidationError, match="properties.self contains itself"):
        to_json(loop, "properties")


def test_to_json_allows_a_shared_value_twice():
    shared = [1]
    assert to_json({"a": shared, "b": shared}, "p") == {"a": [1], "b": [1]}


def test_to_json_too_deep():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValidationError, match="^p is nested too deeply"):
        to_json(deep, "p")


def test_build_message_prefixes_value_errors_with_the_call():
    with pytest.raises(ValidationError) as info:
        build("track", {**MINIMAL["track"], "properties": {"items": [1, 2, {3}]}})
    assert str(info.value) == "track: properties.items[2] is a set, which is not JSON"
    with pytest.raises(ValidationError, match=r"^identify: context.x is a frozenset"):
        build("identify", {"userId": "u", "context": {"x": frozenset()}})


def test_message_shares_nothing_with_the_input():
    properties = {"items": [{"sku": "a"}]}
    context = {"ip": "1.2.3.4"}
    message = build("track", {**MINIMAL["track"], "properties": properties, "context": context})
    properties["items"][0]["sku"] = "changed"
    context["ip"] = "changed"
    assert message["properties"] == {"items": [{"sku": "a"}]}
    assert message["context"]["ip"] == "1.2.3.4"
    assert context == {"ip": "changed"}  # library was not added to the caller's dict
    message["context"]["library"]["name"] = "changed"
    assert LIBRARY["name"] == "segfn"


# Completion: type, messageId, timestamp, context.library


def test_completed_message():
    message = build("track", {"userId": 5, "event": "E", "properties": {"n": 1}}, sequence=3)
    assert message == {
        "type": "track",
        "userId": "5",
        "event": "E",
        "properties": {"n": 1},
        "context": {"library": {"name": "segfn", "version": VERSION}},
        "timestamp": "2024-01-02T03:04:05.678Z",
        "messageId": "inv-3",
    }
    assert LIBRARY == {"name": "segfn", "version": VERSION}


def test_message_id_is_deterministic_and_readable():
    assert message_id("abc", 0) == "abc-0"
    assert message_id("abc", 12) == "abc-12"
    assert message_id("abc", 1) != message_id("abc", 2)
    assert build("identify", {"userId": "u"}, sequence=7)["messageId"] == "inv-7"
    first = build("identify", {"userId": "u"}, sequence=1)
    again = build("identify", {"userId": "u"}, sequence=1, now=NOW + timedelta(hours=1))
    assert first["messageId"] == again["messageId"]


def test_message_id_is_hashed_past_100_characters():
    fits = "i" * 98
    assert message_id(fits, 0) == fits + "-0"
    assert len(message_id(fits, 0)) == 100
    long = message_id(fits, 10)
    assert len(long) <= 100
    assert long == message_id(fits, 10)
    assert long != message_id(fits, 11)
    assert "-" not in long
    very_long = message_id("x" * 1000, 5)
    assert len(very_long) <= 100 and very_long != message_id("x" * 1001, 5)


def test_message_id_refuses_negative_sequence():
    with pytest.raises(ValueError, match="sequence"):
        message_id("inv", -1)


def test_given_message_id_is_kept_and_checked():
    assert build("identify", {"userId": "u", "messageId": "m" * 100})["messageId"] == "m" * 100
    with pytest.raises(ValidationError, match="^identify: messageId is 101 characters"):
        build("identify", {"userId": "u", "messageId": "m" * 101})
    with pytest.raises(ValidationError, match="^identify: messageId must not be empty"):
        build("identify", {"userId": "u", "messageId": ""})
    with pytest.raises(ValidationError, match="^identify: messageId must be a string, got int"):
        build("identify", {"userId": "u", "messageId": 5})


def test_timestamp_defaults_to_now_in_utc_with_milliseconds():
    assert build("identify", {"userId": "u"})["timestamp"] == "2024-01-02T03:04:05.678Z"
    naive = datetime(2024, 1, 2, 3, 4, 5)
    assert build("identify", {"userId": "u"}, now=naive)["timestamp"] == "2024-01-02T03:04:05.000Z"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, 678901), "2024-01-02T03:04:05.678Z"),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05.000Z"),
        (
            datetime(2024, 1, 2, 0, 4, 5, 1000, tzinfo=timezone(timedelta(hours=-3))),
            "2024-01-02T03:04:05.001Z",
        ),
    ],
)
def test_timestamp_datetime_becomes_utc_with_milliseconds(given, expected):
    assert build("identify", {"userId": "u", "timestamp": given})["timestamp"] == expected


@pytest.mark.parametrize(
    "given",
    ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123456+02:00", "2024-01-02", "2024-01-02 03:04"],
)
def test_timestamp_iso_string_is_kept_as_given(given):
    assert build("identify", {"userId": "u", "timestamp": given})["timestamp"] == given


@pytest.mark.parametrize("given", ["yesterday", "", "2024-13-01T00:00:00Z", "1704164645"])
def test_timestamp_invalid_string_is_refused(given):
    with pytest.raises(ValidationError, match=f"^identify: timestamp {given!r} is not an ISO-8601"):
        build("identify", {"userId": "u", "timestamp": given})


@pytest.mark.parametrize("given", [1704164645, date(2024, 1, 2), [2024]])
def test_timestamp_other_types_are_refused(given):
    with pytest.raises(ValidationError, match="^identify: timestamp must be an ISO-8601 string"):
        build("identify", {"userId": "u", "timestamp": given})


def test_context_library_is_added_and_user_keys_win():
    message = build("identify", {"userId": "u", "context": {"ip": "1.2.3.4", "locale": "fr"}})
    assert message["context"] == {"library": LIBRARY, "ip": "1.2.3.4", "locale": "fr"}
    theirs = {"name": "analytics-python", "version": "2.0"}
    message = build("identify", {"userId": "u", "context": {"library": theirs}})
    assert message["context"] == {"library": theirs}


def test_runtime_fields_cannot_be_forged():
    for field in ("type", "sentAt", "receivedAt"):
        with pytest.raises(ValidationError, match=f"unknown field '{field}'"):
            build("identify", {"userId": "u", field: "x"})


# Size


def padded(target: int) -> dict:
    """A completed track message of exactly `target` bytes of compact JSON."""
    fields = {"userId": "u", "event": "E", "properties": {"pad": ""}}
    base = size(build("track", fields))
    fields["properties"]["pad"] = "x" * (target - base)
    return fields


def test_message_of_exactly_the_limit_is_accepted():
    message = build("track", padded(MAX_MESSAGE_BYTES))
    assert size(message) == MAX_MESSAGE_BYTES == 32768


def test_message_one_byte_over_the_limit_is_refused():
    with pytest.raises(MessageTooLarge) as info:
        build("track", padded(MAX_MESSAGE_BYTES + 1))
    assert str(info.value) == "track: message is 32769 bytes, over the limit of 32768 bytes"
    assert isinstance(info.value, ValidationError)


def test_number_too_long_to_serialize_is_refused():
    with pytest.raises(ValidationError, match="^track: .*digits"):
        build("track", {**MINIMAL["track"], "properties": {"n": Decimal("1e5000")}})


def test_size_counts_utf8_bytes_not_characters():
    fields = padded(MAX_MESSAGE_BYTES)
    # Swapping one "x" for "é" keeps the character count but adds a byte.
    fields["properties"]["pad"] = fields["properties"]["pad"][:-1] + "é"
    with pytest.raises(MessageTooLarge, match="32769 bytes"):
        build("track", fields)


# set


def test_build_object():
    properties = {"email": "a@b.c", "joined": date(2024, 1, 2)}
    obj = build_object({"collection": "users", "id": 42, "properties": properties})
    assert obj == {
        "collection": "users",
        "id": "42",
        "properties": {"email": "a@b.c", "joined": "2024-01-02"},
    }
    assert obj["properties"] is not properties


@pytest.mark.parametrize("missing", ["collection", "id", "properties"])
def test_build_object_requires_every_field(missing):
    fields = {"collection": "users", "id": "1", "properties": {}}
    del fields[missing]
    with pytest.raises(ValidationError, match=f"^set: {missing} is required"):
        build_object(fields)


@pytest.mark.parametrize("collection", ["Users", "1users", "_users", "users-2", "", "users\n", 5])
def test_build_object_collection_must_be_a_table_name(collection):
    with pytest.raises(ValidationError, match=r"^set: collection must match \[a-z\]"):
        build_object({"collection": collection, "id": "1", "properties": {}})


@pytest.mark.parametrize("collection", ["u", "users", "user_events_2"])
def test_build_object_collection_names_accepted(collection):
    assert build_object({"collection": collection, "id": "1", "properties": {}})["collection"]


@pytest.mark.parametrize("field", ["timestamp", "messageId", "context", "userId"])
def test_build_object_refuses_other_fields(field):
    with pytest.raises(ValidationError, match=f"^set: unknown field '{field}'"):
        build_object({"collection": "users", "id": "1", "properties": {}, field: "x"})


def test_build_object_checks_id_and_properties():
    with pytest.raises(ValidationError, match="^set: id must be a string or an integer, got bool"):
        build_object({"collection": "users", "id": True, "properties": {}})
    with pytest.raises(ValidationError, match="^set: properties must be a dict, got list"):
        build_object({"collection": "users", "id": "1", "properties": []})
    with pytest.raises(ValidationError, match=r"^set: properties.tags\[0\] is a set"):
        build_object({"collection": "users", "id": "1", "properties": {"tags": [set()]}})
