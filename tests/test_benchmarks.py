"""The benchmark scripts run and print their labelled figures (no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

NUMBER = r"[\d,]+(?:\.\d+)?"


def test_invoke_benchmark_quick_run_prints_every_figure() -> None:
    process = subprocess.run([sys.executable, str(BENCHMARKS / "invoke.py"), "--quick"],
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    out = process.stdout
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
