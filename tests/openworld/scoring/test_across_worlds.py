"""Tests of openworld.scoring.across_worlds: each agent against the baseline over the worlds that share a variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openworld.scoring import stats
from openworld.scoring.across_worlds import (
    across_world_gap_markdown,
    across_world_gap_rows,
    across_world_markdown,
    across_world_rows,
    plot_across_worlds,
)
from openworld.scoring.runs import Group


def runs(alive: dict[int, float]) -> list[dict[str, Any]]:
    return [{"seed": seed, "survival": {"alive_fraction": value}} for seed, value in alive.items()]


def test_the_pooled_iqm_and_p_better_are_rliables_over_the_seeds_every_world_has() -> None:
    groups = [
        Group("A-v0", "train_short", "ppo", runs({0: 0.50, 1: 0.60, 2: 0.55})),
        Group("B-v0", "train_short", "ppo", runs({0: 0.90, 1: 0.80})),  # seed 2 not yet lived here
        Group("A-v0", "train_short", "spirl", runs({0: 0.70, 1: 0.40})),
        Group("B-v0", "train_short", "spirl", runs({0: 0.95, 1: 0.85})),
        Group("A-v0", "heldout_short", "spirl", runs({0: 0.1})),  # no baseline in this variant: no rows
        Group("A-v0", "train_short", "rlpd", runs({0: 0.9})),  # not in every world: no row
    ]
    rows = {row["agent"]: row for row in across_world_rows(groups, "ppo", reps=200)}
    assert set(rows) == {"ppo", "spirl"} and rows["ppo"]["seeds"] == 2 and rows["ppo"]["p_better"] is None
    ppo = np.array([[0.50, 0.90], [0.60, 0.80]])  # (seeds, worlds); ppo's seed 2 left out: B-v0 lacks it
    spirl = np.array([[0.70, 0.95], [0.40, 0.85]])
    assert rows["ppo"]["iqm"] == pytest.approx(stats.interquartile_mean_ci(ppo, reps=200)[0])
    assert rows["spirl"]["p_better"] == pytest.approx((0.5 + 0.75) / 2)  # A: 2 of 4 pairs; B: 3 of 4
    assert rows["spirl"]["p_ci"] == pytest.approx(list(stats.probability_of_improvement(spirl, ppo, reps=200)[1:]))
    table = "\n".join(across_world_markdown(list(rows.values()), 0.95))
    assert "## Across worlds, against ppo" in table and "| train_short | 2 | spirl | 2 |" in table


def test_one_world_or_no_shared_variant_gives_no_rows() -> None:
    groups = [Group("A-v0", "train", "ppo", runs({0: 0.5})), Group("A-v0", "train", "spirl", runs({0: 0.6})),
              Group("B-v0", None, "ppo", runs({0: 0.5}))]
    assert across_world_rows(groups, "ppo", reps=20) == [] and across_world_markdown([], 0.95) == []


def lifetimes(split: str, alive: dict[int, float]) -> list[dict[str, Any]]:
    return [{**run, "split": split} for run in runs(alive)]


def test_the_generalization_gap_across_worlds_and_against_the_baselines_gap() -> None:
    groups = [
        Group("A-v0", "train_short", "ppo", lifetimes("train", {0: 0.80, 1: 0.70})),
        Group("B-v0", "train_short", "ppo", lifetimes("train", {0: 0.90, 1: 0.60})),
        Group("A-v0", "heldout_short", "ppo", lifetimes("heldout", {0: 0.70, 1: 0.60})),
        Group("B-v0", "heldout_short", "ppo", lifetimes("heldout", {0: 0.80, 1: 0.50, 2: 0.4})),  # A lacks seed 2
        Group("A-v0", "train_short", "spirl", lifetimes("train", {0: 0.95, 1: 0.85})),
        Group("B-v0", "train_short", "spirl", lifetimes("train", {0: 0.95, 1: 0.85})),
        Group("A-v0", "heldout_short", "spirl", lifetimes("heldout", {0: 0.60, 1: 0.50})),
        Group("B-v0", "heldout_short", "spirl", lifetimes("heldout", {0: 0.70, 1: 0.50})),
        Group("A-v0", "train_short", "rlpd", lifetimes("train", {0: 0.9})),  # no held-out lifetimes: no row
        Group("B-v0", "train_short", "rlpd", lifetimes("train", {0: 0.9})),
    ]
    rows = {row["agent"]: row for row in across_world_gap_rows(groups, "ppo", reps=200)}
    assert set(rows) == {"ppo", "spirl"}
    ppo_train, ppo_heldout = np.array([[0.80, 0.90], [0.70, 0.60]]), np.array([[0.70, 0.80], [0.60, 0.50]])
    spirl_train, spirl_heldout = np.array([[0.95, 0.95], [0.85, 0.85]]), np.array([[0.60, 0.70], [0.50, 0.50]])
    ppo, spirl = rows["ppo"], rows["spirl"]
    assert (ppo["train_variant"], ppo["heldout_variant"], ppo["seeds"]) == ("train_short", "heldout_short", [2, 2])
    assert ppo["train"] == pytest.approx(0.75) and ppo["heldout"] == pytest.approx(0.65)  # middle two of four
    assert ppo["gap"] == pytest.approx(0.10) and ppo["gap_vs_baseline"] is None
    assert spirl["gap"] == pytest.approx(0.90 - 0.55)
    assert spirl["gap_ci"] == pytest.approx(list(stats.iqm_difference_ci(spirl_train, spirl_heldout, reps=200)[1:]))
    # spirl's lead over ppo: 0.15 in the training variants, -0.10 in the held-out ones: it loses 0.25 of it
    assert spirl["gap_vs_baseline"] == pytest.approx(0.25)
    low, high = spirl["gap_vs_baseline_ci"]
    assert low <= 0.25 <= high and (low, high) == pytest.approx(list(stats.difference_of_iqm_differences_ci(
        spirl_train, spirl_heldout, ppo_train, ppo_heldout, reps=200)[1:]))
    table = "\n".join(across_world_gap_markdown(list(rows.values()), 0.95))
    assert "## Across worlds, the generalization gap" in table
    assert "| train_short | heldout_short | 2 | spirl | 2, 2 | 0.900 | 0.550 | +0.350 [" in table


def test_no_gap_rows_without_both_splits_in_two_worlds_or_without_the_baseline() -> None:
    one_world = [Group("A-v0", "train", "ppo", lifetimes("train", {0: 0.5})),
                 Group("A-v0", "heldout", "ppo", lifetimes("heldout", {0: 0.4}))]
    no_baseline = [Group(w, v, "spirl", lifetimes(s, {0: 0.5})) for w in ("A-v0", "B-v0")
                   for v, s in (("train", "train"), ("heldout", "heldout"))]
    assert across_world_gap_rows(one_world, "ppo", reps=20) == []
    assert across_world_gap_rows(no_baseline, "ppo", reps=20) == []
    assert across_world_gap_markdown([], 0.95) == []


def test_the_report_writes_the_gap_table_and_the_across_worlds_plot(tmp_path: Path) -> None:
    from openworld.scoring.report import write_report

    alive = {("ppo", "train"): (0.80, 0.70, 0.75), ("ppo", "heldout"): (0.70, 0.65, 0.60),
             ("spirl", "train"): (0.90, 0.85, 0.95), ("spirl", "heldout"): (0.70, 0.60, 0.65)}
    groups = []
    for world in ("A-v0", "B-v0"):
        for (agent, split), values in alive.items():
            variant = f"{split}_short"
            groups.append(Group(world, variant, agent, lifetimes(split, dict(enumerate(values)))))
            for seed, value in enumerate(values):
                directory = tmp_path / "runs" / world / variant / agent / f"seed{seed}"
                directory.mkdir(parents=True)
                summary = {"world": world, "variant": variant, "split": split, "agent": agent, "seed": seed,
                           "steps": 100, "shifts": [], "mean_wellbeing": value / 2,
                           "survival": {"alive_fraction": value, "deaths_per_10k": 0.0, "mean_lifetime": 100.0}}
                (directory / "summary.json").write_text(json.dumps(summary))
    written = write_report([tmp_path / "runs"], tmp_path / "report", reps=50, plots=False, baseline="ppo")
    document = json.loads((tmp_path / "report" / "report.json").read_text())
    assert {row["agent"]: round(row["gap"], 6) for row in document["across_worlds_gap"]} == {"ppo": 0.1, "spirl": 0.25}
    assert "## Across worlds, the generalization gap" in (tmp_path / "report" / "report.md").read_text()
    assert not any(path.suffix == ".png" for path in written)

    png = plot_across_worlds(across_world_rows(groups, "ppo", reps=50), across_world_gap_rows(groups, "ppo", reps=50),
                             tmp_path / "across_worlds.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_across_worlds([], [], tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()
