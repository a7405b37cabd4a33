"""Tests of openworld.scoring.across_worlds: each agent against the baseline over the worlds that share a variant."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from openworld.scoring import stats
from openworld.scoring.across_worlds import across_world_markdown, across_world_rows
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
