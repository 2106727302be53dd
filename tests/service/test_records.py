"""The catalog's records: built from their SQLite rows as they were saved, and refused when
a row holds what no record may (the API's answers are checked against the OpenAPI document
in test_openapi)."""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa

from runner.service import catalog
from runner.service.access import FUNCTIONS_READ, SOURCE_ADMIN, Grant
from runner.service.settings_schema import SettingSpec, parse_schema
from runner.store import Db

CODE = "def on_request(request, settings):\n    pass\n"


def saved(db: Db) -> tuple[str, str, str]:
    """A workspace with function "billing", its version 1 and source "stripe" on it."""
    workspace_id, _ = catalog.create_workspace(db, "acme")
    function_id = catalog.create_function(db, workspace_id, "billing", "bills")
    schema = parse_schema([{"label": "API Key", "encrypted": True}, {"label": "Region"}])
    catalog.add_version(db, function_id, CODE, schema, "tok_1")
    source_id = catalog.create_source(db, workspace_id, "stripe", function_id, 1,
                                      {"region": "eu"}, {"apiKey": "sealed-token"}, None)
    return workspace_id, function_id, source_id


def test_a_function_its_version_and_its_source_come_back_as_saved(
        db: Db) -> None:
    workspace_id, function_id, source_id = saved(db)
    function = catalog.find_function(db, workspace_id, "billing")
    assert (function.id, function.description, function.latest_version) == (
        function_id, "bills", 1)
    assert function.filename == "billing.py"
    version = catalog.get_version(db, function_id, 1)
    assert version.settings_schema == (
        SettingSpec(label="API Key", name="apiKey", encrypted=True),
        SettingSpec(label="Region", name="region"))
    summary = version.view(with_code=False)
    assert "code" not in summary and version.view()["code"] == CODE
    assert summary["code_sha256"] == hashlib.sha256(CODE.encode()).hexdigest()
    source = catalog.find_source(db, workspace_id, "stripe")
    assert (source.id, source.function, source.version, source.paused) == (
        source_id, function_id, 1, False)
    assert (source.settings, source.secrets) == ({"region": "eu"}, {"apiKey": "sealed-token"})
    view = source.view(version, "https://hooks.example/fn/t")
    # An encrypted value is shown only as set or not set, never as its token.
    assert view["secrets"] == {"apiKey": "set"} and view["settings"] == {"region": "eu"}
    assert "sealed-token" not in json.dumps(view)
    assert catalog.list_sources(db, function_id=function_id) == [source]


def test_a_token_keeps_its_grants(db: Db) -> None:
    workspace_id, function_id, _ = saved(db)
    grants = (Grant(FUNCTIONS_READ, (function_id,)), Grant(SOURCE_ADMIN))
    made, secret = catalog.create_token(db, workspace_id, "ci", grants)
    token = catalog.authenticate(db, secret)
    assert token is not None and token.grants == grants == made.grants
    assert made.last_used_at is None
    assert catalog.get_token(db, workspace_id, made.id).last_used_at is not None
    assert token.view()["roles"] == [{"role": FUNCTIONS_READ, "functions": [function_id]},
                                     {"role": SOURCE_ADMIN, "functions": None}]
    assert catalog.workspace(db, workspace_id).view() == {"id": workspace_id, "name": "acme"}


@pytest.mark.parametrize(("table", "column", "value", "complaint"), [
    ("versions", "settings_schema", '[{"label": "Key", "name": "key", "type": "money"}]',
     "'type' must be in"),
    ("versions", "settings_schema", '[{"label": "Key", "name": "2key"}]', "'name' must match"),
    ("versions", "settings_schema", '[{"label": "Key", "name": "key", "required": "yes"}]',
     "'required' must be <class 'bool'>"),
    ("functions", "name", "no spaces", "'name' must match"),
    ("functions", "latest_version", -1, "'latest_version' must be >= 0"),
    ("sources", "name", "a/b", "'name' must match"),
    ("sources", "version", 0, "'version' must be >= 1"),
    ("sources", "settings", "[]", "'settings' must be <class 'dict'>"),
])
def test_a_row_no_record_may_hold_is_refused(db: Db, table: str, column: str,
                                             value: object, complaint: str) -> None:
    workspace_id, function_id, source_id = saved(db)
    db.execute(sa.text(f"UPDATE {table} SET {column} = :value"), {"value": value})
    read = {"versions": lambda: catalog.get_version(db, function_id, 1),
            "functions": lambda: catalog.find_function(db, workspace_id, function_id),
            "sources": lambda: catalog.find_source(db, workspace_id, source_id)}[table]
    with pytest.raises((TypeError, ValueError), match=complaint):
        read()
