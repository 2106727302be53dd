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
import contextlib
import functools
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from runner import dedup
from runner.captures import MAX_DAYS
from runner.service import catalog, feed
from runner.service.access import Principal
from runner.service.codecheck import problems_of
from runner.service.keyring import Keyring
from runner.service.problems import (
    CompileError,
    Conflict,
    InvalidConfiguration,
    InvalidRequest,
    NotFound,
)
from runner.service.records import Function, SourceRecord, Version, check_name
from runner.service.settings_schema import MAX_DESCRIPTION, SchemaError, SettingSpec, parse_schema
from runner.service.vault import Vault, encrypted_names, secret_strings
from runner.shadow import Shadow
from runner.source import Names, Source
from runner.store import Db, Store
from segfn.errors import InvalidSettings
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import OWN_WEBHOOKS, own_url_in
from segfn.sandbox.execute import sandbox_registry
from segfn.sandbox.preflight import check_handler

WEBHOOK_PREFIX = "/fn/"
# Where a deployed source's setting values are given, as a missing one's message says.
SOURCE_SETTINGS = "the source's settings (segfn sources configure SOURCE --set NAME=VALUE)"


@attrs.frozen
class Saved:
    """A function as saved, its latest version, and whether saving made that version."""

    function: Function
    version: Version
    created: bool

    def view(self) -> dict[str, Any]:
        return {"function": self.function.view(), "version": self.version.view(with_code=False),
                "created": self.created}


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
        self._registry = sandbox_registry(modules)

    # Serving webhooks

    def route(self, path: str) -> Source | None:
        if not path.startswith(WEBHOOK_PREFIX):
            return None
        return self._by_token.get(path[len(WEBHOOK_PREFIX):])

    def resolve(self, source_id: str) -> Source | None:
        return self._by_id.get(source_id)

    def webhook_url(self, record: SourceRecord) -> str:
        return f"{self.public_url}{WEBHOOK_PREFIX}{record.webhook_token}"

    async def load(self) -> int:
        """Make every source ready to run; the number of sources."""
        ready = await self.catalog.run(lambda db: [
            (record, self._runtime_source(db, record)) for record in catalog.list_sources(db)])
        for record, source in ready:
            self._put(record, source)
        return len(ready)

    def _put(self, record: SourceRecord, source: Source) -> None:
        self._by_id[source.id] = source
        self._by_token[record.webhook_token] = source

    def _forget(self, source_ids: Iterable[str]) -> None:
        gone = set(source_ids)
        for source_id in gone:
            self._by_id.pop(source_id, None)
        self._by_token = {t: s for t, s in self._by_token.items() if s.id not in gone}

    async def _reload(self, source_ids: Iterable[str]) -> None:
        """Make these sources as the catalog has them now; forget those it has not."""
        ids = list(source_ids)

        def read(db: Db) -> list[tuple[SourceRecord, Source]]:
            records = [catalog.get_source(db, i) for i in ids]
            return [(record, self._runtime_source(db, record)) for record in records
                    if record is not None]

        found = await self.catalog.run(read)
        self._forget(set(ids) - {source.id for _, source in found})
        for record, source in found:
            self._put(record, source)

    async def follow(self) -> None:
        """Keep this node's sources as the catalog has them, whichever node changed them
        (runner/service/feed.py)."""
        loop = asyncio.get_running_loop()
        wake, stop = asyncio.Event(), threading.Event()
        listener = None
        if self.catalog.engine.dialect.name == "postgresql":
            listener = threading.Thread(target=feed.listen, name="segfn-feed", args=(
                self.catalog.engine, lambda: loop.call_soon_threadsafe(wake.set), stop))
            listener.start()
        try:
            await self._follow(wake)
        finally:
            stop.set()
            if listener is not None:
                listener.join()  # within a second: it waits on notifications no longer

    async def _follow(self, wake: asyncio.Event) -> None:
        seen: set[int] = set()
        trimmed = 0.0
        while True:
            # asyncio.timeout, not wait_for, which in 3.11 can drop a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(feed.POLL):
                    await wake.wait()
            wake.clear()
            now = time.time()
            noted = await self.catalog.read(functools.partial(feed.recent, now=now))
            fresh = {source for change, source in noted if change not in seen}
            # Only the window's ids can be read again; older ones need no remembering.
            seen = {change for change, _ in noted}
            if fresh:
                await self._reload(fresh)
            if now - trimmed > feed.TRIM_EVERY:
                await self.catalog.run(functools.partial(feed.trim, now=now))
                trimmed = now

    def _runtime_source(self, db: Db, record: SourceRecord) -> Source:
        function = catalog.find_function(db, record.workspace, record.function)
        workspace = catalog.workspace(db, record.workspace)
        version = catalog.get_version(db, record.function, record.version)
        values = self.vault.values_of(record)
        # The webhook token is a credential too: the errors log shows URLs without it.
        hidden = (*secret_strings(record.secrets, values), record.webhook_token)
        shadow = None
        if record.shadow_version is not None:
            shadowed = catalog.get_version(db, record.function, record.shadow_version)
            shadow = Shadow(shadowed.number, Handler(shadowed.code, function.filename))
            # What the shadow's schema encrypts is as secret in what the shadow emits.
            hidden += secret_strings(encrypted_names(shadowed.settings_schema), values)
        return Source(record.id, record.function, Handler(version.code, function.filename),
                      values, hidden, record.write_key, record.paused, record.workspace,
                      record.allow_get, record.capture_days,
                      settings_given_in=SOURCE_SETTINGS,
                      names=Names(workspace.name, function.name, record.name),
                      dedup_header=record.dedup_header, shadow=shadow)

    # What the API shows

    def source_view(self, db: Db, record: SourceRecord) -> dict[str, Any]:
        """A source as the API shows it, with what its version says of its settings."""
        version = catalog.get_version(db, record.function, record.version)
        return record.view(version, self.webhook_url(record))

    # Functions

    def visible_function(self, db: Db, principal: Principal,
                         ref: str) -> Function:
        function = catalog.find_function(db, principal.workspace, ref)
        if not principal.sees_function(function.id):
            raise NotFound(f"no function {ref!r}")
        return function

    async def compile(self, name: str, code: str) -> None:
        """The save-time compile check; a CompileError says what is wrong."""
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

    async def check_code(self, name: str, code: str) -> dict[str, Any]:
        """The save-time compile check, without saving: whether it passes, and its problems."""
        try:
            await self.compile(name, code)
        except CompileError as exc:
            return {"compiles": False, "problems": problems_of(str(exc))}
        return {"compiles": True, "problems": []}

    def _check(self, handler: Handler) -> None:
        # What segfn run checks before serving: it compiles, and imports only what it may.
        check_handler(handler, self._registry)

    async def create_function(self, principal: Principal, name: str, description: str,
                              code: str, schema_document: Any) -> Saved:
        schema = _parse_schema(schema_document)
        check_name(name)
        await self.compile(name, code)
        description = description or summary_of(code)

        def create(db: Db) -> Saved:
            function_id = catalog.create_function(db, principal.workspace, name, description)
            number = catalog.add_version(db, function_id, code, schema, principal.token_id)
            return Saved(catalog.find_function(db, principal.workspace, function_id),
                         catalog.get_version(db, function_id, number), created=True)

        return await self.catalog.run(create)

    async def save_function(self, principal: Principal, function: Function,
                            code: str | None, schema_document: Any,
                            description: str | None) -> Saved:
        """Save: a new version when code or schema changed; running sources stay as they are."""
        latest = await self.catalog.run(lambda db: catalog.get_version(
            db, function.id, function.latest_version))
        new_code = latest.code if code is None else code
        schema = (latest.settings_schema if schema_document is None
                  else _parse_schema(schema_document))
        changed = new_code != latest.code or schema != latest.settings_schema
        if changed:
            await self.compile(function.name, new_code)

        # A function saved without a description takes its code's, until it is given one.
        told = description if description is not None else (
            summary_of(new_code) if changed and not function.description else None)

        def save(db: Db) -> Saved:
            if told is not None:
                catalog.set_description(db, function.id, told)
            number = (catalog.add_version(db, function.id, new_code, schema, principal.token_id)
                      if changed else latest.number)
            return Saved(catalog.find_function(db, principal.workspace, function.id),
                         catalog.get_version(db, function.id, number), created=changed)

        return await self.catalog.run(save)

    async def delete_function(self, function: Function, force: bool) -> None:
        def delete(db: Db) -> list[str]:
            users = catalog.list_sources(db, function_id=function.id)
            if users and not force:
                names = ", ".join(source.name for source in users)
                raise Conflict(f"sources use this function ({names}); delete them first, "
                               "or delete with force=true to delete them too")
            return catalog.delete_function(db, function.id)

        self._forget(await self.catalog.run(delete))

    async def deploy(self, principal: Principal, function: Function,
                     number: int | None, refs: list[str] | str) -> list[dict[str, Any]]:
        """Move sources of ``function`` to a version (default: the latest), all or none."""
        number = function.latest_version if number is None else number

        def deploy(db: Db) -> list[dict[str, Any]]:
            version = catalog.get_version(db, function.id, number)
            sources = (catalog.list_sources(db, principal.workspace, function.id)
                       if refs == "all" else _unique(
                           catalog.find_source(db, principal.workspace, ref) for ref in refs))
            problems = []
            for source in sources:
                if source.function != function.id:
                    raise InvalidConfiguration(f"source {source.name} runs another function")
                try:
                    plain, sealed = self.vault.settle(version.settings_schema, source)
                except InvalidConfiguration as exc:
                    problems.append(f"{source.name}: {exc}")
                    continue
                catalog.update_source(db, source.id, version=number, settings=plain,
                                      secrets=sealed)
            if problems:
                # Raising rolls the whole deploy back: no source moves unless all can.
                raise InvalidConfiguration(
                    f"version {number} cannot run these sources as configured: "
                    + "; ".join(problems))
            return [self.source_view(db, catalog.find_source(db, principal.workspace, s.id))
                    for s in sources]

        deployed = await self.catalog.run(deploy)
        await self._reload(s["id"] for s in deployed)
        return deployed

    async def shadow(self, principal: Principal, ref: str, number: int | None,
                     function_ref: str | None = None) -> dict[str, Any]:
        """Make source ``ref``'s live deliveries also run version ``number`` of its function
        (None: run no shadow); with ``function_ref``, the source must run that function.
        The version must take the source's settings as they are."""
        def shadow(db: Db) -> dict[str, Any]:
            source = catalog.find_source(db, principal.workspace, ref)
            if function_ref is not None and catalog.find_function(
                    db, principal.workspace, function_ref).id != source.function:
                raise InvalidConfiguration(f"source {source.name} runs another function")
            if number is not None:
                version = catalog.get_version(db, source.function, number)
                try:
                    self.vault.settle(version.settings_schema, source)
                except InvalidConfiguration as exc:
                    raise InvalidConfiguration(
                        f"version {number} cannot run source {source.name} as it is "
                        f"configured: {exc}") from None
            catalog.update_source(db, source.id, shadow_version=number)
            return self.source_view(db, catalog.find_source(db, principal.workspace,
                                                            source.id))

        source = await self.catalog.run(shadow)
        await self._reload([source["id"]])
        return source

    # Sources

    def _check_write_key(self, write_key: str | None) -> None:
        if not write_key and not self.default_write_key:
            raise InvalidConfiguration("this service delivers to a Tracking API without a "
                                       "service-wide write key: give the source a write_key")

    def _check_capture(self, days: int) -> None:
        if not 0 <= days <= MAX_DAYS:
            raise InvalidRequest(f"capture_days must be from 0 to {MAX_DAYS}")
        if days and self.vault.keyring is None:
            raise InvalidConfiguration(
                "this service has no secret key, so it cannot keep captured deliveries (they "
                "are kept encrypted); start segfn serve with SEGFN_SECRET_KEY or "
                "--secret-key-file, or leave capture_days at 0")

    async def connect_source(self, principal: Principal, name: str, function_ref: str,
                             number: int | None, values: dict[str, Any],
                             write_key: str | None, allow_get: bool = False,
                             capture_days: int = 0,
                             dedup_header: str | None = None) -> dict[str, Any]:
        self._check_write_key(write_key)
        self._check_capture(capture_days)
        _check_dedup_header(dedup_header)

        def connect(db: Db) -> dict[str, Any]:
            function = catalog.find_function(db, principal.workspace, function_ref)
            version = catalog.get_version(
                db, function.id, function.latest_version if number is None else number)
            plain, sealed = self.vault.seal(version.settings_schema, values)
            source_id = catalog.create_source(db, principal.workspace, name, function.id,
                                              version.number, plain, sealed, write_key,
                                              allow_get, capture_days, dedup_header)
            return self.source_view(db, catalog.find_source(db, principal.workspace,
                                                            source_id))

        source = await self.catalog.run(connect)
        await self._reload([source["id"]])
        return source

    async def configure_source(self, principal: Principal, ref: str,
                               changes: dict[str, Any]) -> dict[str, Any]:
        """Merge setting values (None removes one), set the write key, pause or resume,
        take GET or not, keep deliveries for so many days."""
        if "write_key" in changes:
            self._check_write_key(changes["write_key"])
        if "capture_days" in changes:
            self._check_capture(changes["capture_days"])
        _check_dedup_header(changes.get("dedup_header"))

        def configure(db: Db) -> dict[str, Any]:
            source = catalog.find_source(db, principal.workspace, ref)
            columns: dict[str, Any] = {}
            if "settings" in changes:
                version = catalog.get_version(db, source.function, source.version)
                columns["settings"], columns["secrets"] = self.vault.settle(
                    version.settings_schema, source, changes["settings"])
            for text in ("write_key", "dedup_header"):
                if text in changes:
                    columns[text] = changes[text]
            for flag in ("paused", "allow_get", "capture_days"):
                if flag in changes:
                    columns[flag] = int(changes[flag])
            if columns:
                catalog.update_source(db, source.id, **columns)
            return self.source_view(db, catalog.find_source(db, principal.workspace,
                                                            source.id))

        source = await self.catalog.run(configure)
        await self._reload([source["id"]])
        return source

    async def delete_source(self, principal: Principal, ref: str) -> tuple[str, str]:
        """Delete a source; its function's id and its own."""
        def delete(db: Db) -> tuple[str, str]:
            source = catalog.find_source(db, principal.workspace, ref)
            catalog.delete_source(db, source.id)
            return source.function, source.id

        function_id, source_id = await self.catalog.run(delete)
        self._forget([source_id])
        return function_id, source_id


def _unique(sources: Iterable[SourceRecord]) -> list[SourceRecord]:
    """Sources in order, each once however many times it was named."""
    return list({source.id: source for source in sources}.values())


def summary_of(code: str) -> str:
    """The first paragraph of the code's module docstring, on one line; "" without one."""
    try:
        docstring = ast.get_docstring(ast.parse(code)) or ""
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ""
    return " ".join(docstring.split("\n\n")[0].split())[:MAX_DESCRIPTION]


def _parse_schema(document: Any) -> tuple[SettingSpec, ...]:
    try:
        return parse_schema(document)
    except SchemaError as exc:
        raise InvalidConfiguration(str(exc)) from None


def _check_dedup_header(name: str | None) -> None:
    try:
        if name is not None:
            dedup.check_header(name)
    except ValueError as exc:
        raise InvalidRequest(f"dedup_header: {exc}") from None
