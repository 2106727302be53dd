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
    for label in ("plain starlette", "segfn run", "segfn run io", "segfn serve"):
        assert re.search(rf"^{label}\s+@\d+ conns: rps\s+{NUMBER}\s+p50\s+{NUMBER} ms\s+"
                         rf"p99\s+{NUMBER} ms", out, re.M), out
    assert re.search(rf"^ratio \(segfn rps / plain rps\): {NUMBER}\s+target >= 0.5\s+"
                     r"(MET|MISSED)$", out, re.M), out
    assert re.search(rf"^segfn p99: {NUMBER} ms\s+target < 20 ms\s+(MET|MISSED)$", out, re.M)
    assert re.search(rf"^io-bound invocations/s: {NUMBER}\s+target >= 300\s+.*(MET|MISSED)$",
                     out, re.M), out
    assert re.search(rf"^ratio serve/run {NUMBER}\s+\(no target; ", out, re.M), out
