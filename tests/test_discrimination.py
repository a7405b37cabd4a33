"""The scores discriminate: benchmarks/discrimination.py's two checks, with a smaller budget.

Same code as the benchmark, five seeds per agent as it requires, but two worlds per run, W = 500 and
runs only as long as each check needs: the forager and random live 1,500 steps (alive fraction), the
fixed forager 4,500 steps (its drop at the blight, t = 4,000, needs the 500 steps after it). The
benchmark's own figures come from ``python benchmarks/discrimination.py`` (see its docstring).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_forager_outlives_random_and_the_fixed_policy_drops_at_the_blight(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # importable by name in the worker processes too
    discrimination = importlib.import_module("discrimination")
    steps = {"random": 1500, "forager": 1500, "fixed-forager": 4500}
    summaries = discrimination.live_all(tmp_path, seeds=5, steps=steps, envs=2, window=500,
                                        jobs=min(2, os.cpu_count() or 1))
    assert [(s["agent"], s["seed"]) for s in summaries] == [
        (agent, seed) for agent in discrimination.AGENTS for seed in range(5)]
    table, checks = discrimination.discrimination(summaries, steps, reps=500)
    print(table)
    assert all(checks.values()), table
    assert "| fixed-forager | 4,500 |" in table and "| forager | 1,500 |" in table
