"""The tester: run a function version once on a request the user wrote, or on a source's
captured deliveries (a replay), and deliver nothing.

It answers what ``segfn invoke --json`` prints, with the logs cut to their first 4 KiB. Like
``segfn invoke`` it uses an empty cache and leaves JSON keys in the order they were sent.
"""

from __future__ import annotations

import tempfile
from typing import Any

import attrs

from runner.errorlog import redacted_result
from runner.replay import report, unreadable, verdict
from runner.runtime import Runtime
from runner.service.problems import InvalidRequest, Unavailable
from runner.service.records import Function, Version
from runner.service.settings_schema import SchemaError, validate_values
from runner.service.vault import encrypted_names, secret_strings
from runner.source import Source
from segfn.payloads import PayloadError, parse_payload
from segfn.sandbox.cachestore import CacheStores
from segfn.sandbox.compiler import Handler
from segfn.sandbox.fleet import Tenant
from segfn.sandbox.invocation import HttpRequest, Job, preview_logs
from segfn.sandbox.pool import SandboxUnavailable
from segfn.sandbox.webhook import RequestRefused, build_request


async def run_test(runtime: Runtime, tenant: Tenant, function: Function, version: Version,
                   document: dict[str, Any]) -> dict[str, Any]:
    """Run ``version`` on ``document`` (the payload-file format) and say what came of it,
    in the workers of the function's own ``tenant``."""
    try:
        payload = parse_payload(document, "the test request", strict=False)
        request = build_request(payload.body, headers=payload.header_pairs(),
                                query=payload.query, url=payload.url)
    except PayloadError as exc:
        raise InvalidRequest(str(exc)) from None
    except RequestRefused as exc:
        raise InvalidRequest(f"the webhook would refuse this request ({exc.status} "
                             f"{exc.type}): {exc}") from None
    except ValueError as exc:  # a URL that is not absolute
        raise InvalidRequest(str(exc)) from None
    schema = version.settings_schema
    # Types are checked, required ones are not: testing a missing setting is a fair test.
    try:
        settings = validate_values([attrs.evolve(s, required=False) for s in schema],
                                   payload.settings)
    except SchemaError as exc:
        raise InvalidRequest(str(exc)) from None
    handler = Handler(version.code, function.filename)
    job = Job(handler, request, settings, settings_given_in="the test's settings")
    with tempfile.TemporaryDirectory(prefix="segfn-test-") as directory:
        async with CacheStores(directory) as caches:
            try:
                result = await runtime.fleet.invoke(tenant, job, runtime.egress,
                                                  caches.answerer("test"))
            except SandboxUnavailable as exc:
                raise Unavailable(str(exc)) from None
    result = redacted_result(result, secret_strings(encrypted_names(schema), settings))
    answer = result.to_dict()
    answer["logs"], answer["logs_truncated"] = preview_logs(result.logs)
    return answer


async def run_replay(runtime: Runtime, source: Source, filename: str, version: Version,
                     captured: list[dict[str, Any]]) -> dict[str, Any]:
    """Run ``captured`` deliveries of ``source`` through ``version`` with the source's
    settings, delivering and storing nothing, and compare (runner/replay.py)."""
    handler = Handler(version.code, filename)
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="segfn-replay-") as directory:
        async with CacheStores(directory) as caches:
            answer = caches.answerer("replay")
            for entry in captured:
                if entry["request"] is None:
                    verdicts.append(unreadable(entry))
                    continue
                job = Job(handler, HttpRequest.from_dict(entry["request"]), source.settings,
                          entry["invocation_id"], alphabetize=True)
                try:
                    result = await runtime.fleet.invoke(source.tenant, job, runtime.egress,
                                                        answer)
                except SandboxUnavailable as exc:
                    raise Unavailable(str(exc)) from None
                verdicts.append(verdict(entry, redacted_result(result, source.secrets)))
    return report(verdicts)
