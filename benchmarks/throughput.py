"""Throughput of ``segfn run`` against a plain Starlette app, of an IO-bound handler, and
of ``segfn serve`` against ``segfn run``.

    python benchmarks/throughput.py [--quick] [--runs N] [--workers N]
                                    [--generator auto|wrk|python]

Five measurements, all on 127.0.0.1, all with the same load generator:

1. A plain Starlette app served by uvicorn in a subprocess (same uvicorn settings and
   uvloop event loop as ``segfn run``): parse the JSON body, build the same track message with
   ``segfn.messages.build_message``, answer ``{"ok": true}``. No sandbox, no durability.
2. ``segfn run`` (a real subprocess: uvicorn, the sandbox worker pool, SQLite with group
   commit in a temporary data dir) serving a handler doing the same work: parse JSON, one
   ``Segment.track``. Both at 32 concurrent connections; the ratio of their rps is the
   price of the sandbox and durability.
3. ``segfn serve`` (a real subprocess, ``--rate-limit 0``, the same worker count) serving
   the handler of 2 as a function with one source, created through the API, at its
   ``/fn/TOKEN`` webhook, at 32 connections: the ratio of its rps to that of 2 is the
   price of the service's routing by webhook token, metrics per invocation and catalog.
4. ``segfn run`` serving a handler that ``fetch``es a local endpoint answering after
   100 ms, at 64 concurrent connections: invocations per second (640/s with perfect
   overlap).
5. Scaling: ``segfn run`` of 2 at ``--workers`` 1, 2 and 4.

1, 2 and 3 are up at once and measured in turn, run after run, so that the load of
whoever else uses the machine falls on each alike: their ratios are what counts, more
than their absolute figures. Every figure is the median of ``--runs`` runs (3 at least),
printed with the lowest and highest; so is the CPU each request cost the server's own
process (parent) and its sandbox workers, and the load generator's own CPU, in cores: a
generator near one core is itself the limit, and its figures say so.

Figures are printed with their targets (from the issue, on a 2-core machine) and whether
they were met; timings are never asserted, the exit status only says the run worked.

The load generator is ``wrk`` when it is installed (C, so it leaves the 2 cores to the
servers), else an asyncio generator on raw streams with keep-alive HTTP/1.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load import Load, PythonLoad, Wrk, pick_generator
from servers import HOST, Server, free_port, start_segfn, start_serve, started, tree_cpu

from runner.store import DATABASE_FILE

SMALL_CONNECTIONS = 32
IO_CONNECTIONS = 64
SLOW_SECONDS = 0.1

TARGET_RATIO = 0.5
STRETCH_RATIO = 0.8
TARGET_P99_MS = 20.0
TARGET_PARENT_MS = 0.25
TARGET_WORKER_MS = 0.15
TARGET_IO_RPS = 580.0
TARGET_SERVE_RATIO = 0.95
# The --workers of segfn run the scaling figures are taken at.
SCALING_WORKERS = (1, 2, 4)
# A generator using this much of a core a second is likely the bottleneck.
GENERATOR_SATURATED = 0.9
IO_THEORETICAL_MAX = IO_CONNECTIONS / SLOW_SECONDS

BODY = json.dumps({"user": "user-42", "event": "Order Completed",
                   "properties": {"order_id": "o-1001", "total": 99.5, "currency": "EUR"}})

SMALL_HANDLER = """\
def on_request(request, settings):
    body = request.json()
    Segment.track({"userId": body["user"], "event": body["event"],
                   "properties": body["properties"]})
"""

IO_HANDLER = """\
def on_request(request, settings):
    body = request.json()
    answer = fetch({url!r})
    Segment.track({{"userId": body["user"], "event": body["event"],
                   "properties": {{"upstream": answer.status}}}})
"""


# --------------------------------------------------------------------------- servers
#
# The plain app and the slow endpoint run in subprocesses of this same file
# (``--serve-plain PORT``, ``--serve-slow PORT``), so each has a process of its own, as
# ``segfn run`` does, and none of them shares a core's event loop with the load generator.


def uvicorn_config(app: Any, port: int) -> Any:
    """The uvicorn settings ``segfn run`` uses (segfn/cli/run.py), for a fair comparison."""
    import uvicorn

    return uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False,
                          lifespan="on", timeout_graceful_shutdown=10)


def plain_app() -> Any:
    """The same work as the small handler, in-process: no sandbox, no durability."""
    import uuid
    from datetime import UTC, datetime

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from segfn import messages

    async def deliver(request: Request) -> Response:
        body = json.loads(await request.body())
        fields = {"userId": body["user"], "event": body["event"],
                  "properties": body["properties"]}
        messages.build_message("track", fields, invocation_id=uuid.uuid4().hex, sequence=0,
                               now=datetime.now(UTC))
        return JSONResponse({"ok": True})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/healthz", healthz, methods=["GET"]),
                             Route("/", deliver, methods=["POST"])])


def serve_plain(port: int) -> None:
    import uvicorn
    import uvloop

    # uvloop, as ``segfn run`` has it, and as ``uvicorn app:app`` picks where it is
    # installed: on asyncio's own loop the plain app made some 12% fewer requests a second,
    # and the ratio looked that much better than it is.
    uvloop.run(uvicorn.Server(uvicorn_config(plain_app(), port)).serve())


async def _slow_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer every request on a keep-alive connection after ``SLOW_SECONDS``."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if length:
                await reader.readexactly(int(length.group(1)))
            await asyncio.sleep(SLOW_SECONDS)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: 5\r\n\r\nslept")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _serve_slow(port: int) -> None:
    server = await asyncio.start_server(_slow_connection, HOST, port, backlog=1024)
    async with server:
        await server.serve_forever()


def serve_slow(port: int) -> None:
    asyncio.run(_serve_slow(port))


def start_self(mode: str, name: str, workdir: Path, ready_path: str | None) -> Any:
    port = free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), mode, str(port)]
    return started(name, argv, port, workdir, ready_path)


def measure(generator: Wrk | PythonLoad, server: Server, connections: int, seconds: float,
            paths: Sequence[str] = ()) -> Load:
    """Load ``server`` (or each of ``paths`` on it in turn) once, with the CPU it used."""
    # CPU per request is steadier than rps on a busy 2-core box, and says where time goes.
    before = tree_cpu(server.process.pid)
    load = generator.run(server.url, connections, seconds, paths)
    after = tree_cpu(server.process.pid)
    load.server_cpu, load.workers_cpu = after[0] - before[0], after[1] - before[1]
    return load


def warm(generator: Wrk | PythonLoad, server: Server, connections: int, warmup: float) -> None:
    # The warm-up fills connection pools, the handler cache and SQLite's pages; discarded.
    if warmup:
        generator.run(server.url, connections, warmup)


def rounds(generator: Wrk | PythonLoad, servers: Sequence[Server], connections: int,
           seconds: float, warmup: float, runs: int) -> list[Figures]:
    """``runs`` measurements of each of ``servers``, taken in turn (A, B, A, B, ...), so
    that a neighbour's burst of load on the machine falls on all of them alike."""
    for server in servers:
        warm(generator, server, connections, warmup)
    loads: list[list[Load]] = [[] for _ in servers]
    for _ in range(runs):
        for server, taken in zip(servers, loads, strict=True):
            taken.append(measure(generator, server, connections, seconds))
    return [Figures(taken) for taken in loads]


# --------------------------------------------------------------------------- report


@dataclass
class Figures:
    """Several measurements of one server: each figure is their median, with its spread."""

    loads: list[Load]

    def median(self, figure: Callable[[Load], float]) -> float:
        return statistics.median(figure(load) for load in self.loads)

    def spread(self, figure: Callable[[Load], float], digits: int = 2) -> str:
        """The median and, in brackets, the lowest and highest of the runs."""
        values = [figure(load) for load in self.loads]
        return (f"{statistics.median(values):.{digits}f} "
                f"[{min(values):.{digits}f}-{max(values):.{digits}f}]")

    @property
    def rps(self) -> float:
        return self.median(lambda load: load.rps)

    @property
    def p99(self) -> float:
        return self.median(lambda load: load.p99)

    @property
    def parent_ms(self) -> float:
        return self.median(lambda load: load.cpu_ms_per_request(load.server_cpu))

    @property
    def workers_ms(self) -> float:
        return self.median(lambda load: load.cpu_ms_per_request(load.workers_cpu))

    @property
    def generator_cores(self) -> float:
        """The load generator's CPU, in cores (CPU seconds a second)."""
        return self.median(lambda load: load.generator_cpu / load.seconds)

    @property
    def failures(self) -> int:
        return sum(load.failures for load in self.loads)


def line(label: str, figures: Figures, connections: int) -> str:
    cpu = "cpu/request: parent " + figures.spread(
        lambda load: load.cpu_ms_per_request(load.server_cpu), 3) + " ms"
    if any(load.workers_cpu for load in figures.loads):
        cpu += ", workers " + figures.spread(
            lambda load: load.cpu_ms_per_request(load.workers_cpu), 3) + " ms"
    generator = figures.generator_cores
    busy = "  SATURATED: the generator is the limit" if generator > GENERATOR_SATURATED else ""
    return (f"{label:<16} @{connections} conns: rps {figures.rps:8.1f}  "
            f"p50 {figures.median(lambda load: load.p50):7.2f} ms  "
            f"p99 {figures.p99:7.2f} ms  spread: rps {figures.spread(lambda load: load.rps, 0)}, "
            f"p99 {figures.spread(lambda load: load.p99)} ms; {cpu}; generator "
            f"{generator:.2f} cores{busy}  ({len(figures.loads)} runs, "
            f"{sum(load.requests for load in figures.loads)} requests, "
            f"{figures.failures} failed)")


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def count_events(data_dir: Path) -> int:
    """Events committed by a segfn run, read back: the durability was real."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(data_dir / DATABASE_FILE)) as db:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])


def scaling(generator: Wrk | PythonLoad, workdir: Path, seconds: float, warmup: float,
            runs: int, measured: dict[int, Figures]) -> dict[int, Figures]:
    """``segfn run`` of the small handler at each of ``SCALING_WORKERS``; those already
    ``measured`` are not measured again."""
    for workers in SCALING_WORKERS:
        if workers not in measured:
            with start_segfn(f"small{workers}", SMALL_HANDLER, workdir, workers) as segfn:
                (measured[workers],) = rounds(generator, [segfn], SMALL_CONNECTIONS, seconds,
                                              warmup, runs)
    return measured


def run_benchmark(args: argparse.Namespace) -> int:
    seconds, warmup = (1.5, 0.5) if args.quick else (5.0, 1.0)
    with tempfile.TemporaryDirectory(prefix="segfn-bench-") as tmp:
        workdir = Path(tmp)
        generator = pick_generator(args.generator, workdir, BODY)
        print(f"generator: {generator.describe()}")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before "
              f"the run; {args.runs} runs of {seconds:g} s per figure (its median, with the "
              f"lowest and highest) after a {warmup:g} s warm-up; segfn run and serve "
              f"--workers {args.workers}", flush=True)

        with (start_self("--serve-plain", "plain", workdir, "/healthz") as plain,
              start_segfn("small", SMALL_HANDLER, workdir, args.workers) as segfn,
              start_serve("serve", SMALL_HANDLER, workdir, args.workers) as serve):
            plain_load, segfn_load, serve_load = rounds(
                generator, [plain, segfn, serve], SMALL_CONNECTIONS, seconds, warmup,
                args.runs)
        print(line("plain starlette", plain_load, SMALL_CONNECTIONS))
        print(line("segfn run", segfn_load, SMALL_CONNECTIONS))
        print(line("segfn serve", serve_load, SMALL_CONNECTIONS))
        print(f"segfn run stored {count_events(workdir / 'small-data')} events in SQLite, "
              f"segfn serve {count_events(workdir / 'serve-data')}", flush=True)

        with start_self("--serve-slow", "slow", workdir, None) as slow:
            handler = IO_HANDLER.format(url=f"http://{HOST}:{slow.port}/slow")
            with start_segfn("io", handler, workdir, args.workers) as io:
                (io_load,) = rounds(generator, [io], IO_CONNECTIONS, seconds, warmup,
                                    args.runs)
        print(line("segfn run io", io_load, IO_CONNECTIONS), flush=True)

        scaled = scaling(generator, workdir, seconds, warmup, args.runs,
                         {args.workers: segfn_load})
        for workers, figures in sorted(scaled.items()):
            print(line(f"run --workers {workers}", figures, SMALL_CONNECTIONS), flush=True)

    print()
    report(plain_load, segfn_load, io_load, serve_load)
    failed = sum(f.failures for f in (plain_load, segfn_load, io_load, serve_load,
                                      *scaled.values()))
    if failed:
        print(f"warning: {failed} requests failed; the figures above count them")
    return 0


def report(plain: Figures, segfn: Figures, io: Figures, serve: Figures) -> None:
    """Each target of the issue, the figure measured and whether it was met."""
    ratio = segfn.rps / plain.rps if plain.rps else 0.0
    print(f"ratio (segfn rps / plain rps): {ratio:.3f}  target >= {TARGET_RATIO}  "
          f"{verdict(ratio >= TARGET_RATIO)}  (stretch {STRETCH_RATIO}: "
          f"{verdict(ratio >= STRETCH_RATIO)})")
    # The runs were taken in turn: each pair saw the machine alike, so the spread of their
    # ratios shows how far the noise of a busy machine moves the ratio above.
    paired = [s.rps / p.rps for p, s in zip(plain.loads, segfn.loads, strict=True) if p.rps]
    if paired:
        print(f"ratio run by run: {statistics.median(paired):.3f} "
              f"[{min(paired):.3f}-{max(paired):.3f}]  (each segfn run against the plain "
              "run just before it)")
    print(f"segfn p99: {segfn.p99:.2f} ms  target < {TARGET_P99_MS:g} ms  "
          f"{verdict(segfn.p99 < TARGET_P99_MS)}")
    print(f"parent cpu/request: {segfn.parent_ms:.3f} ms  target <= {TARGET_PARENT_MS:g} ms  "
          f"{verdict(segfn.parent_ms <= TARGET_PARENT_MS)}  (plain app {plain.parent_ms:.3f} ms)")
    print(f"worker cpu/invocation: {segfn.workers_ms:.3f} ms  target <= {TARGET_WORKER_MS:g} "
          f"ms  {verdict(segfn.workers_ms <= TARGET_WORKER_MS)}")
    print(f"io-bound invocations/s: {io.rps:.1f}  target >= {TARGET_IO_RPS:g}  "
          f"(theoretical max {IO_THEORETICAL_MAX:g}/s)  {verdict(io.rps >= TARGET_IO_RPS)}")
    serve_ratio = serve.rps / segfn.rps if segfn.rps else 0.0
    print(f"ratio serve/run {serve_ratio:.3f}  target >= {TARGET_SERVE_RATIO}  "
          f"{verdict(serve_ratio >= TARGET_SERVE_RATIO)}  (the service's routing, metrics and "
          "catalog over segfn run)")


def benchmark_parser(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark of segfn's servers takes; ``doc`` is its docstring."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1.5 s per measurement")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto",
                        help="load generator (auto: wrk if installed, else python)")
    parser.add_argument("--workers", type=int, default=2, help="segfn run and serve --workers")
    parser.add_argument("--runs", type=int, default=3,
                        help="measurements per figure, at least 3 (each figure is their median)")
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs: a median needs at least 3 runs")
    return args


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__)
    # Internal: this file is also the plain app's and the slow endpoint's server.
    parser.add_argument("--serve-plain", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-slow", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parse(parser, argv)
    if args.serve_plain:
        serve_plain(args.serve_plain)
        return 0
    if args.serve_slow:
        serve_slow(args.serve_slow)
        return 0
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
