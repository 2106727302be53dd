"""The runtime the service builds on: what it stores and answers, with real workers and
a real SQLite file, without HTTP in between."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from runner.errorlog import read_errors
from runner.runtime import Runtime
from runner.source import Source
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.fleet import Fleet
from segfn.sandbox.invocation import HttpRequest
from segfn.sandbox.pool import WorkerPool
from tests.stored import look

SECRET = "sk_live_9f8e7d6c"

LEAKY = '''
def on_request(request, settings):
    print("calling with", settings.apiKey)
    raise ValueError(f"the API refused key {settings.apiKey}")
'''


def deliver(tmp_path: Path, source: Source, request: HttpRequest):
    async def main():
        runtime = Runtime(tmp_path, Fleet(lambda _: WorkerPool(1), 1), Egress(EgressPolicy()),
                          lambda _: source)
        await runtime.start()
        try:
            return await runtime.deliver(source, request)
        finally:
            await runtime.close()

    return asyncio.run(main())


def test_secret_setting_values_never_leave(tmp_path: Path) -> None:
    source = Source("src_1", "billing", Handler(LEAKY), {"apiKey": SECRET}, secrets=(SECRET,))
    request = HttpRequest(json.dumps({"echo": SECRET}).encode(),
                          [("Content-Type", "application/json"), ("X-Key-Echo", SECRET)])
    outcome = deliver(tmp_path, source, request)
    assert outcome.status == 400
    answer = json.dumps(outcome.body())
    assert SECRET not in answer
    assert "the API refused key [redacted]" in answer
    assert outcome.result.logs == ["calling with [redacted]"]
    logged = look(tmp_path / "segfn.db", read_errors)
    assert len(logged) == 1
    assert SECRET not in json.dumps(logged)
    assert logged[0]["request"]["body"] == '{"echo": "[redacted]"}'


def test_without_secrets_nothing_is_redacted(tmp_path: Path) -> None:
    source = Source("src_1", "billing", Handler(LEAKY), {"apiKey": "public"})
    outcome = deliver(tmp_path, source, HttpRequest(b"{}", [("Content-Type", "application/json")]))
    assert outcome.result.logs == ["calling with public"]
    assert "the API refused key public" in outcome.result.error.message
