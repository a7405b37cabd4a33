"""Smoke test for benchmarks/agent_evidence.py: it builds the experience, runs every agent a few hundred
agent-steps, prints one row each, keeps the lifetimes and reuses them.

It never asserts on alive fractions or speed: a 96-step lifetime says nothing about learning.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.benchmarks.conftest import RunBenchmark


def test_every_agent_gets_a_row_and_kept_lifetimes_are_reused(tmp_path: Path, run_benchmark: RunBenchmark) -> None:
    proc = run_benchmark("agent_evidence.py", "--quick", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("|")[1].strip(): line for line in proc.stdout.splitlines() if line.startswith("| ")}
    expected = {"random", "ppo", "ppo-rnd", "ppo-prior", "spirl", "skills", "skills+fine-tune", "rlpd", "rlpd+data",
                "explore", "offline-online"}
    assert expected <= set(rows), proc.stdout
    assert "prior=bc" in rows["ppo-prior"] and "dataset=forager-no-reward" in rows["explore"]
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["agents"]) == expected and results["agents"]["random"]["beats_random"] is False
    again = run_benchmark("agent_evidence.py", "--quick", "--out", str(tmp_path), "--agents", "ppo")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count(", kept)") == 4  # random and ppo, 2 seeds each: nothing ran again


def test_an_unknown_agent_is_refused(run_benchmark: RunBenchmark) -> None:
    proc = run_benchmark("agent_evidence.py", "--quick", "--agents", "ppo", "nonsense")
    assert proc.returncode == 2 and "unknown agents ['nonsense']" in proc.stderr
