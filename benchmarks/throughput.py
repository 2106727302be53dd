"""Throughput of ``segfn run`` against a plain Starlette app, of an IO-bound handler, and
of ``segfn serve`` against ``segfn run``.

    python benchmarks/throughput.py [--quick] [--generator auto|wrk|python]

Four measurements, all on 127.0.0.1, all with the same load generator:

1. A plain Starlette app served by uvicorn in a subprocess (same uvicorn settings as
   ``segfn run``): parse the JSON body, build the same track message with
   ``segfn.messages.build_message``, answer ``{"ok": true}``. No sandbox, no durability.
2. ``segfn run`` (a real subprocess: uvicorn, the sandbox worker pool, SQLite with group
   commit in a temporary data dir) serving a handler doing the same work: parse JSON, one
   ``Segment.track``. Both at 32 concurrent connections; the ratio of their rps is the
   price of the sandbox and durability.
3. ``segfn run`` serving a handler that ``fetch``es a local endpoint answering after
   100 ms, at 64 concurrent connections: invocations per second (640/s with perfect
   overlap).
4. ``segfn serve`` (a real subprocess, ``--rate-limit 0``, the same worker count) serving
   the handler of 2 as a function with one source, created through the API, at its
   ``/fn/TOKEN`` webhook, at 32 connections: the ratio of its rps to that of 2 is the
   price of the service's routing by webhook token, metrics per invocation and catalog.
   No target.

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
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load import Load, PythonLoad, Wrk, pick_generator

from runner.store import DATABASE_FILE

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"

SMALL_CONNECTIONS = 32
IO_CONNECTIONS = 64
SLOW_SECONDS = 0.1

TARGET_RATIO = 0.5
TARGET_P99_MS = 20.0
TARGET_IO_RPS = 300.0
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

    return uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="on",
                          timeout_graceful_shutdown=10)


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

    asyncio.run(uvicorn.Server(uvicorn_config(plain_app(), port)).serve())


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


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    path: str = "/"  # where the load goes

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    # The children import segfn from this checkout (a scratch copy benchmarks itself).
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{path}" if path else str(ROOT))


@contextlib.contextmanager
def started(name: str, argv: list[str], port: int, workdir: Path,
            ready_path: str | None = "/healthz") -> Iterator[Server]:
    """Run ``argv`` in a process group of its own; stop the whole group on the way out."""
    log = workdir / f"{name}.log"
    # Output goes to a file, never a pipe nobody reads: segfn run prints a line per request
    # and would block on a full pipe.
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                   env=child_env(), start_new_session=True)
    server = Server(name, process, port, log)
    try:
        wait_ready(server, ready_path)
        yield server
    finally:
        stop(process)


def wait_ready(server: Server, path: str | None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.process.returncode}):\n"
                               + server.log.read_text(errors="replace")[-2000:])
        try:
            if path is None:
                with contextlib.closing(_connect(server.port)):
                    return
            with urllib.request.urlopen(f"http://{HOST}:{server.port}{path}", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} was not ready within {timeout:g} s")


def _connect(port: int) -> Any:
    import socket

    return socket.create_connection((HOST, port), timeout=1)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``: the sandbox workers run in sessions of their own."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used so far, 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields 14 and 15 of stat(5), counted here from field 3 (after the command).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of ``pid`` itself and of all its descendants (the sandbox workers)."""
    return cpu_seconds(pid), sum(cpu_seconds(child) for child in _descendants(pid))


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (a graceful uvicorn shutdown), SIGKILL what is left."""
    below = _descendants(process.pid) if Path("/proc").is_dir() else []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for pid in below:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def segfn_argv(*args: str) -> list[str]:
    """The segfn CLI of this checkout (``PYTHONPATH``), whatever ``segfn`` is on ``PATH``."""
    return [sys.executable, "-c", "import sys; from segfn.cli import main; main(sys.argv[1:])",
            *args]


def start_segfn(name: str, handler: str, workdir: Path, workers: int) -> Any:
    handler_path = workdir / f"{name}.py"
    handler_path.write_text(handler)
    port = free_port()
    argv = segfn_argv("run", str(handler_path), "--host", HOST, "--port", str(port),
                      "--data-dir", str(workdir / f"{name}-data"), "--workers", str(workers))
    return started(name, argv, port, workdir)


@contextlib.contextmanager
def start_serve(name: str, handler: str, workdir: Path, workers: int) -> Iterator[Server]:
    """``segfn serve`` with ``handler`` as function and source ``bench``, load at its webhook."""
    port = free_port()
    # --rate-limit 0: the default 100 requests/s per source would throttle the load.
    argv = segfn_argv("serve", "--host", HOST, "--port", str(port),
                      "--data-dir", str(workdir / f"{name}-data"), "--workers", str(workers),
                      "--rate-limit", "0")
    with started(name, argv, port, workdir) as server:
        token = owner_token(server.log.read_text())
        api(server, token, "/functions", {"name": "bench", "code": handler})
        source = api(server, token, "/sources", {"name": "bench", "function": "bench"})
        server.path = urllib.parse.urlsplit(source["webhook_url"]).path
        yield server


def owner_token(output: str) -> str:
    """The token ``segfn serve`` prints on its first start, on the line after its title."""
    lines = output.splitlines()
    for index, text in enumerate(lines[:-1]):
        if "Workspace Owner token" in text:
            return lines[index + 1].strip()
    raise RuntimeError(f"no Workspace Owner token in segfn serve's output:\n{output}")


def api(server: Server, token: str, path: str, body: dict[str, Any]) -> Any:
    """POST ``body`` to the service API at ``/api/v1{path}``; its JSON answer."""
    request = urllib.request.Request(
        f"http://{HOST}:{server.port}/api/v1{path}", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def start_self(mode: str, name: str, workdir: Path, ready_path: str | None) -> Any:
    port = free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), mode, str(port)]
    return started(name, argv, port, workdir, ready_path)


def measure(generator: Wrk | PythonLoad, server: Server, connections: int, seconds: float,
            warmup: float, paths: Sequence[str] = ()) -> Load:
    """Load ``server`` (or each of ``paths`` on it in turn) after a warm-up."""
    # The warm-up fills connection pools, the handler cache and SQLite's pages; discarded.
    if warmup:
        generator.run(server.url, connections, warmup, paths)
    # CPU per request is steadier than rps on a busy 2-core box, and says where time goes.
    before = tree_cpu(server.process.pid)
    load = generator.run(server.url, connections, seconds, paths)
    after = tree_cpu(server.process.pid)
    load.server_cpu, load.workers_cpu = after[0] - before[0], after[1] - before[1]
    return load


# --------------------------------------------------------------------------- report


def line(label: str, load: Load, connections: int) -> str:
    cpu = f"cpu/request: server {load.cpu_ms_per_request(load.server_cpu):.2f} ms"
    if load.workers_cpu:
        cpu += f", workers {load.cpu_ms_per_request(load.workers_cpu):.2f} ms"
    return (f"{label:<16} @{connections} conns: rps {load.rps:8.1f}  p50 {load.p50:7.2f} ms  "
            f"p99 {load.p99:7.2f} ms  ({load.requests} requests, {load.failures} failed; "
            f"{cpu})")


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def count_events(data_dir: Path) -> int:
    """Events committed by a segfn run, read back: the durability was real."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(data_dir / DATABASE_FILE)) as db:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])


def run_benchmark(args: argparse.Namespace) -> int:
    seconds, warmup = (1.5, 0.5) if args.quick else (5.0, 1.0)
    with tempfile.TemporaryDirectory(prefix="segfn-bench-") as tmp:
        workdir = Path(tmp)
        generator = pick_generator(args.generator, workdir, BODY)
        print(f"generator: {generator.describe()}")
        print(f"machine: {os.cpu_count()} cores; {seconds:g} s per measurement after a "
              f"{warmup:g} s warm-up; segfn run and serve --workers {args.workers}")

        with start_self("--serve-plain", "plain", workdir, "/healthz") as plain:
            plain_load = measure(generator, plain, SMALL_CONNECTIONS, seconds, warmup)
        print(line("plain starlette", plain_load, SMALL_CONNECTIONS), flush=True)

        with start_segfn("small", SMALL_HANDLER, workdir, args.workers) as segfn:
            segfn_load = measure(generator, segfn, SMALL_CONNECTIONS, seconds, warmup)
        print(line("segfn run", segfn_load, SMALL_CONNECTIONS), flush=True)
        print(f"segfn run stored {count_events(workdir / 'small-data')} events in SQLite")

        with start_self("--serve-slow", "slow", workdir, None) as slow:
            handler = IO_HANDLER.format(url=f"http://{HOST}:{slow.port}/slow")
            with start_segfn("io", handler, workdir, args.workers) as io:
                io_load = measure(generator, io, IO_CONNECTIONS, seconds, warmup)
        print(line("segfn run io", io_load, IO_CONNECTIONS), flush=True)

        with start_serve("serve", SMALL_HANDLER, workdir, args.workers) as serve:
            serve_load = measure(generator, serve, SMALL_CONNECTIONS, seconds, warmup)
        print(line("segfn serve", serve_load, SMALL_CONNECTIONS), flush=True)
        print(f"segfn serve stored {count_events(workdir / 'serve-data')} events in SQLite")

    ratio = segfn_load.rps / plain_load.rps if plain_load.rps else 0.0
    print()
    print(f"ratio (segfn rps / plain rps): {ratio:.3f}  target >= {TARGET_RATIO}  "
          f"{verdict(ratio >= TARGET_RATIO)}")
    print(f"segfn p99: {segfn_load.p99:.2f} ms  target < {TARGET_P99_MS:g} ms  "
          f"{verdict(segfn_load.p99 < TARGET_P99_MS)}")
    print(f"io-bound invocations/s: {io_load.rps:.1f}  target >= {TARGET_IO_RPS:g}  "
          f"(theoretical max {IO_THEORETICAL_MAX:g}/s)  {verdict(io_load.rps >= TARGET_IO_RPS)}")
    serve_ratio = serve_load.rps / segfn_load.rps if segfn_load.rps else 0.0
    print(f"ratio serve/run {serve_ratio:.3f}  (no target; the service's routing, metrics and "
          "catalog over segfn run)")
    failed = plain_load.failures + segfn_load.failures + io_load.failures + serve_load.failures
    if failed:
        print(f"warning: {failed} requests failed; the figures above count them")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1.5 s per measurement")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto",
                        help="load generator (auto: wrk if installed, else python)")
    parser.add_argument("--workers", type=int, default=2, help="segfn run and serve --workers")
    # Internal: this file is also the plain app's and the slow endpoint's server.
    parser.add_argument("--serve-plain", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-slow", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_plain:
        serve_plain(args.serve_plain)
        return 0
    if args.serve_slow:
        serve_slow(args.serve_slow)
        return 0
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
