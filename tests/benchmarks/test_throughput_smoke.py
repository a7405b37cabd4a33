"""Smoke test for benchmarks/throughput.py: it runs, and prints only JSON lines with the expected names.

It never asserts on speed: throughput depends on the machine and on whatever else is running.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "benchmarks" / "throughput.py"


def test_throughput_quick_prints_json_lines() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"no output; stderr:\n{proc.stderr}"
    records = [json.loads(line) for line in lines]  # every line must be JSON
    failed = [r for r in records if "error" in r]
    assert not failed, failed
    assert proc.returncode == 0, proc.stderr
    assert all(isinstance(r, dict) and "name" in r for r in records)
    names = [r["name"] for r in records]
    assert names[0] == "machine"
    for r in records:
        if r["name"] == "machine":
            assert {"python", "numpy", "gymnasium", "cpu_count", "processor"} <= r.keys()
    for name in ("openworld/single", "openworld/vector/B=1", "openworld/vector/B=64", "minigrid/single",
                 "minigrid/sync_vector/N=16"):
        assert name in names, name
        (r,) = [r for r in records if r["name"] == name]
        assert {"steps_per_s", "batch", "steps", "seconds"} <= r.keys()
        assert r["steps"] > 0 and r["seconds"] > 0
    ratios = [r for r in records if r["name"].startswith("ratio/")]
    assert "ratio/openworld_single_vs_minigrid_single" in names
    assert any(n.startswith("ratio/openworld_vector_B") for n in names)
    assert all("value" in r for r in ratios)
    targets = [r for r in records if r["name"].startswith("target/")]
    assert len(targets) == 2 and all({"value", "min", "aim", "met"} <= r.keys() for r in targets)
