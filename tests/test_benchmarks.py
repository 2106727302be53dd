"""The benchmark scripts run and print their labelled figures (no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

NUMBER = r"[\d,]+(?:\.\d+)?"


def run_benchmark(script: str, *args: str) -> str:
    process = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick", *args],
                             capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    return process.stdout


def test_invoke_benchmark_quick_run_prints_every_figure() -> None:
    out = run_benchmark("invoke.py")
    for label in ("plain Python (no sandbox, no worker)",
                  "sandbox in-process (Executor.run, no IPC)",
                  "sandbox + worker (BlockingPool, size 1)"):
        assert re.search(
            re.escape(label) + rf"\s+median\s+{NUMBER} µs\s+{NUMBER} invocations/s", out), label
    for label in ("ratio sandbox in-process / plain", "ratio sandbox + worker / plain",
                  "ratio sandbox + worker / sandbox in-process",
                  "ratio compile_handler / compile()"):
        assert re.search(re.escape(label) + rf"\s+{NUMBER}x", out), label
    assert re.search(r"where the time goes\s+sandbox -?[\d.]+ µs, IPC and pool -?[\d.]+ µs", out)
    assert "Compile a 300-line handler" in out
    for label in ("plain compile()", "segfn.sandbox.compiler.compile_handler"):
        assert re.search(re.escape(label) + rf"\s+median\s+{NUMBER} ms", out), label


def served(label: str, out: str) -> None:
    """``out`` has a load line for ``label`` whose requests all succeeded."""
    assert re.search(re.escape(label) + rf"\s+@32 conns: rps\s+{NUMBER} .* 0 failed\)", out), (
        label, out)


def test_tenants_benchmark_quick_run_prints_each_count_and_its_ratio() -> None:
    out = run_benchmark("tenants.py", "--functions", "1,2")
    served("1 function(s)", out)
    served("2 function(s)", out)
    assert re.search(r"2 pool\(s\) started in [\d.]+ s", out)
    assert re.search(rf"ratio 2 functions / 1: {NUMBER}", out)


def test_fleet_benchmark_quick_run_prints_each_setup_and_its_ratios() -> None:
    out = run_benchmark("fleet.py")
    for label in ("serve sqlite", "serve postgres", "2 nodes postgres"):
        served(label, out)
    assert re.search(rf"ratio postgres/sqlite \(one node\): rps {NUMBER}, p99 {NUMBER}", out)
    assert re.search(rf"ratio two nodes/one node \(postgres, one machine\): rps {NUMBER}", out)
