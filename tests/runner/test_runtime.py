"""The runtime the service builds on: what it stores and answers, with real workers and
a real SQLite file, without HTTP in between."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

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


# A secret that Python's repr() and JSON both write differently from itself.
ESCAPED_SECRET = 'sk_live_"9f\\8e7d6c'
# Handlers that show a secret in the forms a careless one would: past the point where an
# error message or the logs are cut, as repr() quotes it, as json.dumps writes it.
SHOWN = {
    "cut error": 'raise ValueError("x" * 2020 + settings.apiKey)',
    "cut logs": 'print("y" * (64 * 1024 - 6) + settings.apiKey)\n    raise ValueError("no")',
    "repr": "raise KeyError(settings.apiKey)",
    "json log": 'import json\n    print(json.dumps({"key": settings.apiKey}))\n'
                '    raise ValueError("no")',
}


@pytest.mark.parametrize("shown", SHOWN, ids=list(SHOWN))
def test_no_part_or_escaped_form_of_a_secret_is_shown(tmp_path: Path, shown: str) -> None:
    handler = Handler(f"def on_request(request, settings):\n    {SHOWN[shown]}\n")
    source = Source("src_1", "billing", handler, {"apiKey": ESCAPED_SECRET},
                    secrets=(ESCAPED_SECRET,))
    outcome = deliver(tmp_path, source, HttpRequest(b"{}", [("Content-Type",
                                                             "application/json")]))
    assert outcome.status == 400
    logged = look(tmp_path / "segfn.db", read_errors)
    shown_texts = [outcome.result.error.message, *outcome.result.logs,
                   logged[0]["error"]["message"], *logged[0]["logs"]]
    for text in shown_texts:
        # Its head (left where a cut ends the text) and its tail (the part after the
        # characters repr() and JSON escape) appear in no form.
        assert "sk_li" not in text
        assert "8e7d6c" not in text
    assert "[redacted]" in " ".join(shown_texts)
