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
from openworld.scoring.runs import Group
from openworld.world.shifts import ShiftSchedule

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _scores(prefix: str = "", *, drop: float | None = None, deficit: float | None = None,
            plateau: float | None = None, adaptation: int | None = None, sustained_return: int | None = None,
            baseline: float = 0.5) -> dict[str, Any]:
    """A shift's scores as the summary keeps them (``prefix`` ``alive_`` for the alive fraction's): a time that is
    None is censored when the shift was observed and, for adaptation, had a plateau; all None: unobserved."""
    observed = drop is not None
    return {f"{prefix}{key}": value for key, value in {
        "baseline": baseline if not prefix else 1.0, "drop": drop, "deficit": deficit,
        "deficit_area": None if deficit is None else deficit * 1000, "plateau": plateau,
        "adaptation_time": adaptation,
        "adaptation_censored": adaptation is None and (plateau is not None or not observed),
        "sustained_return": sustained_return, "return_censored": sustained_return is None}.items()}


def fake_summary(agent: str, seed: int, alive: float, drop: float, recovery: int | None,
                 variant: str | None = None) -> dict[str, Any]:
    """A summary as monitor.summarize writes it: three shifts (the blight, returning after ``recovery`` steps and
    adapting in half that; a winter ramping over [2000, 2500), too short for a plateau; a flood 1 + seed steps
    before the end, unobserved with W = 500), short curves, survival in two regimes."""
    summary: dict[str, Any] = {
        "steps": 3000, "world": "Toy-v0", "agent": agent, "seed": seed, "start": 1,
        "survival": {"alive_fraction": alive, "deaths_per_10k": 10.0 * seed, "mean_lifetime": 100.0},
        "survival_by_regime": {"base": {"steps": 2000, "alive_fraction": 1.0},
                               "winter": {"steps": 1000, "alive_fraction": alive - 0.1 * seed}},
        "shifts": [
            {"t": 1000, "kind": "abrupt", "name": "blight", "observed_steps": 1000, "observed": True,
             **_scores(drop=drop, deficit=drop / 2, plateau=0.4, adaptation=None if recovery is None else recovery // 2,
                       sustained_return=recovery),
             **_scores("alive_", drop=0.1 * seed, deficit=0.05 * seed, plateau=1.0, adaptation=0,
                       sustained_return=10 * seed)},
            {"t": 2000, "kind": "gradual", "name": "winter", "observed_steps": 999, "observed": True, "ramp_end": 2500,
             **_scores(drop=0.0, deficit=0.0, plateau=None, adaptation=None, sustained_return=0),
             **_scores("alive_", drop=0.0, deficit=0.01, plateau=None, adaptation=None, sustained_return=None)},
            {"t": 3000, "kind": "abrupt", "name": "flood", "observed_steps": 1 + seed, "observed": False,
             **_scores(), **_scores("alive_")},
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
    assert float(by_key["forager", "deficit", "1000"]["iqm"]) == pytest.approx(0.1)
    returned = by_key["random", "sustained_return", "1000"]
    assert float(returned["iqm"]) == pytest.approx(500.0)  # (0 + 1000 + 500) / 3
    assert returned["censored"] == "1" and returned["n"] == "3"
    adaptation = by_key["random", "adaptation_time", "1000"]
    assert float(adaptation["iqm"]) == pytest.approx(1250 / 3)  # (0 + 1000 + 250) / 3
    assert adaptation["censored"] == "1"
    assert float(by_key["forager", "adaptation_time", "1000"]["iqm"]) == pytest.approx(100.0)  # 50, 150, 100
    # The alive fraction's scores: drops 0, 0.1, 0.2 -> 0.1; returns 0, 10, 20 -> 10 (none censored).
    assert float(by_key["forager", "alive_drop", "1000"]["iqm"]) == pytest.approx(0.1)
    assert float(by_key["forager", "alive_sustained_return", "1000"]["iqm"]) == pytest.approx(10.0)
    assert by_key["forager", "alive_sustained_return", "1000"]["censored"] == "0"
    # The winter's alive return is censored in every run: counted at its 999 observed steps.
    winter = by_key["forager", "alive_sustained_return", "2000"]
    assert (float(winter["iqm"]), winter["censored"], winter["unobserved"]) == (999.0, "3", "0")
    # Its regime is too short for a plateau: no adaptation time in any run, and no censored one.
    no_plateau = by_key["forager", "adaptation_time", "2000"]
    assert (no_plateau["n"], no_plateau["iqm"], no_plateau["censored"], no_plateau["unobserved"]) == ("0", "", "0", "0")
    # The flood came 1-3 steps before the end: unobserved in every run, no number in any of its scores.
    for metric in ("drop", "deficit", "adaptation_time", "sustained_return", "alive_drop", "alive_sustained_return"):
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
    assert "## Shifts: wellbeing" in markdown and "## Shifts: alive fraction" in markdown
    winter_row = next(line for line in markdown.splitlines() if "| winter | 2000 |" in line and "| forager |" in line)
    assert winter_row.split(" | ")[-3] == "—"  # adaptation time: no plateau
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
    assert "| Toy-v0 (toy-wet) | forager | 2 |" in (tmp_path / "out" / "report.md").read_text()


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
    # As if scored by an older version: no deficit. --rescore scores the recording again, keeping its facts.
    older = {**summary, "shifts": [{k: v for k, v in shift.items() if k != "deficit"} for shift in summary["shifts"]]}
    (run / "summary.json").write_text(json.dumps({**older, "note": "kept"}))
    env = {**os.environ, "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "openworld.tools.cli", "report", str(tmp_path / "runs"),
               "--out", str(tmp_path / "out"), "--reps", "50", "--no-plots", "--rescore"]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run / "summary.json").read_text()) == {**summary, "note": "kept"}
    assert sorted(Path(line).name for line in proc.stdout.split()) == ["report.csv", "report.json", "report.md"]
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| Shiftlands-v0 | random | 1 |" in markdown and "unscored" in markdown
    missing = subprocess.run([sys.executable, "-m", "openworld.tools.cli", "report", str(tmp_path / "nowhere")],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_survival_bars_are_whole_lifetimes_and_thirteen_arms_have_thirteen_colours() -> None:
    from openworld.scoring.plots import agent_colors, whole_lifetime_alive

    rows = [{"world": "Blight-v0", "variant": "train_short", "agent": "ppo", "metric": "alive_fraction",
             "shift_t": None, "regime": regime, "iqm": iqm} for regime, iqm in ((None, 0.82), ("base", 0.85),
                                                                                  ("blight", 0.80))]
    assert whole_lifetime_alive(rows) == {"Blight-v0 (train_short)": {"ppo": rows[0]}}
    groups = [Group("A-v0", None, f"arm{i:02d}") for i in range(13)]
    assert len(set(agent_colors(groups).values())) == 13
    assert len(set(agent_colors(groups[:10]).values())) == 10
