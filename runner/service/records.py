"""The catalog's records as value classes: workspaces, tokens, functions, versions, sources.

Each is built once, from its SQLite row (``from_row``), and checked as it is built; its
``view`` is the one definition of how the API shows it (the OpenAPI document's component of
the same name describes that shape). The rule for names lives here too, since a record
holds only valid names.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
from attrs.validators import and_, ge, instance_of, matches_re, max_len, optional

from runner.service.access import Grant
from runner.service.problems import InvalidRequest
from runner.service.settings_schema import SettingSpec
from segfn.identities import utc_iso

# Of workspaces, functions and sources.
NAME_LENGTH = 64
NAME_PATTERN = f"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{NAME_LENGTH - 1}}}$"
_NAME_RULE = "names start with a letter or digit and use letters, digits, '_', '.', '-'"
TOKEN_NAME_LENGTH = 100

_TEXT = instance_of(str)
_NAME = [_TEXT, matches_re(NAME_PATTERN)]  # matches_re uses re.fullmatch
_TIME = instance_of(float)
_WHEN = optional(instance_of(float))
_NUMBER = [instance_of(int), ge(1)]


def check_name(name: Any) -> str:
    # fullmatch: re's "$" would also match before a final newline.
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise InvalidRequest(f"invalid name {name!r}: {_NAME_RULE}, at most {NAME_LENGTH}")
    return name


def iso(at: float | None) -> str | None:
    return None if at is None else utc_iso(datetime.fromtimestamp(at, UTC))


@attrs.frozen
class Workspace:
    id: str = attrs.field(validator=_TEXT)
    name: str = attrs.field(validator=_NAME)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Workspace:
        return cls(row["id"], row["name"])

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@attrs.frozen
class Token:
    """An API token of a workspace (never its secret, which the catalog keeps hashed)."""

    id: str = attrs.field(validator=_TEXT)
    workspace: str = attrs.field(validator=_TEXT)
    name: str = attrs.field(validator=and_(_TEXT, max_len(TOKEN_NAME_LENGTH)))
    grants: tuple[Grant, ...] = attrs.field(validator=instance_of(tuple))
    created_at: float = attrs.field(validator=_TIME)
    last_used_at: float | None = attrs.field(validator=_WHEN)
    revoked_at: float | None = attrs.field(validator=_WHEN)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Token:
        grants = tuple(Grant(g["role"], None if g["functions"] is None else tuple(g["functions"]))
                       for g in json.loads(row["roles"]))
        return cls(row["id"], row["workspace"], row["name"], grants, row["created_at"],
                   row["last_used_at"], row["revoked_at"])

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "roles": [g.to_dict() for g in self.grants],
                "created_at": iso(self.created_at), "last_used_at": iso(self.last_used_at),
                "revoked_at": iso(self.revoked_at)}


@attrs.frozen
class Function:
    id: str = attrs.field(validator=_TEXT)
    workspace: str = attrs.field(validator=_TEXT)
    name: str = attrs.field(validator=_NAME)
    description: str = attrs.field(validator=_TEXT)
    # 0 only inside the transaction that creates the function with its first version.
    latest_version: int = attrs.field(validator=[instance_of(int), ge(0)])
    created_at: float = attrs.field(validator=_TIME)
    updated_at: float = attrs.field(validator=_TIME)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Function:
        return cls(row["id"], row["workspace"], row["name"], row["description"],
                   row["latest_version"], row["created_at"], row["updated_at"])

    @property
    def filename(self) -> str:
        """What tracebacks and compile errors call its code."""
        return f"{self.name}.py"

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description,
                "latest_version": self.latest_version, "created_at": iso(self.created_at),
                "updated_at": iso(self.updated_at)}


@attrs.frozen
class Version:
    """An immutable version of a function: its code and its settings schema."""

    function: str = attrs.field(validator=_TEXT)
    number: int = attrs.field(validator=_NUMBER)
    code: str = attrs.field(validator=_TEXT)
    settings_schema: tuple[SettingSpec, ...] = attrs.field(
        validator=attrs.validators.deep_iterable(instance_of(SettingSpec), instance_of(tuple)))
    created_at: float = attrs.field(validator=_TIME)
    created_by: str = attrs.field(validator=_TEXT)
    # The name of the token that saved it, when read with it (catalog's version queries).
    created_by_name: str | None = attrs.field(default=None, validator=optional(_TEXT))

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Version:
        schema = (SettingSpec(**spec) for spec in json.loads(row["settings_schema"]))
        name = row["created_by_name"] if "created_by_name" in row.keys() else None
        return cls(row["function"], row["number"], row["code"], tuple(schema),
                   row["created_at"], row["created_by"], name)

    def view(self, with_code: bool = True) -> dict[str, Any]:
        version: dict[str, Any] = {
            "number": self.number, "created_at": iso(self.created_at),
            "created_by": self.created_by, "created_by_name": self.created_by_name,
            "code_sha256": hashlib.sha256(self.code.encode("utf-8")).hexdigest(),
            "settings_schema": [spec.to_dict() for spec in self.settings_schema]}
        if with_code:
            version["code"] = self.code
        return version


@attrs.frozen
class SourceRecord:
    """A source as the catalog keeps it: which version it runs, with what values.

    ``secrets`` holds the encrypted values, as Fernet tokens; only the vault reads them.
    (``runner.source.Source`` is the other side: a source ready to run, values decrypted.)
    """

    id: str = attrs.field(validator=_TEXT)
    workspace: str = attrs.field(validator=_TEXT)
    name: str = attrs.field(validator=_NAME)
    function: str = attrs.field(validator=_TEXT)
    version: int = attrs.field(validator=_NUMBER)
    webhook_token: str = attrs.field(validator=_TEXT)
    settings: dict[str, Any] = attrs.field(validator=instance_of(dict))
    secrets: dict[str, str] = attrs.field(validator=instance_of(dict))
    write_key: str | None = attrs.field(validator=optional(_TEXT))
    paused: bool = attrs.field(validator=instance_of(bool))
    created_at: float = attrs.field(validator=_TIME)
    updated_at: float = attrs.field(validator=_TIME)
    allow_get: bool = attrs.field(validator=instance_of(bool))
    capture_days: int = attrs.field(default=0, validator=instance_of(int))
    dedup_header: str | None = attrs.field(default=None, validator=optional(_TEXT))
    # The version its live deliveries also run, compared and discarded (runner/shadow.py).
    shadow_version: int | None = attrs.field(default=None, validator=optional(_NUMBER))

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> SourceRecord:
        return cls(row["id"], row["workspace"], row["name"], row["function"], row["version"],
                   row["webhook_token"], json.loads(row["settings"]),
                   json.loads(row["secrets"]), row["write_key"], bool(row["paused"]),
                   row["created_at"], row["updated_at"], bool(row["allow_get"]),
                   row["capture_days"], row["dedup_header"], row["shadow_version"])

    def view(self, version: Version, webhook_url: str) -> dict[str, Any]:
        """How the API shows it: its encrypted settings (those of ``version``, the one it
        runs) only as set or not set."""
        return {"id": self.id, "name": self.name, "function": self.function,
                "version": self.version, "settings": self.settings,
                "secrets": {spec.name: "set" if spec.name in self.secrets else "not set"
                            for spec in version.settings_schema if spec.encrypted},
                "webhook_url": webhook_url, "paused": self.paused,
                "allow_get": self.allow_get, "capture_days": self.capture_days,
                "dedup_header": self.dedup_header, "shadow_version": self.shadow_version,
                "write_key": self.write_key,
                "created_at": iso(self.created_at), "updated_at": iso(self.updated_at)}

