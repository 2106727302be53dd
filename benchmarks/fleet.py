"""``segfn serve`` on SQLite, on PostgreSQL, and as two nodes on one PostgreSQL.

    python benchmarks/fleet.py [--quick] [--runs N] [--workers N]
                               [--generator auto|wrk|python]

Three set-ups serve the small handler of benchmarks/throughput.py as one function with one
source, at 32 connections, all on this machine:

1. one node on SQLite (its data dir), the embedded default;
2. one node on a PostgreSQL server started for the run (initdb in a temporary directory,
   fsync on, as production runs it);
3. two nodes on that database, the load split between them (16 connections each, at once):
   their requests/s added, the p99 the worse of the two.

They are measured in turn, run after run, and printed with the ratios PostgreSQL/SQLite and
two nodes/one node. On one machine the two nodes share its cores (and the database's), so
the second ratio is what a fleet costs in contention here, not what it gains across
machines. Timings are never asserted; the exit status only says the run worked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path

from load import Load, PythonLoad, Wrk, pick_generator
from servers import (
    HOST,
    ROOT,
    Server,
    api,
    free_port,
    segfn_argv,
    start_serve,
    started,
)
from throughput import (
    BODY,
    SMALL_CONNECTIONS,
    SMALL_HANDLER,
    Figures,
    benchmark_parser,
    line,
    measure,
    parse,
    warm,
)

# The throwaway PostgreSQL of the tests (tests/postgres.py): one way to start one.
sys.path.insert(0, str(ROOT))
from tests import postgres  # noqa: E402


@contextlib.contextmanager
def fleet(database: str, workdir: Path, workers: int, nodes: int) -> Iterator[list[Server]]:
    """``nodes`` serve processes on ``database``, the source made through the first."""
    token = json.loads(subprocess.run(
        segfn_argv("admin", "create-workspace", "bench", "--database", database, "--json"),
        capture_output=True, text=True, check=True, timeout=60).stdout)["token"]
    with contextlib.ExitStack() as stack:
        servers = []
        for n in range(nodes):
            port = free_port()
            servers.append(stack.enter_context(started(f"pg{nodes}-{n}", segfn_argv(
                "serve", "--host", HOST, "--port", str(port), "--database", database,
                "--data-dir", str(workdir / f"pg{nodes}-{n}-data"), "--workers", str(workers),
                "--rate-limit", "0"), port, workdir)))
        api(servers[0], token, "/functions", {"name": "bench", "code": SMALL_HANDLER})
        source = api(servers[0], token, "/sources", {"name": "bench", "function": "bench"})
        for server in servers:
            server.path = urllib.parse.urlsplit(source["webhook_url"]).path
        yield servers


def measure_all(generator: Wrk | PythonLoad, servers: Sequence[Server], connections: int,
                seconds: float) -> Load:
    """Load every server at once, ``connections`` shared out: one Load of them all."""
    share = connections // len(servers)
    loads: list[Load] = []

    def one(server: Server) -> None:
        loads.append(measure(generator, server, share, seconds))

    threads = [threading.Thread(target=one, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    joined = Load(sum(load.requests for load in loads), sum(load.failures for load in loads),
                  max(load.seconds for load in loads), max(load.p50 for load in loads),
                  max(load.p99 for load in loads))
    joined.server_cpu = sum(load.server_cpu for load in loads)
    joined.workers_cpu = sum(load.workers_cpu for load in loads)
    joined.generator_cpu = sum(load.generator_cpu for load in loads)
    return joined


def run_benchmark(args: argparse.Namespace) -> int:
    seconds, warmup = (1.5, 0.5) if args.quick else (5.0, 1.0)
    server = postgres.start(durable=True)
    try:
        with tempfile.TemporaryDirectory(prefix="segfn-fleet-") as tmp:
            workdir = Path(tmp)
            generator = pick_generator(args.generator, workdir, BODY)
            print(f"generator: {generator.describe()}; {os.cpu_count()} cores; {args.runs} "
                  f"runs of {seconds:g} s per figure after a {warmup:g} s warm-up; "
                  f"--workers {args.workers}", flush=True)
            with (start_serve("sqlite", SMALL_HANDLER, workdir, args.workers) as sqlite,
                  _database(server, "one") as one_db, _database(server, "two") as two_db,
                  fleet(one_db, workdir, args.workers, 1) as one,
                  fleet(two_db, workdir, args.workers, 2) as two):
                for each in (sqlite, *one, *two):
                    warm(generator, each, SMALL_CONNECTIONS // 2, warmup)
                taken: list[list[Load]] = [[], [], []]
                for _ in range(args.runs):
                    taken[0].append(measure(generator, sqlite, SMALL_CONNECTIONS, seconds))
                    taken[1].append(measure(generator, one[0], SMALL_CONNECTIONS, seconds))
                    taken[2].append(measure_all(generator, two, SMALL_CONNECTIONS, seconds))
    finally:
        server.stop()
    on_sqlite, on_pg, two_nodes = (Figures(loads) for loads in taken)
    print(line("serve sqlite", on_sqlite, SMALL_CONNECTIONS))
    print(line("serve postgres", on_pg, SMALL_CONNECTIONS))
    print(line("2 nodes postgres", two_nodes, SMALL_CONNECTIONS))
    print(f"ratio postgres/sqlite (one node): rps {_ratio(on_pg.rps, on_sqlite.rps)}, "
          f"p99 {_ratio(on_pg.p99, on_sqlite.p99)}")
    print(f"ratio two nodes/one node (postgres, one machine): rps "
          f"{_ratio(two_nodes.rps, on_pg.rps)}, p99 {_ratio(two_nodes.p99, on_pg.p99)}")
    failed = sum(f.failures for f in (on_sqlite, on_pg, two_nodes))
    if failed:
        print(f"warning: {failed} requests failed; the figures above count them")
    return 0


@contextlib.contextmanager
def _database(server: postgres.Server, name: str) -> Iterator[str]:
    """A database ``name`` on ``server``, migrated to this segfn's schema."""
    subprocess.run([*server.as_user, str(server.bin / "createdb"), "-h", "127.0.0.1", "-p",
                    str(server.port), "-U", postgres.ROLE, name], check=True, timeout=60)
    url = server.url(name)
    subprocess.run(segfn_argv("admin", "migrate", "--database", url), check=True,
                   capture_output=True, timeout=120)
    yield url


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.3f}" if baseline else "n/a"


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(parse(benchmark_parser(__doc__), argv))


if __name__ == "__main__":
    sys.exit(main())
