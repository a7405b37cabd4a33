"""Trends over a lifetime (openworld.scoring.trends): shift scores against the shift's index, learner diagnostics
early and late, and their place in openworld report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openworld.scoring.learner_log import append_learner_metrics
from openworld.scoring.report import write_report
from openworld.scoring.runs import Group, agent_label, load_groups
from openworld.scoring.scores import ADAPTATION_TIME, DROP
from openworld.scoring.trends import (
    MIN_SHIFTS,
    diagnostic_rows,
    indexed_shifts,
    run_trend,
    shift_trend_rows,
)


def shift(t: int, drop: float | None, adaptation: int | None = 0, censored: bool = False,
          observed: bool = True) -> dict[str, Any]:
    return {"t": t, "kind": "cyclic", "name": "season", "observed": observed, "observed_steps": 1000, "drop": drop,
            "deficit": None if drop is None else drop / 2, "adaptation_time": adaptation,
            "adaptation_censored": censored, "alive_deficit": 0.0}


def summary(agent: str, seed: int, drops: list[float], plasticity: list[str] | None = None) -> dict[str, Any]:
    """A run whose k-th shift (onset 1000 k) has drop ``drops[k - 1]``, plus the initial regime at its first step."""
    run: dict[str, Any] = {"world": "Toy-v0", "agent": agent, "seed": seed, "steps": 1000 * (len(drops) + 1),
                           "start": 1, "survival": {"alive_fraction": 0.9, "deaths_per_10k": 1.0,
                                                    "mean_lifetime": 100.0},
                           "forgetting": None, "shifts": [shift(1, 0.0)] + [shift(1000 * (k + 1), d)
                                                                             for k, d in enumerate(drops)]}
    if plasticity:
        run["plasticity"] = plasticity
    return run


def test_shifts_are_numbered_after_the_initial_regime_and_unscored_ones_keep_their_number() -> None:
    run = summary("a", 0, [0.1, 0.2, 0.3])
    run["shifts"][2] = shift(2000, None, observed=False)  # the 2nd shift, unobserved: no value, still counted
    assert indexed_shifts(run, DROP) == [(1, 0.1), (3, 0.3)]


def test_a_censored_time_counts_at_its_observed_steps() -> None:
    run = summary("a", 0, [0.1, 0.2])
    run["shifts"][1] = shift(1000, 0.1, adaptation=None, censored=True)
    run["shifts"][2] = shift(2000, 0.2, adaptation=None)  # no plateau: undefined, left out
    assert indexed_shifts(run, ADAPTATION_TIME) == [(1, 1000.0)]


def test_slope_and_late_minus_early_by_hand() -> None:
    # values 1, 2, 4, 4, 6, 7 at indices 1..6: least squares slope = sum((i - 3.5)(v - 4)) / sum((i - 3.5)^2)
    # = (7.5 + 3 + 0 + 0 + 3 + 7.5) / 17.5 = 1.2; thirds of two: (6 + 7) / 2 - (1 + 2) / 2 = 5.
    slope, late_minus_early = run_trend(list(enumerate([1.0, 2.0, 4.0, 4.0, 6.0, 7.0], start=1)))  # type: ignore[misc]
    assert slope == pytest.approx(1.2) and late_minus_early == pytest.approx(5.0)
    assert run_trend([(i, 1.0) for i in range(1, MIN_SHIFTS)]) is None


def test_trend_rows_aggregate_the_runs_and_skip_groups_without_a_trend() -> None:
    rising = Group("Toy-v0", None, "ppo", [summary("ppo", seed, [0.01 * k for k in range(1, 9)]) for seed in range(3)])
    short = Group("Toy-v0", None, "short", [summary("short", 0, [0.1, 0.2])])
    rows = shift_trend_rows([rising, short], reps=100)
    assert {row["agent"] for row in rows} == {"ppo"}
    drop = {row["measure"]: row for row in rows if row["metric"] == "drop"}
    assert drop["slope"]["iqm"] == pytest.approx(0.01) and drop["slope"]["n"] == 3
    assert drop["late_minus_early"]["iqm"] == pytest.approx(0.075 - 0.015)  # thirds of 8 // 3 = 2 shifts: 7,8 and 1,2
    assert drop["slope"]["shifts"] == 8


def test_diagnostics_early_and_late_from_the_learner_logs(tmp_path: Path) -> None:
    directories = []
    for seed in range(2):
        run_dir = tmp_path / f"seed{seed}"
        run_dir.mkdir()
        for step, dormant in zip(range(100, 900, 100), [0.0, 0.0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3 + seed], strict=True):
            append_learner_metrics(run_dir, step, {"plasticity/dormant_fraction": dormant, "losses/other": 1.0})
        directories.append(run_dir)
    group = Group("Toy-v0", None, "ppo", [summary("ppo", seed, [0.1]) for seed in range(2)], directories)
    rows = {row["measure"]: row for row in diagnostic_rows([group], reps=100)}
    assert set(rows) == {"early", "late", "change"}  # only the metrics logged; "losses/other" is not a diagnostic
    assert rows["early"]["iqm"] == pytest.approx(0.0)
    assert rows["late"]["iqm"] == pytest.approx((0.3 + 0.8) / 2)  # late quarter means 0.3 and 0.8
    assert rows["change"]["n"] == 2


def test_plasticity_options_make_groups_of_their_own(tmp_path: Path) -> None:
    runs = [summary("ppo-v0", 0, [0.1]), summary("ppo-v0", 0, [0.1], ["layer_norm", "weight_decay"])]
    assert [agent_label(run) for run in runs] == ["ppo-v0", "ppo-v0+layer_norm+weight_decay"]
    for i, run in enumerate(runs):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "summary.json").write_text(json.dumps(run))
    groups = load_groups([tmp_path / "0", tmp_path / "1"])  # the same seed twice is no clash across arms
    assert [g.agent for g in groups] == ["ppo-v0", "ppo-v0+layer_norm+weight_decay"]


def test_the_report_has_the_trend_and_diagnostic_sections_and_plots(tmp_path: Path) -> None:
    for seed in range(3):
        run_dir = tmp_path / "runs" / f"seed{seed}"
        run_dir.mkdir(parents=True)
        (run_dir / "summary.json").write_text(json.dumps(summary("ppo-v0", seed, [0.01 * k for k in range(1, 7)])))
        for step in range(100, 700, 100):
            append_learner_metrics(run_dir, step, {"plasticity/stable_rank": 100.0 - step / 10})
    written = write_report([tmp_path / "runs"], tmp_path / "report", reps=100)
    names = {path.name for path in written}
    assert {"shift_trends.png", "diagnostics.png"} <= names
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Shifts by index: does recovery slow over the lifetime?" in text
    assert "| Toy-v0 | ppo-v0 | 3 | 6 | +0.0100 [+0.0100, +0.0100] |" in text
    assert ("| Toy-v0 | ppo-v0 | stable rank | 3 | 90.000 [90.000, 90.000] | 40.000 [40.000, 40.000] | "
            "-50.000 [-50.000, -50.000] |") in text
    document = json.loads((tmp_path / "report" / "report.json").read_text())
    assert document["shift_trends"] and document["diagnostics"]


def test_a_report_without_trends_or_logs_has_neither_section(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "summary.json").write_text(json.dumps(summary("forager", 0, [0.1, 0.2])))
    written = write_report([run_dir], tmp_path / "report", reps=100)
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Shifts by index" not in text and "Learner diagnostics" not in text
    assert not {"shift_trends.png", "diagnostics.png"} & {path.name for path in written}
