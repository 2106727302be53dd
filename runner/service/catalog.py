"""The service's catalog in SQLite: workspaces, tokens, functions, versions and sources.

Plain functions on a connection; the caller decides the transaction (the service runs
them through a ``Store``, ``segfn admin`` on a connection of its own). Every lookup takes
the workspace, so nothing of one workspace is reachable from another, and answers the
value classes of runner/service/records.py, built from the rows it read.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from typing import Any

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

SCHEMA = """
CREATE TABLE IF NOT EXISTS workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_used_at REAL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS functions (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    latest_version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (workspace, name)
);
CREATE TABLE IF NOT EXISTS versions (
    function TEXT NOT NULL REFERENCES functions (id),
    number INTEGER NOT NULL,
    code TEXT NOT NULL,
    settings_schema TEXT NOT NULL,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (function, number)
);
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    function TEXT NOT NULL REFERENCES functions (id),
    version INTEGER NOT NULL,
    webhook_token TEXT NOT NULL UNIQUE,
    settings TEXT NOT NULL,
    secrets TEXT NOT NULL,
    write_key TEXT,
    paused INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    allow_get INTEGER NOT NULL DEFAULT 0,
    capture_days INTEGER NOT NULL DEFAULT 0,
    dedup_header TEXT,
    UNIQUE (workspace, name)
);
"""


def migrate(db: sqlite3.Connection) -> None:
    """Bring a catalog made by an earlier version up to ``SCHEMA``."""
    # One transaction: two processes opening an old file must not both add the column.
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(sources)")}
        if "allow_get" not in columns:
            # 0: sources from before GET was taken took POST only.
            db.execute("ALTER TABLE sources ADD COLUMN allow_get INTEGER NOT NULL DEFAULT 0")
        if "capture_days" not in columns:
            # 0: sources from before capture kept no delivery.
            db.execute("ALTER TABLE sources ADD COLUMN capture_days INTEGER NOT NULL "
                       "DEFAULT 0")
        if "dedup_header" not in columns:
            # NULL: sources from before named no header of their own for delivery ids.
            db.execute("ALTER TABLE sources ADD COLUMN dedup_header TEXT")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _insert(db: sqlite3.Connection, sql: str, args: tuple[Any, ...], what: str) -> None:
    try:
        db.execute(sql, args)
    except sqlite3.IntegrityError:
        raise Conflict(f"{what} already exists") from None


# Workspaces and tokens

def create_workspace(db: sqlite3.Connection, name: str) -> tuple[str, str]:
    """A new workspace and its first Workspace Owner token: (workspace id, secret)."""
    workspace = new_id("ws")
    _insert(db, "INSERT INTO workspaces VALUES (?, ?, ?)", (workspace, check_name(name),
                                                            time.time()),
            f"a workspace named {name!r}")
    _, secret = create_token(db, workspace, "owner", (Grant(OWNER),))
    return workspace, secret


def workspace(db: sqlite3.Connection, workspace_id: str) -> Workspace:
    row = db.execute("SELECT id, name FROM workspaces WHERE id = ?", (workspace_id,)).fetchone()
    return Workspace.from_row(row)


def count_workspaces(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM workspaces").fetchone()[0]


def create_token(db: sqlite3.Connection, workspace_id: str, name: str,
                 grants: tuple[Grant, ...]) -> tuple[Token, str]:
    """A token with ``grants``: (its description, its secret, shown this once)."""
    if not isinstance(name, str) or not name.strip() or len(name) > TOKEN_NAME_LENGTH:
        raise InvalidRequest(f"a token's name is 1 to {TOKEN_NAME_LENGTH} characters: say "
                             "what it is for")
    token_id, secret = new_id("tok"), new_secret()
    roles = json.dumps([g.to_dict() for g in grants])
    db.execute("INSERT INTO tokens (id, workspace, name, secret_hash, roles, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               (token_id, workspace_id, name, hash_secret(secret), roles, time.time()))
    return get_token(db, workspace_id, token_id), secret


def authenticate(db: sqlite3.Connection, secret: str) -> Token | None:
    """The live token with this secret, marked as used now; None if there is none."""
    row = db.execute("SELECT * FROM tokens WHERE secret_hash = ? AND revoked_at IS NULL",
                     (hash_secret(secret),)).fetchone()
    if row is not None:
        db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (time.time(), row["id"]))
    return None if row is None else Token.from_row(row)


def get_token(db: sqlite3.Connection, workspace_id: str, token_id: str) -> Token:
    row = db.execute("SELECT * FROM tokens WHERE workspace = ? AND id = ?",
                     (workspace_id, token_id)).fetchone()
    if row is None:
        raise NotFound(f"no token {token_id}")
    return Token.from_row(row)


def list_tokens(db: sqlite3.Connection, workspace_id: str) -> list[Token]:
    rows = db.execute("SELECT * FROM tokens WHERE workspace = ? ORDER BY created_at",
                      (workspace_id,))
    return [Token.from_row(r) for r in rows]


def revoke_token(db: sqlite3.Connection, workspace_id: str, token_id: str) -> None:
    """Revoke a token; never the workspace's last live Workspace Owner token."""
    token = get_token(db, workspace_id, token_id)
    owners = [t.id for t in list_tokens(db, workspace_id) if t.revoked_at is None
              and any(g.role == OWNER for g in t.grants)]
    if owners == [token.id]:
        raise Conflict("this is the workspace's last Workspace Owner token; create "
                       "another one first, or nobody could manage the workspace")
    db.execute("UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
               (time.time(), token_id))


# Functions and versions

def find_function(db: sqlite3.Connection, workspace_id: str, ref: str) -> Function:
    """The function with this id or name in the workspace, or ``NotFound``."""
    row = db.execute("SELECT * FROM functions WHERE workspace = ? AND (id = ? OR name = ?) "
                     "ORDER BY id = ? DESC LIMIT 1", (workspace_id, ref, ref, ref)).fetchone()
    if row is None:
        raise NotFound(f"no function {ref!r}")
    return Function.from_row(row)


def list_functions(db: sqlite3.Connection, workspace_id: str) -> list[Function]:
    rows = db.execute("SELECT * FROM functions WHERE workspace = ? ORDER BY name",
                      (workspace_id,))
    return [Function.from_row(r) for r in rows]


def create_function(db: sqlite3.Connection, workspace_id: str, name: str,
                    description: str) -> str:
    function_id, now = new_id("fn"), time.time()
    _insert(db, "INSERT INTO functions VALUES (?, ?, ?, ?, 0, ?, ?)",
            (function_id, workspace_id, check_name(name), description, now, now),
            f"a function named {name!r}")
    return function_id


def set_description(db: sqlite3.Connection, function_id: str, description: str) -> None:
    db.execute("UPDATE functions SET description = ?, updated_at = ? WHERE id = ?",
               (description, time.time(), function_id))


def add_version(db: sqlite3.Connection, function_id: str, code: str,
                settings_schema: tuple[SettingSpec, ...], created_by: str) -> int:
    number = db.execute("SELECT latest_version + 1 FROM functions WHERE id = ?",
                        (function_id,)).fetchone()[0]
    now = time.time()
    db.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?)",
               (function_id, number, code,
                json.dumps([spec.to_dict() for spec in settings_schema]), now, created_by))
    db.execute("UPDATE functions SET latest_version = ?, updated_at = ? WHERE id = ?",
               (number, now, function_id))
    return number


# Versions with the name of the token that saved each (tokens are revoked, never deleted).
_VERSIONS = ("SELECT versions.*, tokens.name AS created_by_name FROM versions "
             "LEFT JOIN tokens ON tokens.id = versions.created_by")


def get_version(db: sqlite3.Connection, function_id: str, number: int) -> Version:
    row = None if not 0 < number < 2**31 else db.execute(
        f"{_VERSIONS} WHERE function = ? AND number = ?", (function_id, number)).fetchone()
    if row is None:
        raise NotFound(f"no version {number} of this function")
    return Version.from_row(row)


def list_versions(db: sqlite3.Connection, function_id: str) -> list[Version]:
    rows = db.execute(f"{_VERSIONS} WHERE function = ? ORDER BY number DESC", (function_id,))
    return [Version.from_row(r) for r in rows]


def delete_function(db: sqlite3.Connection, function_id: str) -> list[str]:
    """Delete a function, its versions and its sources; returns the deleted source ids."""
    gone = [r["id"] for r in db.execute("SELECT id FROM sources WHERE function = ?",
                                        (function_id,))]
    db.execute("DELETE FROM sources WHERE function = ?", (function_id,))
    db.execute("DELETE FROM versions WHERE function = ?", (function_id,))
    db.execute("DELETE FROM functions WHERE id = ?", (function_id,))
    return gone


# Sources

def find_source(db: sqlite3.Connection, workspace_id: str, ref: str) -> SourceRecord:
    """The source with this id or name in the workspace, or ``NotFound``."""
    row = db.execute("SELECT * FROM sources WHERE workspace = ? AND (id = ? OR name = ?) "
                     "ORDER BY id = ? DESC LIMIT 1", (workspace_id, ref, ref, ref)).fetchone()
    if row is None:
        raise NotFound(f"no source {ref!r}")
    return SourceRecord.from_row(row)


def get_source(db: sqlite3.Connection, source_id: str) -> SourceRecord | None:
    """The source with this id, whatever its workspace; None if there is none."""
    row = db.execute("SELECT * FROM sources WHERE id = ?", (source_id,)).fetchone()
    return None if row is None else SourceRecord.from_row(row)


def list_sources(db: sqlite3.Connection, workspace_id: str | None = None,
                 function_id: str | None = None) -> list[SourceRecord]:
    """Sources of a workspace, of a function, or (both None) every source."""
    where, args = [], []
    for column, value in (("workspace", workspace_id), ("function", function_id)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = "SELECT * FROM sources" + (" WHERE " + " AND ".join(where) if where else "")
    return [SourceRecord.from_row(r) for r in db.execute(sql + " ORDER BY name", args)]


def create_source(db: sqlite3.Connection, workspace_id: str, name: str, function_id: str,
                  version: int, settings: dict[str, Any], sealed: dict[str, str],
                  write_key: str | None, allow_get: bool = False,
                  capture_days: int = 0, dedup_header: str | None = None) -> str:
    source_id, now = new_id("src"), time.time()
    _insert(db, "INSERT INTO sources (id, workspace, name, function, version, webhook_token, "
            "settings, secrets, write_key, paused, created_at, updated_at, allow_get, "
            "capture_days, dedup_header) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
            (source_id, workspace_id, check_name(name), function_id, version,
             secrets.token_urlsafe(32), json.dumps(settings), json.dumps(sealed), write_key,
             now, now, int(allow_get), capture_days, dedup_header), f"a source named {name!r}")
    return source_id


def update_source(db: sqlite3.Connection, source_id: str, **columns: Any) -> None:
    """Set columns of a source: version, settings, secrets (dicts), write_key, paused,
    allow_get, capture_days, dedup_header."""
    values = {k: json.dumps(v) if k in ("settings", "secrets") else v
              for k, v in columns.items()}
    assignments = ", ".join(f"{k} = ?" for k in values)
    db.execute(f"UPDATE sources SET {assignments}, updated_at = ? WHERE id = ?",
               (*values.values(), time.time(), source_id))


def delete_source(db: sqlite3.Connection, source_id: str) -> None:
    db.execute("DELETE FROM sources WHERE id = ?", (source_id,))
