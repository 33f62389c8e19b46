"""The soak benchmark runs (for a few seconds) and passes: the mixed load is answered without errors and the
server's memory and descriptors stay within the bounds. Keeps ``benchmarks/soak.py`` from rotting."""

from __future__ import annotations

import subprocess
import sys

from tests.faults.support import ROOT


def test_soak_runs_briefly_with_no_errors_and_no_growth():
    out = subprocess.run(
        [sys.executable, "benchmarks/soak.py", "--seconds", "3", "--interval", "1", "--warmup", "1", "--clients", "4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "errors: 0" in out.stdout and out.stdout.rstrip().endswith("soak: ok"), out.stdout
    assert "server RSS:" in out.stdout and "server FDs:" in out.stdout
