"""Smoke test for benchmarks/agent_throughput.py: ``--quick`` runs ppo and random in their own processes, prints
the table and writes the JSON; ``--wallclock --quick`` gives each seed a time or 'never'.

It never asserts on speed: throughput depends on the machine and on whatever else runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from openworld.registry import agent_entry
from tests.benchmarks.conftest import RunBenchmark


def test_quick_table_and_json(tmp_path: Path, run_benchmark: RunBenchmark) -> None:
    out = tmp_path / "throughput.json"
    proc = run_benchmark("agent_throughput.py", "--quick", "--out", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "| agent | num_envs | agent-steps/s | per CPU second | ratio to ppo |" in proc.stdout
    records = {r["agent"]: r for r in json.loads(out.read_text())["agents"]}
    assert set(records) == {"ppo-v0", "random-v0"}
    for r in records.values():
        assert r["agent_steps_per_s"] > 0 and r["agent_steps_per_cpu_s"] > 0 and r["steps"] > 0
        assert r["peak_rss_mib"] > 0 and r["state_mib"] > 0 or r["agent"] == "random-v0"
        assert r["affinity"] is None or len(r["affinity"]) == 1  # pinned to one core
    assert records["ppo-v0"]["ratio_to_ppo"] == 1.0
    assert records["ppo-v0"]["num_envs"] == agent_entry("ppo").num_envs  # the registry's default
    assert records["random-v0"]["quarter_of_ppo"] is True
    # PPO was timed after updates had happened (the warm-up covers two rollouts)
    assert records["ppo-v0"]["updates"] >= 2


def test_an_agent_that_needs_a_model_is_skipped_with_a_reason(tmp_path: Path, run_benchmark: RunBenchmark) -> None:
    out = tmp_path / "sb3.json"
    proc = run_benchmark("agent_throughput.py", "--quick", "--agents", "sb3", "--out", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr
    records = {r["agent"]: r for r in json.loads(out.read_text())["agents"]}
    assert "path" in records["sb3-v0"]["skipped"]
    assert "skipped: needs path" in proc.stdout


def test_wallclock_quick_compares_with_a_baseline(tmp_path: Path, run_benchmark: RunBenchmark) -> None:
    out = tmp_path / "wallclock.json"
    proc = run_benchmark("agent_throughput.py", "--wallclock", "--quick", "--seeds", "0", "--baseline-config",
                         '{"num_envs": 2, "rollout_steps": 8, "num_minibatches": 2}', "--out", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["wallclock"]["rows"]
    assert [(r["agent"], r["label"]) for r in rows] == [("ppo", "defaults"), ("ppo", "baseline")]
    for row in rows:
        (seed_run,) = row["runs"]
        assert seed_run["steps"] > 0
        assert seed_run["reached"] == (seed_run["seconds"] is not None)
    assert rows[1]["runs"][0]["num_envs"] == 2
    assert "| ppo | baseline:" in proc.stdout
