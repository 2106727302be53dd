"""What the sandbox costs per invocation and per compile, against plain Python.

    python benchmarks/invoke.py [--quick]

Per invocation, a small handler: parse the JSON body, make one ``Segment.track``. Run

1. as plain Python: a plain ``def on_request(request, settings)`` on a
   ``segfn.request.Request``, with a fake ``Segment`` that builds the message with
   ``segfn.messages.build_message``: the same work, no sandbox, no worker;
2. in the sandbox, in this process: ``Executor.run`` as a worker runs it (RestrictedPython
   guards, a fresh namespace and module-level code per invocation), but no IPC;
3. in the sandbox through a worker: ``BlockingPool(size=1).invoke``, as ``segfn invoke``
   and the pytest plugin run it (JSON frames over a pipe, the worker's thread, the
   parent's event loop).

Each path runs many sequential invocations after a warm-up, in interleaved rounds so that
a machine busy with something else slows all three alike; the figures are medians, and
the ratios compare figures of the same run.

Per compile, a generated 300-line handler (helpers, dict-building, branches):
``segfn.sandbox.compiler.compile_handler`` (parse, shape checks, RestrictedPython's transform)
against the built-in ``compile()`` of the same source.

Timings are printed, never asserted; the exit status only says the run worked (the three
paths produced the same message, the generated handler runs in the sandbox).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segfn.messages import build_message, call_fields  # noqa: E402
from segfn.request import Request  # noqa: E402
from segfn.sandbox import scope  # noqa: E402
from segfn.sandbox.compiler import Handler, compile_handler  # noqa: E402
from segfn.sandbox.execute import Executor  # noqa: E402
from segfn.sandbox.invocation import HttpRequest, Job, Result  # noqa: E402
from segfn.sandbox.pool import BlockingPool, Limits  # noqa: E402

BODY = json.dumps({"user": "user-42", "event": "Order Completed",
                   "properties": {"order_id": "o-1001", "total": 99.5, "currency": "EUR",
                                  "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}]}
                   }).encode()
HEADERS = (("Content-Type", "application/json"), ("User-Agent", "bench/1"))
URL = "http://localhost/"

HANDLER_SOURCE = '''
def on_request(request, settings):
    body = request.json()
    Segment.track({"userId": body["user"], "event": body["event"],
                   "properties": body["properties"]})
'''


# 1. Plain Python: the same handler body, a Segment that only builds the message.


class FakeSegment:
    """Builds messages as the real ``Segment`` does, minus the sandbox's scope lookup."""

    def __init__(self, invocation_id: str) -> None:
        self.invocation_id = invocation_id
        self.messages: list[dict[str, Any]] = []

    def track(self, *args: Any, **kwargs: Any) -> None:
        fields = call_fields("track", args, kwargs)
        self.messages.append(build_message(
            "track", fields, invocation_id=self.invocation_id, sequence=len(self.messages),
            now=datetime.now(UTC)))


Segment = FakeSegment("plain")


def on_request(request: Request, settings: dict[str, Any]) -> None:
    body = request.json()
    Segment.track({"userId": body["user"], "event": body["event"],
                   "properties": body["properties"]})


def plain_once() -> dict[str, Any]:
    Segment.messages.clear()
    # A Request per invocation, as the executor makes one.
    on_request(Request(BODY, HEADERS, URL), {})
    return Segment.messages[0]


# 2 and 3. The sandbox, in this process and through a worker.


JOB = Job(Handler(HANDLER_SOURCE, "bench_handler.py"), HttpRequest(BODY, HEADERS, URL), {},
          "bench")


def in_process(executor: Executor) -> Callable[[], dict[str, Any]]:
    def once() -> dict[str, Any]:
        running = scope.Scope(JOB.invocation_id, time.monotonic() + 5)
        return _message(executor.run(JOB, running))
    return once


def through_worker(pool: BlockingPool) -> Callable[[], dict[str, Any]]:
    def once() -> dict[str, Any]:
        return _message(pool.invoke(JOB))
    return once


def _message(result: Result) -> dict[str, Any]:
    if not result.ok:
        raise SystemExit(f"the benchmark handler failed: {result.error}")
    return result.messages[0]


# Timing


def timed(fn: Callable[[], Any], seconds: float, at_least: int) -> list[float]:
    """Per-call durations in µs: at least ``at_least`` calls and ``seconds`` of calling."""
    samples: list[float] = []
    clock = time.perf_counter_ns
    end = time.monotonic() + seconds
    while len(samples) < at_least or time.monotonic() < end:
        started = clock()
        fn()
        samples.append((clock() - started) / 1000)
    return samples


def same_work(*messages: dict[str, Any]) -> None:
    """The three paths must have built the same message (ids and times aside)."""
    def shape(message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if k not in ("messageId", "timestamp")}
    first = shape(messages[0])
    for other in messages[1:]:
        if shape(other) != first:
            raise SystemExit(f"the paths did different work:\n{first}\n{shape(other)}")


# A realistic 300-line handler


def generate_handler(lines: int = 300) -> str:
    """Handler source of exactly ``lines`` lines: helpers, dict-building, branches."""
    kinds = 1
    while len(_handler_lines(kinds + 1)) <= lines:
        kinds += 1
    out = _handler_lines(kinds)
    # Top up with the kind of comment a real handler has, after the imports.
    for n in range(lines - len(out)):
        out.insert(5, f"# note {n}: amounts arrive in the currency's smallest unit")
    return "\n".join(out) + "\n"


def _handler_lines(kinds: int) -> list[str]:
    out = [
        '"""A generated handler for a provider with many event kinds."""',
        "",
        "import hashlib",
        "from datetime import datetime, timezone",
        "",
        "CURRENCIES = {\"usd\": 100, \"eur\": 100, \"jpy\": 1}",
        "",
        "",
        "def cents(amount, currency):",
        "    scale = CURRENCIES.get((currency or \"usd\").lower(), 100)",
        "    return round(float(amount) / scale, 2)",
        "",
        "",
        "def customer_id(obj):",
        "    customer = obj.get(\"customer\") or {}",
        "    if isinstance(customer, dict):",
        "        return str(customer.get(\"id\") or \"\") or None",
        "    return str(customer) if customer else None",
        "",
        "",
        "def anonymous(obj):",
        "    seed = obj.get(\"email\") or obj.get(\"id\") or \"anonymous\"",
        "    return hashlib.sha256(str(seed).encode()).hexdigest()[:32]",
        "",
        "",
        "def when(seconds):",
        "    if seconds is None:",
        "        return None",
        "    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).isoformat()",
    ]
    for kind in range(kinds):
        out += [
            "",
            "",
            f"def build_kind_{kind}(obj, settings):",
            "    properties = {",
            "        \"id\": obj.get(\"id\"),",
            f"        \"kind\": \"kind_{kind}\",",
            "        \"amount\": cents(obj.get(\"amount\", 0), obj.get(\"currency\")),",
            "        \"currency\": (obj.get(\"currency\") or \"usd\").upper(),",
            "        \"created\": when(obj.get(\"created\")),",
            "    }",
            "    metadata = obj.get(\"metadata\") or {}",
            "    for key in sorted(metadata):",
            "        properties[\"meta_\" + key] = metadata[key]",
            f"    if obj.get(\"amount\", 0) > {1000 * (kind + 1)}:",
            "        properties[\"tier\"] = \"large\"",
            "    elif obj.get(\"amount\", 0) > 0:",
            "        properties[\"tier\"] = \"small\"",
            "    else:",
            "        properties[\"tier\"] = \"free\"",
            "    if settings.get(\"includeRaw\", False):",
            "        properties[\"raw\"] = dict(obj)",
            "    return properties",
        ]
    out += [
        "",
        "",
        "BUILDERS = {",
        *[f"    \"kind.{k}\": build_kind_{k}," for k in range(kinds)],
        "}",
        "",
        "",
        "def on_request(request, settings):",
        "    body = request.json()",
        "    event_type = body.get(\"type\")",
        "    if not event_type:",
        "        raise InvalidEventPayload(\"no type in this delivery\")",
        "    builder = BUILDERS.get(event_type)",
        "    if builder is None:",
        "        raise EventNotSupported(event_type + \" is not supported\")",
        "    obj = (body.get(\"data\") or {}).get(\"object\") or {}",
        "    properties = builder(obj, settings)",
        "    user_id = customer_id(obj)",
        "    identity = {\"userId\": user_id} if user_id else {\"anonymousId\": anonymous(obj)}",
        "    Segment.track({**identity, \"event\": event_type.replace(\".\", \" \").title(),",
        "                   \"properties\": properties})",
        "    if obj.get(\"email\"):",
        "        Segment.identify({**identity, \"traits\": {\"email\": obj[\"email\"]}})",
    ]
    return out


def check_generated(source: str) -> None:
    """The generated handler is real code: it compiles for the sandbox and runs there."""
    body = json.dumps({"type": "kind.1", "data": {"object": {
        "id": "ch_1", "amount": 2500, "currency": "eur", "created": 1700000000,
        "customer": {"id": "cus_9"}, "email": "a@example.test", "metadata": {"b": 1}}}})
    job = Job(Handler(source, "generated.py"), HttpRequest(body.encode(), HEADERS, URL), {})
    result = Executor().run(job, scope.Scope("gen", time.monotonic() + 5))
    if not result.ok or [m["type"] for m in result.messages] != ["track", "identify"]:
        raise SystemExit(f"the generated handler does not run: {result.error}")


def compile_times(source: str, repeat: int) -> tuple[list[float], list[float]]:
    """Milliseconds per compile: restricted and plain, alternating."""
    restricted: list[float] = []
    plain: list[float] = []
    handler = Handler(source, "generated.py")
    for _ in range(repeat):
        started = time.perf_counter()
        compile_handler(handler)
        restricted.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        compile(source, "generated.py", "exec")
        plain.append((time.perf_counter() - started) * 1000)
    return restricted, plain


# Report


def rate(median_us: float) -> str:
    return f"{1_000_000 / median_us:>10,.0f} invocations/s"


def row(label: str, samples: list[float]) -> float:
    median = statistics.median(samples)
    print(f"  {label:<44} median {median:>9.1f} µs  {rate(median)}  (n={len(samples):,})")
    return median


def ratio(label: str, value: float) -> None:
    print(f"  {label:<44} {value:>8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a fraction of a second per path: a smoke run, not a measurement")
    args = parser.parse_args()
    rounds, seconds, at_least, warmup, compiles = (
        (1, 0.05, 20, 20, 3) if args.quick else (5, 0.4, 500, 300, 40))

    print(f"segfn invoke benchmark: Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs{', quick run' if args.quick else ''}")
    print()

    executor = Executor()
    plain, sandboxed = plain_once, in_process(executor)
    samples: dict[str, list[float]] = {"plain": [], "sandbox": [], "worker": []}
    with BlockingPool(size=1, limits=Limits(timeout=10)) as pool:
        worker = through_worker(pool)
        same_work(plain(), sandboxed(), worker())
        for fn in (plain, sandboxed, worker):
            for _ in range(warmup):
                fn()
        for _ in range(rounds):
            for name, fn in (("plain", plain), ("sandbox", sandboxed), ("worker", worker)):
                gc.collect()
                samples[name] += timed(fn, seconds, at_least)

    print("Per invocation (parse JSON, one Segment.track), sequential:")
    plain_us = row("plain Python (no sandbox, no worker)", samples["plain"])
    sandbox_us = row("sandbox in-process (Executor.run, no IPC)", samples["sandbox"])
    worker_us = row("sandbox + worker (BlockingPool, size 1)", samples["worker"])
    ratio("ratio sandbox in-process / plain", sandbox_us / plain_us)
    ratio("ratio sandbox + worker / plain", worker_us / plain_us)
    ratio("ratio sandbox + worker / sandbox in-process", worker_us / sandbox_us)
    print(f"  {'where the time goes':<44} sandbox {sandbox_us - plain_us:.1f} µs, "
          f"IPC and pool {worker_us - sandbox_us:.1f} µs per invocation")
    print()

    source = generate_handler(300)
    check_generated(source)
    restricted, plain_compile = compile_times(source, compiles)
    restricted_ms, plain_ms = statistics.median(restricted), statistics.median(plain_compile)
    print(f"Compile a {source.count(chr(10))}-line handler ({compiles} times each):")
    print(f"  {'plain compile()':<44} median {plain_ms:>9.2f} ms")
    print(f"  {'segfn.sandbox.compiler.compile_handler':<44} median {restricted_ms:>9.2f} ms")
    ratio("ratio compile_handler / compile()", restricted_ms / plain_ms)


if __name__ == "__main__":
    main()
