"""benchmarks/ppo_learning.py runs end to end with a tiny budget (it never checks that learning happened:
that takes the full benchmark, minutes, which the suite does not run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_writes_the_table_the_curve_and_the_results(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ppo_learning.py"), "--quick", "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "| ppo |" in proc.stdout and "| random |" in proc.stdout and "Throughput" in proc.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["alive_fraction"]) == {"ppo", "random"}
    assert all(0.0 <= f <= 1.0 for curve in results["alive_fraction"].values() for run in curve for f in run)
    assert (tmp_path / "learning_curve.png").stat().st_size > 10_000
