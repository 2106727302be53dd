"""The declaration of the request bodies: its check, its schemas and its docs agree."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from runner.service import contract
from runner.service.openapi import document
from runner.service.problems import InvalidRequest
from tests.service.test_openapi import BASE, REGISTRY, operations

# A body of each kind that both the check and the schema take.
VALID: dict[str, dict[str, Any]] = {
    "NewFunction": {"name": "greeter", "code": "x = 1\n",
                    "settings_schema": [{"label": "Repo"}], "description": "d"},
    "FunctionChanges": {"code": "x = 1\n", "settings_schema": [], "description": "d"},
    "TestRequest": {"payload": {"body": {}}, "settings": {}, "version": 1},
    "DeployRequest": {"sources": "all", "version": 2},
    "NewSource": {"name": "alpha", "function": "greeter", "version": 1, "settings": {},
                  "write_key": "wk"},
    "SourceChanges": {"settings": {"repo": None}, "write_key": None, "paused": True},
    "NewToken": {"name": "ci", "roles": [{"role": "functions_read"}]},
    "CodeCheck": {"code": "x = 1\n", "name": "greeter"},
    "RetryRequest": {"ids": [1, 2]},
    "ResendRequest": {"ids": [3]},
    "ReplayRequest": {"version": 2, "since": 1764130000, "limit": 10},
    "ShadowRequest": {"version": 2, "function": "github"},
}
VALUES = (None, True, False, 0, 1, 2.5, "", "x", "all", [], ["a"], {}, {"a": 1})


def schema_errors(body: contract.Body, sent: dict[str, Any]) -> list[str]:
    ref = {"$ref": f"{BASE}#/components/schemas/{body.name}"}
    return [error.message for error in
            Draft202012Validator(ref, registry=REGISTRY).iter_errors(sent)]


@pytest.mark.parametrize(("body", "sent", "message"), [
    (contract.NEW_FUNCTION, {"name": "a", "code": "", "Name": 1, "id": 2},
     "unknown field(s): Name, id; expected name, code, settings_schema, description"),
    (contract.NEW_FUNCTION, {"code": "", "description": 5}, "name is required"),
    (contract.NEW_FUNCTION, {"name": 1}, "name must be a string"),
    (contract.FUNCTION_CHANGES, {"settings_schema": {}}, "settings_schema must be a list"),
    (contract.TEST_REQUEST, {"payload": []}, "payload must be an object"),
    (contract.TEST_REQUEST, {"payload": {}, "version": True}, "version must be an integer"),
    (contract.TEST_REQUEST, {"payload": {}, "version": 1.0}, "version must be an integer"),
    (contract.DEPLOY_REQUEST, {"sources": 3}, "sources must be a string or a list"),
    (contract.SOURCE_CHANGES, {"write_key": 1}, "write_key must be a string or null"),
    (contract.SOURCE_CHANGES, {"paused": 0}, "paused must be true or false"),
    (contract.NEW_TOKEN, {"name": "ci"}, "roles is required"),
    (contract.TEST_REQUEST, {"payload": {}, "version": 0},
     "version must be from 1 to 9007199254740991"),
    # A bound a database column would overflow on (once a 500 from replay).
    (contract.REPLAY_REQUEST, {"version": 1, "limit": 10**30},
     "limit must be from 1 to 9007199254740991"),
    (contract.REPLAY_REQUEST, {"version": 1, "since": -10**30},
     "since must be from 0 to 9007199254740991"),
    (contract.RETRY_REQUEST, {"ids": [1, 2**53]},
     "ids must be integers from 1 to 9007199254740991"),
])
def test_a_refusal_names_the_field_and_what_it_must_be(
        body: contract.Body, sent: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        body.check(sent)
    assert str(refused.value) == message


def test_the_valid_bodies_pass_the_check_and_the_schema() -> None:
    assert sorted(VALID) == sorted(body.name for body in contract.BODIES)
    for body in contract.BODIES:
        assert body.check(dict(VALID[body.name])) == VALID[body.name]
        assert schema_errors(body, VALID[body.name]) == [], body.name


def test_the_schema_refuses_whatever_the_check_refuses() -> None:
    """Every field set to each of many JSON values, or left out, or one more field: the
    schema may refuse more (a name's pattern, a version below 1), never less."""
    refused = 0
    for body in contract.BODIES:
        valid = VALID[body.name]
        changes = [{name: value} for name, value in itertools.product(
            [*valid, "extra"], VALUES)]
        for sent in [*({**valid, **change} for change in changes),
                     *({k: v for k, v in valid.items() if k != name} for name in valid)]:
            try:
                body.check(dict(sent))
            except InvalidRequest:
                refused += 1
                assert schema_errors(body, sent), (body.name, sent)
    assert refused > 300  # the pool really reaches the check's refusals


def test_the_document_describes_the_declared_bodies() -> None:
    schemas = document()["components"]["schemas"]
    for body in contract.BODIES:
        assert schemas[body.name] == body.schema()
    taken = [operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
             for _, _, operation in operations() if "requestBody" in operation]
    assert sorted(taken) == sorted(contract.component(b.name)["$ref"]
                                   for b in contract.BODIES)


def test_the_docs_list_the_bodies_as_declared() -> None:
    docs = contract.DOCS.read_text(encoding="utf-8")
    assert contract.markdown() in docs
    assert contract.with_bodies(docs) == docs, \
        "docs/service-api.md is out of date: run python -m runner.service.contract"


@pytest.mark.parametrize(("sent", "asked"), [
    ({"ids": [3, 1]}, [3, 1]), ({"all": True}, None), ({"ids": [2], "all": False}, [2])])
def test_a_redrive_asks_for_ids_or_for_all(sent: dict[str, Any], asked: Any) -> None:
    assert contract.redrive_selection(contract.RETRY_REQUEST.check(sent)) == asked


@pytest.mark.parametrize("sent", [
    {}, {"all": False}, {"ids": [1], "all": True}, {"ids": []}, {"ids": [0]},
    {"ids": ["1"]}, {"ids": [True]}, {"ids": [1.5]}, {"ids": list(range(1, 1002))}])
def test_a_redrive_that_asks_for_neither_or_both_or_bad_ids_is_refused(
        sent: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as refused:
        contract.redrive_selection(contract.RESEND_REQUEST.check(sent))
    assert "ids" in str(refused.value)
