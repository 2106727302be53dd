"""The service's catalog: workspaces, tokens, functions, versions and sources.

Plain functions on a connection (SQLite or PostgreSQL, the tables of runner/db/schema.py);
the caller decides the transaction (the service runs them through a ``Store``,
``segfn admin`` on a connection of its own). Every lookup takes
the workspace, so nothing of one workspace is reachable from another, and answers the
value classes of runner/service/records.py, built from the rows it read.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import sqlalchemy as sa

from runner.db import schema
from runner.service import feed
from runner.service.access import OWNER, Grant, hash_secret, new_secret
from runner.service.problems import Conflict, InvalidRequest, NotFound
from runner.service.records import (
    TOKEN_NAME_LENGTH,
    Function,
    SourceRecord,
    Token,
    Version,
    Workspace,
    check_name,
)
from runner.service.settings_schema import SettingSpec
from runner.store import Db

_WORKSPACES, _TOKENS, _FUNCTIONS = schema.workspaces, schema.tokens, schema.functions
_VERSION_ROWS, _SOURCES = schema.versions, schema.sources

def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _insert(db: Db, table: sa.Table, row: dict[str, Any], what: str) -> None:
    try:
        db.execute(table.insert().values(**row))
    except sa.exc.IntegrityError:
        raise Conflict(f"{what} already exists") from None


# Workspaces and tokens

def create_workspace(db: Db, name: str) -> tuple[str, str]:
    """A new workspace and its first Workspace Owner token: (workspace id, secret)."""
    workspace = new_id("ws")
    _insert(db, _WORKSPACES, {"id": workspace, "name": check_name(name),
                              "created_at": time.time()}, f"a workspace named {name!r}")
    _, secret = create_token(db, workspace, "owner", (Grant(OWNER),))
    return workspace, secret


def workspace(db: Db, workspace_id: str) -> Workspace:
    row = db.execute(sa.select(_WORKSPACES.c.id, _WORKSPACES.c.name)
                     .where(_WORKSPACES.c.id == workspace_id)).mappings().one()
    return Workspace.from_row(row)


def count_workspaces(db: Db) -> int:
    return int(db.execute(sa.select(sa.func.count()).select_from(_WORKSPACES)).scalar_one())


def create_token(db: Db, workspace_id: str, name: str,
                 grants: tuple[Grant, ...]) -> tuple[Token, str]:
    """A token with ``grants``: (its description, its secret, shown this once)."""
    if not isinstance(name, str) or not name.strip() or len(name) > TOKEN_NAME_LENGTH:
        raise InvalidRequest(f"a token's name is 1 to {TOKEN_NAME_LENGTH} characters: say "
                             "what it is for")
    token_id, secret = new_id("tok"), new_secret()
    roles = json.dumps([g.to_dict() for g in grants])
    db.execute(_TOKENS.insert().values(id=token_id, workspace=workspace_id, name=name,
                                       secret_hash=hash_secret(secret), roles=roles,
                                       created_at=time.time()))
    return get_token(db, workspace_id, token_id), secret


def authenticate(db: Db, secret: str) -> Token | None:
    """The live token with this secret, marked as used now; None if there is none."""
    row = db.execute(sa.select(_TOKENS).where(_TOKENS.c.secret_hash == hash_secret(secret),
                                              _TOKENS.c.revoked_at.is_(None))).mappings().first()
    if row is not None:
        db.execute(_TOKENS.update().where(_TOKENS.c.id == row["id"])
                   .values(last_used_at=time.time()))
    return None if row is None else Token.from_row(row)


def get_token(db: Db, workspace_id: str, token_id: str) -> Token:
    row = db.execute(sa.select(_TOKENS).where(_TOKENS.c.workspace == workspace_id,
                                              _TOKENS.c.id == token_id)).mappings().first()
    if row is None:
        raise NotFound(f"no token {token_id}")
    return Token.from_row(row)


def list_tokens(db: Db, workspace_id: str) -> list[Token]:
    rows = db.execute(sa.select(_TOKENS).where(_TOKENS.c.workspace == workspace_id)
                      .order_by(_TOKENS.c.created_at)).mappings()
    return [Token.from_row(r) for r in rows]


def revoke_token(db: Db, workspace_id: str, token_id: str) -> None:
    """Revoke a token; never the workspace's last live Workspace Owner token."""
    token = get_token(db, workspace_id, token_id)
    owners = [t.id for t in list_tokens(db, workspace_id) if t.revoked_at is None
              and any(g.role == OWNER for g in t.grants)]
    if owners == [token.id]:
        raise Conflict("this is the workspace's last Workspace Owner token; create "
                       "another one first, or nobody could manage the workspace")
    db.execute(_TOKENS.update().where(_TOKENS.c.id == token_id)
               .values(revoked_at=sa.func.coalesce(_TOKENS.c.revoked_at, time.time())))


def _by_id_or_name(table: sa.Table, workspace_id: str, ref: str) -> sa.Select[Any]:
    """The row of ``table`` in the workspace with id ``ref``, else with name ``ref``."""
    return (sa.select(table).where(table.c.workspace == workspace_id,
                                   sa.or_(table.c.id == ref, table.c.name == ref))
            .order_by((table.c.id == ref).desc()).limit(1))


# Functions and versions

def find_function(db: Db, workspace_id: str, ref: str) -> Function:
    """The function with this id or name in the workspace, or ``NotFound``."""
    row = db.execute(_by_id_or_name(_FUNCTIONS, workspace_id, ref)).mappings().first()
    if row is None:
        raise NotFound(f"no function {ref!r}")
    return Function.from_row(row)


def list_functions(db: Db, workspace_id: str) -> list[Function]:
    rows = db.execute(sa.select(_FUNCTIONS).where(_FUNCTIONS.c.workspace == workspace_id)
                      .order_by(_FUNCTIONS.c.name)).mappings()
    return [Function.from_row(r) for r in rows]


def create_function(db: Db, workspace_id: str, name: str, description: str) -> str:
    function_id, now = new_id("fn"), time.time()
    _insert(db, _FUNCTIONS, {"id": function_id, "workspace": workspace_id,
                             "name": check_name(name), "description": description,
                             "latest_version": 0, "created_at": now, "updated_at": now},
            f"a function named {name!r}")
    return function_id


def set_description(db: Db, function_id: str, description: str) -> None:
    db.execute(_FUNCTIONS.update().where(_FUNCTIONS.c.id == function_id)
               .values(description=description, updated_at=time.time()))


def add_version(db: Db, function_id: str, code: str,
                settings_schema: tuple[SettingSpec, ...], created_by: str) -> int:
    number = db.execute(sa.select(_FUNCTIONS.c.latest_version + 1)
                        .where(_FUNCTIONS.c.id == function_id)).scalar_one()
    now = time.time()
    db.execute(_VERSION_ROWS.insert().values(
        function=function_id, number=number, code=code,
        settings_schema=json.dumps([spec.to_dict() for spec in settings_schema]),
        created_at=now, created_by=created_by))
    db.execute(_FUNCTIONS.update().where(_FUNCTIONS.c.id == function_id)
               .values(latest_version=number, updated_at=now))
    return int(number)


# Versions with the name of the token that saved each (tokens are revoked, never deleted).
_VERSIONS = (sa.select(_VERSION_ROWS, _TOKENS.c.name.label("created_by_name"))
             .outerjoin(_TOKENS, _TOKENS.c.id == _VERSION_ROWS.c.created_by))


def get_version(db: Db, function_id: str, number: int) -> Version:
    row = None if not 0 < number < 2**31 else db.execute(_VERSIONS.where(
        _VERSION_ROWS.c.function == function_id, _VERSION_ROWS.c.number == number)
    ).mappings().first()
    if row is None:
        raise NotFound(f"no version {number} of this function")
    return Version.from_row(row)


def list_versions(db: Db, function_id: str) -> list[Version]:
    rows = db.execute(_VERSIONS.where(_VERSION_ROWS.c.function == function_id)
                      .order_by(_VERSION_ROWS.c.number.desc())).mappings()
    return [Version.from_row(r) for r in rows]


def delete_function(db: Db, function_id: str) -> list[str]:
    """Delete a function, its versions and its sources; returns the deleted source ids."""
    gone = list(db.execute(sa.select(_SOURCES.c.id).where(_SOURCES.c.function == function_id)
                           ).scalars())
    db.execute(_SOURCES.delete().where(_SOURCES.c.function == function_id))
    db.execute(_VERSION_ROWS.delete().where(_VERSION_ROWS.c.function == function_id))
    db.execute(_FUNCTIONS.delete().where(_FUNCTIONS.c.id == function_id))
    feed.note(db, gone)
    return gone


# Sources

def find_source(db: Db, workspace_id: str, ref: str) -> SourceRecord:
    """The source with this id or name in the workspace, or ``NotFound``."""
    row = db.execute(_by_id_or_name(_SOURCES, workspace_id, ref)).mappings().first()
    if row is None:
        raise NotFound(f"no source {ref!r}")
    return SourceRecord.from_row(row)


def get_source(db: Db, source_id: str) -> SourceRecord | None:
    """The source with this id, whatever its workspace; None if there is none."""
    row = db.execute(sa.select(_SOURCES).where(_SOURCES.c.id == source_id)).mappings().first()
    return None if row is None else SourceRecord.from_row(row)


def list_sources(db: Db, workspace_id: str | None = None,
                 function_id: str | None = None) -> list[SourceRecord]:
    """Sources of a workspace, of a function, or (both None) every source."""
    query = sa.select(_SOURCES)
    if workspace_id is not None:
        query = query.where(_SOURCES.c.workspace == workspace_id)
    if function_id is not None:
        query = query.where(_SOURCES.c.function == function_id)
    return [SourceRecord.from_row(r)
            for r in db.execute(query.order_by(_SOURCES.c.name)).mappings()]


def create_source(db: Db, workspace_id: str, name: str, function_id: str,
                  version: int, settings: dict[str, Any], sealed: dict[str, str],
                  write_key: str | None, allow_get: bool = False,
                  capture_days: int = 0, dedup_header: str | None = None) -> str:
    source_id, now = new_id("src"), time.time()
    _insert(db, _SOURCES, {
        "id": source_id, "workspace": workspace_id, "name": check_name(name),
        "function": function_id, "version": version,
        "webhook_token": secrets.token_urlsafe(32), "settings": json.dumps(settings),
        "secrets": json.dumps(sealed), "write_key": write_key, "paused": 0,
        "created_at": now, "updated_at": now, "allow_get": int(allow_get),
        "capture_days": capture_days, "dedup_header": dedup_header},
        f"a source named {name!r}")
    feed.note(db, [source_id])
    return source_id


def update_source(db: Db, source_id: str, **columns: Any) -> None:
    """Set columns of a source: version, settings, secrets (dicts), write_key, paused,
    allow_get, capture_days, dedup_header, shadow_version."""
    # Flags are integers in the table (PostgreSQL takes no bool for them).
    values = {k: json.dumps(v) if k in ("settings", "secrets")
              else int(v) if isinstance(v, bool) else v for k, v in columns.items()}
    db.execute(_SOURCES.update().where(_SOURCES.c.id == source_id)
               .values(**values, updated_at=time.time()))
    feed.note(db, [source_id])


def delete_source(db: Db, source_id: str) -> None:
    db.execute(_SOURCES.delete().where(_SOURCES.c.id == source_id))
    feed.note(db, [source_id])
