"""Throughput of ``segfn serve`` with 1, 10 and 100 functions active at once.

    python benchmarks/tenants.py [--quick] [--functions 1,10,100] [--workers 1]
                                 [--max-workers N]

Every function runs in worker processes of its own (a pool per function), so the more
functions receive traffic, the more processes share the 2 cores. For each count, one
``segfn serve`` gets that many functions (the handler of benchmarks/throughput.py), each
with one source; one delivery to each starts every pool (the time it takes is printed),
then the load goes to every source's webhook in turn, at 32 connections.
The figure is each count's requests per second as a ratio of the one-function figure of
the same run. ``--max-workers`` defaults to functions × workers, so no pool is evicted;
a lower cap measures eviction (pools stopped and started again under load).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from load import pick_generator
from servers import (
    HOST,
    Server,
    api,
    free_port,
    owner_token,
    segfn_argv,
    started,
)
from throughput import (
    BODY,
    SMALL_CONNECTIONS,
    SMALL_HANDLER,
    Figures,
    count_events,
    line,
    measure,
)


@contextlib.contextmanager
def serve_functions(count: int, workdir: Path, workers: int, max_workers: int
                    ) -> Iterator[tuple[Server, list[str]]]:
    """``segfn serve`` with ``count`` functions of one source each; their webhook paths."""
    port = free_port()
    data = workdir / f"tenants-{count}-data"
    argv = segfn_argv("serve", "--host", HOST, "--port", str(port), "--data-dir", str(data),
                      "--workers", str(workers), "--max-workers", str(max_workers),
                      "--rate-limit", "0")
    with started(f"tenants-{count}", argv, port, workdir) as server:
        token = owner_token(server.log.read_text())
        paths = []
        for number in range(count):
            name = f"bench{number}"
            api(server, token, "/functions", {"name": name, "code": SMALL_HANDLER})
            source = api(server, token, "/sources", {"name": name, "function": name})
            paths.append(urllib.parse.urlsplit(source["webhook_url"]).path)
        server.path = paths[0]
        yield server, paths


def post(server: Server, path: str) -> None:
    request = urllib.request.Request(f"http://{HOST}:{server.port}{path}", data=BODY.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1.5 s per measurement")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--functions", default="1,10,100",
                        help="comma-separated counts of active functions")
    parser.add_argument("--workers", type=int, default=1, help="workers of each function")
    parser.add_argument("--max-workers", type=int, default=0,
                        help="the service's cap (default: functions × workers)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.functions.split(",")]
    seconds, warmup = (1.5, 0.5) if args.quick else (5.0, 2.0)
    figures: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="segfn-bench-") as tmp:
        workdir = Path(tmp)
        generator = pick_generator(args.generator, workdir, BODY)
        print(f"generator: {generator.describe()}; {seconds:g} s per measurement after a "
              f"{warmup:g} s warm-up; --workers {args.workers} per function")
        for count in counts:
            cap = args.max_workers or count * args.workers
            with serve_functions(count, workdir, args.workers, cap) as (server, paths):
                started = time.monotonic()
                for path in paths:  # one delivery each starts every function's pool
                    post(server, path)
                print(f"  {count} pool(s) started in {time.monotonic() - started:.1f} s")
                generator.run(server.url, SMALL_CONNECTIONS, warmup, paths)
                load = measure(generator, server, SMALL_CONNECTIONS, seconds, paths)
            figures[count] = load.rps
            print(line(f"{count} function(s)", Figures([load]), SMALL_CONNECTIONS)
                  + f"  --max-workers {cap}", flush=True)
            print(f"  stored {count_events(workdir / f'tenants-{count}-data')} events")
    base = figures[counts[0]]
    print()
    for count in counts[1:]:
        print(f"ratio {count} functions / {counts[0]}: "
              f"{figures[count] / base if base else 0.0:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
