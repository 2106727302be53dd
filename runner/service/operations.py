"""The service's operations on functions, versions and sources, and the sources it serves.

The catalog is the truth; the service keeps every source ready to run in memory (code,
decrypted settings), found by webhook token or by id, and reloads a source whenever an
operation changes it. Code is compiled, and its imports checked, when it is saved; setting
values are checked against their version's schema whenever they or the version change, so
a webhook never discovers a bad configuration.
"""

from __future__ import annotations

import ast
import asyncio
import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from runner.service import catalog
from runner.service.access import Principal
from runner.service.keyring import Keyring
from runner.service.problems import CompileError, Conflict, InvalidConfiguration, NotFound
from runner.service.settings_schema import MAX_DESCRIPTION, SchemaError, parse_schema
from runner.service.vault import Vault, schema_of, secret_strings
from runner.source import Names, Source
from runner.store import Store
from segfn.errors import InvalidSettings
from segfn.sandbox.compiler import Handler, compile_handler
from segfn.sandbox.egress import OWN_WEBHOOKS, own_url_in
from segfn.sandbox.imports import ImportChecker

WEBHOOK_PREFIX = "/fn/"


class Service:
    """Functions and sources of every workspace, over one catalog database."""

    def __init__(self, catalog_store: Store, keyring: Keyring | None, public_url: str,
                 default_write_key: bool = True,
                 modules: Mapping[str, Iterable[str]] | None = None) -> None:
        self.catalog = catalog_store
        self.vault = Vault(keyring)
        self.public_url = public_url.rstrip("/")
        # False when deliveries go to a Tracking API with no service-wide write key.
        self.default_write_key = default_write_key
        self._by_id: dict[str, Source] = {}
        self._by_token: dict[str, Source] = {}
        # The operator's extra modules (--modules): what saved code may import.
        self._imports = ImportChecker(modules)

    # Serving webhooks

    def route(self, path: str) -> Source | None:
        if not path.startswith(WEBHOOK_PREFIX):
            return None
        return self._by_token.get(path[len(WEBHOOK_PREFIX):])

    def resolve(self, source_id: str) -> Source | None:
        return self._by_id.get(source_id)

    def webhook_url(self, row: sqlite3.Row) -> str:
        return f"{self.public_url}{WEBHOOK_PREFIX}{row['webhook_token']}"

    async def load(self) -> int:
        """Make every source ready to run; the number of sources."""
        rows = await self.catalog.run(lambda db: [
            (row, self._runtime_source(db, row)) for row in catalog.source_rows(db)])
        for row, source in rows:
            self._put(row, source)
        return len(rows)

    def _put(self, row: sqlite3.Row, source: Source) -> None:
        self._by_id[source.id] = source
        self._by_token[row["webhook_token"]] = source

    def _forget(self, source_ids: Iterable[str]) -> None:
        gone = set(source_ids)
        for source_id in gone:
            self._by_id.pop(source_id, None)
        self._by_token = {t: s for t, s in self._by_token.items() if s.id not in gone}

    async def _reload(self, source_ids: Iterable[str]) -> None:
        ids = list(source_ids)

        def read(db: sqlite3.Connection) -> list[tuple[sqlite3.Row, Source]]:
            rows = [db.execute("SELECT * FROM sources WHERE id = ?", (i,)).fetchone()
                    for i in ids]
            return [(row, self._runtime_source(db, row)) for row in rows if row is not None]

        for row, source in await self.catalog.run(read):
            self._put(row, source)

    def _runtime_source(self, db: sqlite3.Connection, row: sqlite3.Row) -> Source:
        function = db.execute("SELECT name FROM functions WHERE id = ?",
                              (row["function"],)).fetchone()
        workspace = db.execute("SELECT name FROM workspaces WHERE id = ?",
                               (row["workspace"],)).fetchone()
        version = catalog.get_version(db, row["function"], row["version"])
        values = self.vault.values_of(row)
        # The webhook token is a credential too: the errors log shows URLs without it.
        hidden = (*secret_strings(json.loads(row["secrets"]), values), row["webhook_token"])
        return Source(row["id"], row["function"],
                      Handler(version["code"], f"{function['name']}.py"), values, hidden,
                      row["write_key"], bool(row["paused"]), row["workspace"],
                      Names(workspace["name"], function["name"], row["name"]))

    # What the API shows

    def source_view(self, db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        """A source as the API shows it: encrypted settings only as set or not set."""
        version = catalog.get_version(db, row["function"], row["version"], with_code=False)
        sealed = json.loads(row["secrets"])
        return {"id": row["id"], "name": row["name"], "function": row["function"],
                "version": row["version"], "settings": json.loads(row["settings"]),
                "secrets": {spec.name: "set" if spec.name in sealed else "not set"
                            for spec in schema_of(version) if spec.encrypted},
                "webhook_url": self.webhook_url(row), "paused": bool(row["paused"]),
                "write_key": row["write_key"], "created_at": catalog.iso(row["created_at"]),
                "updated_at": catalog.iso(row["updated_at"])}

    # Functions

    def visible_function(self, db: sqlite3.Connection, principal: Principal,
                         ref: str) -> dict[str, Any]:
        function = catalog.find_function(db, principal.workspace, ref)
        if not principal.sees_function(function["id"]):
            raise NotFound(f"no function {ref!r}")
        return function

    async def _compile(self, name: str, code: str) -> None:
        handler = Handler(code, f"{name}.py")
        # A courtesy at save time: a URL the code builds at run time is refused by egress.
        own = own_url_in(code, (self.public_url,))
        if own is not None:
            raise CompileError(f"{handler.filename}: the code contains this service's webhook "
                               f"URL ({own}); {OWN_WEBHOOKS}")
        try:
            await asyncio.to_thread(self._check, handler)
        except InvalidSettings as exc:
            raise CompileError(str(exc)) from None

    def _check(self, handler: Handler) -> None:
        compile_handler(handler)
        self._imports.check(handler)

    async def create_function(self, principal: Principal, name: str, description: str,
                              code: str, schema_document: Any) -> dict[str, Any]:
        schema = _parse_schema(schema_document)
        catalog.check_name(name)
        await self._compile(name, code)
        description = description or summary_of(code)

        def create(db: sqlite3.Connection) -> dict[str, Any]:
            function_id = catalog.create_function(db, principal.workspace, name, description)
            number = catalog.add_version(db, function_id, code, schema, principal.token_id)
            return {"function": catalog.find_function(db, principal.workspace, function_id),
                    "version": catalog.get_version(db, function_id, number, with_code=False),
                    "created": True}

        return await self.catalog.run(create)

    async def save_function(self, principal: Principal, function: dict[str, Any],
                            code: str | None, schema_document: Any,
                            description: str | None) -> dict[str, Any]:
        """Save: a new version when code or schema changed; running sources stay as they are."""
        latest = await self.catalog.run(lambda db: catalog.get_version(
            db, function["id"], function["latest_version"]))
        new_code = latest["code"] if code is None else code
        schema = (latest["settings_schema"] if schema_document is None
                  else _parse_schema(schema_document))
        changed = new_code != latest["code"] or schema != latest["settings_schema"]
        if changed:
            await self._compile(function["name"], new_code)

        # A function saved without a description takes its code's, until it is given one.
        told = description if description is not None else (
            summary_of(new_code) if changed and not function["description"] else None)

        def save(db: sqlite3.Connection) -> dict[str, Any]:
            if told is not None:
                catalog.set_description(db, function["id"], told)
            number = (catalog.add_version(db, function["id"], new_code, schema,
                                          principal.token_id)
                      if changed else latest["number"])
            return {"function": catalog.find_function(db, principal.workspace, function["id"]),
                    "version": catalog.get_version(db, function["id"], number, with_code=False),
                    "created": changed}

        return await self.catalog.run(save)

    async def delete_function(self, function: dict[str, Any], force: bool) -> None:
        def delete(db: sqlite3.Connection) -> list[str]:
            users = catalog.source_rows(db, function_id=function["id"])
            if users and not force:
                names = ", ".join(r["name"] for r in users)
                raise Conflict(f"sources use this function ({names}); delete them first, "
                               "or delete with force=true to delete them too")
            return catalog.delete_function(db, function["id"])

        self._forget(await self.catalog.run(delete))

    async def deploy(self, principal: Principal, function: dict[str, Any],
                     number: int | None, refs: list[str] | str) -> list[dict[str, Any]]:
        """Move sources of ``function`` to a version (default: the latest), all or none."""
        number = function["latest_version"] if number is None else number

        def deploy(db: sqlite3.Connection) -> list[dict[str, Any]]:
            version = catalog.get_version(db, function["id"], number)
            rows = (catalog.source_rows(db, principal.workspace, function["id"])
                    if refs == "all" else _unique(catalog.find_source(db, principal.workspace,
                                                                      ref) for ref in refs))
            problems = []
            for row in rows:
                if row["function"] != function["id"]:
                    raise InvalidConfiguration(f"source {row['name']} runs another function")
                try:
                    plain, sealed = self.vault.settle(schema_of(version), row)
                except InvalidConfiguration as exc:
                    problems.append(f"{row['name']}: {exc}")
                    continue
                catalog.update_source(db, row["id"], version=number, settings=plain,
                                      secrets=sealed)
            if problems:
                # Raising rolls the whole deploy back: no source moves unless all can.
                raise InvalidConfiguration(
                    f"version {number} cannot run these sources as configured: "
                    + "; ".join(problems))
            return [self.source_view(db, catalog.find_source(db, principal.workspace, r["id"]))
                    for r in rows]

        deployed = await self.catalog.run(deploy)
        await self._reload(s["id"] for s in deployed)
        return deployed

    # Sources

    def _check_write_key(self, write_key: str | None) -> None:
        if not write_key and not self.default_write_key:
            raise InvalidConfiguration("this service delivers to a Tracking API without a "
                                       "service-wide write key: give the source a write_key")

    async def connect_source(self, principal: Principal, name: str, function_ref: str,
                             number: int | None, values: dict[str, Any],
                             write_key: str | None) -> dict[str, Any]:
        self._check_write_key(write_key)

        def connect(db: sqlite3.Connection) -> dict[str, Any]:
            function = catalog.find_function(db, principal.workspace, function_ref)
            version = catalog.get_version(
                db, function["id"], function["latest_version"] if number is None else number)
            plain, sealed = self.vault.seal(schema_of(version), values)
            source_id = catalog.create_source(db, principal.workspace, name, function["id"],
                                              version["number"], plain, sealed, write_key)
            return self.source_view(db, catalog.find_source(db, principal.workspace,
                                                            source_id))

        source = await self.catalog.run(connect)
        await self._reload([source["id"]])
        return source

    async def configure_source(self, principal: Principal, ref: str,
                               changes: dict[str, Any]) -> dict[str, Any]:
        """Merge setting values (None removes one), set the write key, pause or resume."""
        if "write_key" in changes:
            self._check_write_key(changes["write_key"])

        def configure(db: sqlite3.Connection) -> dict[str, Any]:
            row = catalog.find_source(db, principal.workspace, ref)
            columns: dict[str, Any] = {}
            if "settings" in changes:
                version = catalog.get_version(db, row["function"], row["version"])
                columns["settings"], columns["secrets"] = self.vault.settle(
                    schema_of(version), row, changes["settings"])
            if "write_key" in changes:
                columns["write_key"] = changes["write_key"]
            if "paused" in changes:
                columns["paused"] = int(changes["paused"])
            if columns:
                catalog.update_source(db, row["id"], **columns)
            return self.source_view(db, catalog.find_source(db, principal.workspace,
                                                            row["id"]))

        source = await self.catalog.run(configure)
        await self._reload([source["id"]])
        return source

    async def delete_source(self, principal: Principal, ref: str) -> tuple[str, str]:
        """Delete a source; its function's id and its own."""
        def delete(db: sqlite3.Connection) -> tuple[str, str]:
            row = catalog.find_source(db, principal.workspace, ref)
            catalog.delete_source(db, row["id"])
            return row["function"], row["id"]

        function_id, source_id = await self.catalog.run(delete)
        self._forget([source_id])
        return function_id, source_id


def _unique(rows: Iterable[sqlite3.Row]) -> list[sqlite3.Row]:
    """Rows in order, each source once however many times it was named."""
    return list({row["id"]: row for row in rows}.values())


def summary_of(code: str) -> str:
    """The first paragraph of the code's module docstring, on one line; "" without one."""
    try:
        docstring = ast.get_docstring(ast.parse(code)) or ""
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ""
    return " ".join(docstring.split("\n\n")[0].split())[:MAX_DESCRIPTION]


def _parse_schema(document: Any) -> list[dict[str, Any]]:
    try:
        return [spec.to_dict() for spec in parse_schema(document)]
    except SchemaError as exc:
        raise InvalidConfiguration(str(exc)) from None
