"""Every agent against a baseline (openworld report --baseline): differences of means and P(better), with the
direction of each score, in the report and on the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openworld.scoring.baseline_report import baseline_rows
from openworld.scoring.runs import Group


def run(seed: int, alive: float, forgetting: float | None) -> dict[str, Any]:
    return {"world": "Toy-v0", "agent": "x", "seed": seed, "steps": 100, "shifts": [],
            "survival": {"alive_fraction": alive, "deaths_per_10k": 0.0, "mean_lifetime": 100.0},
            "mean_wellbeing": alive / 2, "forgetting": forgetting}


def test_differences_and_p_better_by_hand_with_forgetting_lower_is_better() -> None:
    base = Group("Toy-v0", None, "ppo", [run(0, 0.5, 0.2), run(1, 0.7, 0.4)])
    arm = Group("Toy-v0", None, "ppo+cbp", [run(0, 0.6, 0.1), run(1, 0.8, None)])  # seed 1: no regime recurred
    other_world = Group("Other-v0", None, "ppo+cbp", [run(0, 0.9, 0.0)])  # no baseline there: not compared
    rows = {row["metric"]: row for row in baseline_rows([base, arm, other_world], "ppo", reps=200)}
    alive = rows["alive_fraction"]
    assert alive["agent"] == "ppo+cbp" and alive["difference"] == pytest.approx(0.1)
    assert alive["p_better"] == pytest.approx(0.75)  # 0.6 > 0.5, 0.6 < 0.7, 0.8 > both: 3 of 4 pairs
    forgetting = rows["forgetting"]
    assert forgetting["n"] == 1 and forgetting["baseline_n"] == 2
    assert forgetting["difference"] == pytest.approx(0.1 - 0.3)
    assert forgetting["p_better"] == pytest.approx(1.0)  # 0.1 forgets less than 0.2 and 0.4: better
    assert {row["world"] for row in baseline_rows([base, arm, other_world], "ppo", reps=200)} == {"Toy-v0"}


def test_worlds_that_share_a_variant_name_are_compared_each_with_its_own_baseline() -> None:
    # Every pipeline world has a train_short variant: Blight's arm is compared with Blight's ppo, not Drift's.
    groups = [Group(world, "train_short", agent, [run(0, alive, None)])
              for world, agent, alive in [("Blight-v0", "ppo", 0.5), ("Blight-v0", "spirl", 0.6),
                                          ("Drift-v0", "ppo", 0.9), ("Drift-v0", "spirl", 0.7)]]
    rows = [row for row in baseline_rows(groups, "ppo", reps=50) if row["metric"] == "alive_fraction"]
    assert {row["world"]: round(row["difference"], 6) for row in rows} == {"Blight-v0": 0.1, "Drift-v0": -0.2}
    assert [g.label for g in groups[:1]] == ["Blight-v0 (train_short)"]


def test_an_unknown_baseline_names_the_agents() -> None:
    with pytest.raises(ValueError, match="no runs of the baseline 'ppo'; agents: forager, random"):
        baseline_rows([Group("Toy-v0", None, "random", [run(0, 0.5, None)]),
                       Group("Toy-v0", None, "forager", [run(0, 0.9, None)])], "ppo")


def test_the_report_command_takes_a_baseline(tmp_path: Path) -> None:
    from openworld.tools.cli import main

    for agent, alives in (("ppo-v0", (0.5, 0.6, 0.7)), ("random-v0", (0.4, 0.5, 0.45))):
        for seed, alive in enumerate(alives):
            directory = tmp_path / "runs" / agent / str(seed)
            directory.mkdir(parents=True)
            (directory / "summary.json").write_text(json.dumps({**run(seed, alive, None), "agent": agent}))
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "runs"), "--out", str(out), "--no-plots", "--reps", "200",
                 "--baseline", "ppo-v0"]) == 0
    text = (out / "report.md").read_text()
    assert "## Against ppo-v0" in text and "| Toy-v0 | random-v0 | 3 | -0.150 [" in text
    p_better = json.loads((out / "report.json").read_text())["baseline"][0]["p_better"]
    assert p_better == pytest.approx(0.5 / 9)  # of 9 pairs only 0.5 against 0.5, a tie, counts (one half)
    assert main(["report", str(tmp_path / "runs"), "--out", str(out), "--baseline", "sac"]) == 2


def shift(t: int, drop: float, adaptation: int | None, censored: bool = False) -> dict[str, Any]:
    return {"t": t, "name": "blight", "kind": "abrupt", "drop": drop, "deficit": 10 * drop,
            "adaptation_time": adaptation, "adaptation_censored": censored, "observed_steps": 900}


def test_each_shift_is_compared_with_the_baselines_same_shift_and_a_censored_time_counts_its_observed_steps() -> None:
    def runs(*shifts: dict[str, Any]) -> list[dict[str, Any]]:
        return [{**run(seed, 0.8, None), "shifts": [each]} for seed, each in enumerate(shifts)]

    base = Group("Toy-v0", None, "ppo", runs(shift(500, 0.1, 200), shift(500, 0.2, 400)))
    prior = Group("Toy-v0", None, "spirl", runs(shift(500, 0.3, 600), shift(500, 0.3, None, censored=True)))
    rows = {row["metric"]: row for row in baseline_rows([base, prior], "ppo", reps=200) if "shift_t" in row}
    assert set(rows) == {"drop", "deficit", "adaptation_time"}
    assert rows["drop"]["shift_t"] == 500 and rows["drop"]["shift"] == "blight"
    assert rows["drop"]["difference"] == pytest.approx(0.3 - 0.15) and rows["drop"]["p_better"] == 0.0  # hit harder
    # The censored run adapted in no less than its 900 observed steps: (600 + 900) / 2 - (200 + 400) / 2.
    assert rows["adaptation_time"]["difference"] == pytest.approx(450.0)
    assert rows["adaptation_time"]["p_better"] == 0.0  # slower after the shift: negative transfer, counted as worse
    from openworld.scoring.baseline_report import baseline_markdown

    text = "\n".join(baseline_markdown(baseline_rows([base, prior], "ppo", reps=200), 0.95))
    assert "### After each shift, against ppo" in text and "| Toy-v0 | blight @ 500 | spirl | 2 |" in text
