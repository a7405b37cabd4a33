"""Smoke test for benchmarks/pretrain.py: it runs and prints a row for every kind of prior in the catalogue.

It never asserts on speed: rates depend on the machine and on whatever else is running.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_pretrain_benchmark_quick_prints_every_kind() -> None:
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "pretrain.py"), "--quick"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[2:] if line.strip()}
    assert {"bc-v0", "skill-vae-v0", "diayn-v0", "metra-v0"} <= set(rows), proc.stdout
    assert "min" in rows["bc-v0"] and "10 min" in rows["bc-v0"]
