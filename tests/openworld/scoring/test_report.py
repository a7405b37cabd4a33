"""Tests of openworld.scoring.report and ``openworld report``: grouping, IQM tables with hand-checkable
values, the censoring convention, every output file, and the command on a tiny real run."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import openworld  # noqa: F401  (registers the worlds)
from openworld.agent.lifetime import live
from openworld.agent.protocol import make_agent
from openworld.scoring.monitor import Monitor, summarize
from openworld.scoring.report import write_report
from openworld.world.shifts import ShiftSchedule

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_summary(agent: str, seed: int, alive: float, drop: float, recovery: int | None,
                 variant: str | None = None) -> dict[str, Any]:
    """A summary as monitor.summarize writes it: three shifts (the blight; a winter ramping over [2000, 2500);
    a flood 1 + seed steps before the end, unobserved with W = 500), short curves, survival in two regimes."""
    summary: dict[str, Any] = {
        "steps": 3000, "world": "Toy-v0", "agent": agent, "seed": seed, "start": 1,
        "survival": {"alive_fraction": alive, "deaths_per_10k": 10.0 * seed, "mean_lifetime": 100.0},
        "survival_by_regime": {"base": {"steps": 2000, "alive_fraction": 1.0},
                               "winter": {"steps": 1000, "alive_fraction": alive - 0.1 * seed}},
        "shifts": [
            {"t": 1000, "kind": "abrupt", "name": "blight", "baseline": 0.5, "drop": drop,
             "recovery_time": recovery, "censored": recovery is None, "regret": 2.0 * seed, "observed_steps": 1000,
             "observed": True, "alive_baseline": 1.0, "alive_drop": 0.1 * seed, "alive_recovery_time": 10 * seed,
             "alive_censored": False},
            {"t": 2000, "kind": "gradual", "name": "winter", "baseline": 0.5, "drop": 0.0, "recovery_time": 0,
             "censored": False, "regret": 0.0, "observed_steps": 999, "observed": True, "alive_baseline": 1.0,
             "alive_drop": 0.0, "alive_recovery_time": None, "alive_censored": True, "ramp_end": 2500},
            {"t": 3000, "kind": "abrupt", "name": "flood", "baseline": 0.5, "drop": None, "recovery_time": None,
             "censored": True, "regret": None, "observed_steps": 1 + seed, "observed": False, "alive_baseline": 1.0,
             "alive_drop": None, "alive_recovery_time": None, "alive_censored": True},
        ],
        "forgetting": None, "mean_wellbeing": alive / 2, "window": 500, "tolerance": 0.05,
        "wellbeing_curve": {"bin": 500, "t": [0, 500, 1000, 1500, 2000, 2500],
                            "wellbeing": [0.5, 0.5, alive / 4, 0.4, 0.5, 0.5]},
        "alive_curve": {"bin": 500, "t": [0, 500, 1000, 1500, 2000, 2500],
                        "alive_fraction": [1.0, 1.0, alive, alive, 1.0, 1.0]},
    }
    if variant is not None:
        summary["variant"] = variant
    return summary


def write_runs(root: Path, summaries: list[dict[str, Any]]) -> None:
    for summary in summaries:
        run = root / f"{summary.get('variant', summary['world'])}-{summary['agent']}-{summary['seed']}"
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps(summary))


def two_agents_three_seeds(root: Path) -> None:
    write_runs(root, [
        fake_summary("forager", 0, 0.9, 0.1, 100),
        fake_summary("forager", 1, 0.8, 0.2, 300),
        fake_summary("forager", 2, 1.0, 0.3, 200),
        fake_summary("random", 0, 0.5, 0.0, 0),
        fake_summary("random", 1, 0.6, 0.1, None),  # censored: counted at its 1000 observed steps
        fake_summary("random", 2, 0.7, 0.2, 500),
    ])


def test_report_writes_tables_and_plots_with_iqm_and_ci(tmp_path: Path) -> None:
    two_agents_three_seeds(tmp_path / "runs")
    written = write_report([tmp_path / "runs"], tmp_path / "out", reps=50)
    assert sorted(p.name for p in written) == ["alive.png", "report.csv", "report.json", "report.md", "shifts.png",
                                               "survival.png", "wellbeing.png"]
    for png in ("alive.png", "shifts.png", "survival.png", "wellbeing.png"):
        assert (tmp_path / "out" / png).read_bytes()[:8] == PNG_MAGIC
    rows = list(csv.DictReader((tmp_path / "out" / "report.csv").open()))
    by_key = {(r["agent"], r["metric"], r["shift_t"]): r for r in rows if not r["regime"]}
    # With three seeds the interquartile mean trims nothing (int(0.25 * 3) = 0): it is the mean.
    assert float(by_key["forager", "alive_fraction", ""]["iqm"]) == pytest.approx(0.9)
    assert float(by_key["random", "alive_fraction", ""]["iqm"]) == pytest.approx(0.6)
    assert float(by_key["forager", "drop", "1000"]["iqm"]) == pytest.approx(0.2)
    recovery = by_key["random", "recovery_time", "1000"]
    assert float(recovery["iqm"]) == pytest.approx(500.0)  # (0 + 1000 + 500) / 3
    assert recovery["censored"] == "1" and recovery["n"] == "3"
    # The alive fraction's scores: drops 0, 0.1, 0.2 -> 0.1; recovery 0, 10, 20 -> 10 (none censored).
    assert float(by_key["forager", "alive_drop", "1000"]["iqm"]) == pytest.approx(0.1)
    assert float(by_key["forager", "alive_recovery_time", "1000"]["iqm"]) == pytest.approx(10.0)
    assert by_key["forager", "alive_recovery_time", "1000"]["censored"] == "0"
    # The winter's alive recovery is censored in every run: counted at its 999 observed steps.
    winter = by_key["forager", "alive_recovery_time", "2000"]
    assert (float(winter["iqm"]), winter["censored"], winter["unobserved"]) == (999.0, "3", "0")
    # The flood came 1-3 steps before the end: unobserved in every run, no number in any of its scores.
    for metric in ("drop", "recovery_time", "regret", "alive_drop", "alive_recovery_time"):
        flood = by_key["forager", metric, "3000"]
        assert (flood["n"], flood["iqm"], flood["ci_low"], flood["unobserved"], flood["observed_steps"]) == (
            "0", "", "", "3", "1")
    # Survival by regime: winter alive fractions 0.9, 0.8 - 0.1, 1.0 - 0.2 -> mean 0.8.
    regime = {(r["agent"], r["regime"]): r for r in rows if r["regime"]}
    assert float(regime["forager", "winter"]["iqm"]) == pytest.approx(0.8)
    assert float(regime["random", "base"]["iqm"]) == pytest.approx(1.0)
    for row in rows:
        if row["iqm"]:
            assert float(row["ci_low"]) <= float(row["iqm"]) <= float(row["ci_high"])
    assert ("forager", "forgetting", "") not in by_key  # no run had a recurring regime
    assert ("forager", "drop", "1") not in by_key

    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| Toy-v0 | forager | 3 | 0.900 [" in markdown
    assert "| Toy-v0 | blight | 1000 | abrupt | random | 0.100 [" in markdown
    assert "≥ 500 [" in markdown and "(1 censored)" in markdown
    assert "## Survival by regime" in markdown and "| Toy-v0 | winter | forager | 3 | 0.800 [" in markdown
    flood = next(line for line in markdown.splitlines() if "| flood |" in line and "| forager |" in line)
    assert flood.count("unobserved") == 5 and "| 0/3 (fewest steps after the shift: 1) |" in flood
    assert "![alive fraction over world time](alive.png)" in markdown
    document = json.loads((tmp_path / "out" / "report.json").read_text())
    assert document["config"]["reps"] == 50
    assert [g["seeds"] for g in document["groups"]] == [[0, 1, 2], [0, 1, 2]]
    assert len(document["rows"]) == len(rows)


def test_runs_group_by_variant_when_the_summary_names_one(tmp_path: Path) -> None:
    write_runs(tmp_path, [fake_summary("forager", seed, 0.9, 0.1, 10, variant=variant)
                          for variant in ("toy-dry", "toy-wet") for seed in range(2)])
    write_report([tmp_path], tmp_path / "out", reps=50, plots=False)
    groups = json.loads((tmp_path / "out" / "report.json").read_text())["groups"]
    assert [(g["variant"], g["seeds"]) for g in groups] == [("toy-dry", [0, 1]), ("toy-wet", [0, 1])]
    assert "| toy-wet | forager | 2 |" in (tmp_path / "out" / "report.md").read_text()


def test_report_refuses_a_seed_counted_twice_and_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no summary.json"):
        write_report([tmp_path / "empty"], tmp_path / "out")
    write_runs(tmp_path / "a", [fake_summary("forager", 0, 0.9, 0.1, 10)])
    write_runs(tmp_path / "b", [fake_summary("forager", 0, 0.8, 0.1, 10)])
    with pytest.raises(ValueError, match="seed 0"):
        write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "out")


def test_openworld_report_command_on_a_tiny_run(tmp_path: Path) -> None:
    envs = gym.make_vec("openworld/Shiftlands-v0", num_envs=2, vectorization_mode="vector_entry_point")
    agent = make_agent("random", envs.single_observation_space, envs.single_action_space, 2, seed=0)
    run = tmp_path / "runs" / "shiftlands-random-0"
    schedule = ShiftSchedule(envs.unwrapped.world_spec)
    with Monitor(run, schedule, 2, metadata={"world": "Shiftlands-v0", "agent": "random", "seed": 0}) as monitor:
        live(envs, agent, 300, seed=0, monitor=monitor)
    (tmp_path / "runs" / "unscored").mkdir()
    Monitor(tmp_path / "runs" / "unscored", schedule, 1).close()
    summary = summarize(run, window=50)
    assert summary["steps"] >= 300
    env = {**os.environ, "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "openworld.tools.cli", "report", str(tmp_path / "runs"),
               "--out", str(tmp_path / "out"), "--reps", "50", "--no-plots"]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert sorted(Path(line).name for line in proc.stdout.split()) == ["report.csv", "report.json", "report.md"]
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| Shiftlands-v0 | random | 1 |" in markdown and "unscored" in markdown
    missing = subprocess.run([sys.executable, "-m", "openworld.tools.cli", "report", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
