"""Load generators for the benchmarks: ``wrk``, or keep-alive HTTP/1.1 on asyncio streams.

Both POST one JSON body over and over on a number of connections for a number of seconds,
to one URL or in turn to several paths of its host, and report a ``Load``: requests,
failures, p50 and p99.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import resource
import shutil
import subprocess
import textwrap
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Load:
    """What one measurement saw; latencies in milliseconds, CPU in seconds."""

    requests: int
    failures: int
    seconds: float
    p50: float
    p99: float
    server_cpu: float = math.nan
    workers_cpu: float = math.nan
    # The load generator's own CPU seconds: near one core a second, it is the bottleneck.
    generator_cpu: float = math.nan

    def cpu_ms_per_request(self, cpu: float) -> float:
        return cpu * 1000 / self.requests if self.requests else math.nan

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Wrk:
    name = "wrk"

    def __init__(self, workdir: Path, body: str) -> None:
        self.script = workdir / "post.lua"
        # Lua long brackets: the JSON body needs no escaping.
        self.script.write_text(textwrap.dedent(f"""\
            wrk.method = "POST"
            wrk.body = [[{body}]]
            wrk.headers["Content-Type"] = "application/json"
            """))

    def describe(self) -> str:
        version = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        first = (version.stdout or version.stderr).splitlines()[:1]
        return f"wrk ({first[0].split(' Copyright')[0] if first else 'unknown version'}), " \
               "1 thread, Lua POST script"

    def run(self, url: str, connections: int, seconds: float, paths: Sequence[str] = ()
            ) -> Load:
        """Load ``url``, or when ``paths`` are given, each of them in turn on its host."""
        script = self.script
        if paths:
            script = self.script.with_name("paths.lua")
            listed = ", ".join(f"[[{path}]]" for path in paths)
            script.write_text(self.script.read_text() + textwrap.dedent(f"""\
                paths = {{{listed}}}
                turn = 0
                request = function()
                  turn = turn % #paths + 1
                  return wrk.format(nil, paths[turn])
                end
                """))
        # One thread: wrk's one core of C is far more than these servers need, and the
        # second core is left to the server under test.
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, math.ceil(seconds))}s",
                "--latency", "--timeout", "10s", "-s", str(script), url]
        before = _children_cpu()
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        load = parse_wrk(done.stdout)
        load.generator_cpu = _children_cpu() - before
        return load


def _children_cpu() -> float:
    """User and system CPU seconds of the children waited for so far (wrk's, once it ran)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * _WRK_UNITS[unit]


def parse_wrk(output: str) -> Load:
    """Requests, failures and percentiles from ``wrk --latency`` output."""
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", output)
    if total is None or "50" not in percentiles or "99" not in percentiles:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    seconds = _wrk_ms(total.group(2) + total.group(3)) / 1000
    failures = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    if errors:
        failures += sum(int(n) for n in errors.groups())
    return Load(int(total.group(1)), failures, seconds, _wrk_ms(percentiles["50"]),
                _wrk_ms(percentiles["99"]))


class PythonLoad:
    """Keep-alive HTTP/1.1 on raw asyncio streams: one coroutine per connection."""

    name = "python"

    def __init__(self, body: str) -> None:
        self.payload = body.encode()

    def describe(self) -> str:
        return "python (asyncio streams, keep-alive HTTP/1.1; shares the 2 cores with the " \
               "servers, so it may itself be the bottleneck)"

    def run(self, url: str, connections: int, seconds: float, paths: Sequence[str] = ()
            ) -> Load:
        """Load ``url``, or when ``paths`` are given, each of them in turn on its host."""
        before = time.process_time()
        load = asyncio.run(self._run(url, connections, seconds, paths))
        load.generator_cpu = time.process_time() - before
        return load

    async def _run(self, url: str, connections: int, seconds: float, paths: Sequence[str]
                   ) -> Load:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", int(parts.port or 80)
        requests = [(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(self.payload)}"
                     "\r\n\r\n").encode() + self.payload
                    for path in (paths or [parts.path or "/"])]
        latencies: list[float] = []
        failures = [0]
        # Connection n starts at the n-th path, so that every path is loaded at once.
        tasks = [asyncio.create_task(self._connection(
            host, port, requests[n % len(requests):] + requests[:n % len(requests)],
            latencies, failures)) for n in range(connections)]
        start = time.perf_counter()
        # Responses still in flight at the deadline are not counted: rps is over `seconds`.
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - start
        done = len(latencies)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        measured = sorted(latencies[:done])
        return Load(done, failures[0], elapsed, _percentile(measured, 50),
                    _percentile(measured, 99))

    async def _connection(self, host: str, port: int, requests: list[bytes],
                          latencies: list[float], failures: list[int]) -> None:
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection(host, port)
            for request in itertools.cycle(requests):
                sent = time.perf_counter()
                writer.write(request)
                status, close = await _read_response(reader)
                latencies.append((time.perf_counter() - sent) * 1000)
                if not 200 <= status < 400:
                    failures[0] += 1
                if close:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        except (ConnectionError, asyncio.IncompleteReadError):
            failures[0] += 1
        finally:
            if writer is not None:
                writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of one response, read to its end, and whether the server closes."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if length is None:
        raise ConnectionError("a response without Content-Length")
    await reader.readexactly(int(length.group(1)))
    return status, re.search(rb"(?im)^connection:\s*close", head) is not None


def _percentile(sorted_values: list[float], percent: float) -> float:
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, math.ceil(percent / 100 * len(sorted_values)) - 1)
    return sorted_values[max(0, index)]


def pick_generator(choice: str, workdir: Path, body: str) -> Wrk | PythonLoad:
    """``wrk`` when asked for or, for "auto", when installed; else the asyncio client."""
    if choice == "wrk" or (choice == "auto" and shutil.which("wrk")):
        if not shutil.which("wrk"):
            raise SystemExit("--generator wrk: wrk is not installed (apt-get install wrk)")
        return Wrk(workdir, body)
    return PythonLoad(body)
