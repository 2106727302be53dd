"""The throughput benchmark runs end to end and prints its figures; timings are not judged."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"
NUMBER = r"[\d.]+"


def test_quick_run_prints_every_figure() -> None:
    # The Python load generator, so the test needs no wrk on the machine.
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--generator", "python"],
                          capture_output=True, text=True, timeout=240)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert re.search(r"^generator: python", out, re.M)
    for label in ("plain starlette", "segfn run", "segfn run io", "segfn serve",
                  "run --workers 1", "run --workers 2", "run --workers 4"):
        assert re.search(rf"^{label}\s+@\d+ conns: rps\s+{NUMBER}\s+p50\s+{NUMBER} ms\s+"
                         rf"p99\s+{NUMBER} ms\s+spread: rps {NUMBER} \[{NUMBER}-{NUMBER}\], "
                         rf"p99 {NUMBER} \[{NUMBER}-{NUMBER}\] ms; cpu/request: parent "
                         rf"{NUMBER} \[{NUMBER}-{NUMBER}\] ms.*; generator {NUMBER} cores"
                         r".*\(3 runs, \d+ requests, \d+ failed\)$", out, re.M), out
    # Every figure but the plain app's has the workers' CPU too.
    assert re.search(r"^segfn serve .*, workers [\d.]+ \[", out, re.M), out
    assert re.search(rf"^ratio \(segfn rps / plain rps\): {NUMBER}\s+target >= 0.5\s+"
                     r"(MET|MISSED)\s+\(stretch 0.8: (MET|MISSED)\)$", out, re.M), out
    assert re.search(rf"^ratio run by run: {NUMBER} \[{NUMBER}-{NUMBER}\]  \(each segfn run",
                     out, re.M), out
    assert re.search(rf"^segfn p99: {NUMBER} ms\s+target < 20 ms\s+(MET|MISSED)$", out, re.M)
    assert re.search(rf"^parent cpu/request: {NUMBER} ms\s+target <= 0.25 ms\s+(MET|MISSED)",
                     out, re.M), out
    assert re.search(rf"^worker cpu/invocation: {NUMBER} ms\s+target <= 0.15 ms\s+"
                     r"(MET|MISSED)$", out, re.M), out
    assert re.search(rf"^io-bound invocations/s: {NUMBER}\s+target >= 580\s+.*(MET|MISSED)$",
                     out, re.M), out
    assert re.search(rf"^ratio serve/run {NUMBER}\s+target >= 0.95\s+(MET|MISSED)", out,
                     re.M), out


def test_fewer_than_three_runs_are_refused() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--runs", "2"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "a median needs at least 3 runs" in done.stderr
