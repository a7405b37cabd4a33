"""Each agent against the baseline across worlds: ``openworld report --baseline <agent>`` over several worlds.

One world's runs answer for that world; the question of an experiment over several (does prior experience keep
agents alive when the world shifts?) is asked of all of them at once. This is rliable's aggregate over tasks
(Agarwal et al., NeurIPS 2021), each world a task. The score is the alive fraction, a fraction of world time in
every world, so worlds are pooled without normalising. For each variant name that two or more worlds share (the
pipeline's ``train_short`` and ``heldout_short``) and each agent with runs in all of those worlds, as the baseline:

* the IQM of the alive fraction over all runs of all the worlds, with a stratified-bootstrap interval (runs
  resampled within each world: :func:`~openworld.scoring.stats.interquartile_mean_ci`);
* ``P(agent > baseline)``, the probability that a run of the agent outlives a run of the baseline in the same
  world, averaged over the worlds, with an independent stratified-bootstrap interval
  (:func:`~openworld.scoring.stats.probability_of_improvement`).

The stratified bootstrap takes as many runs in every world, so each agent counts the seeds it has in every world
(the row names how many); a sweep interrupted part-way reports its whole seeds.

**The generalization gap across worlds** (:func:`across_world_gap_rows`): for each pair of a training variant and a
held-out variant (by the runs' ``split``) that two or more worlds share, and each agent with runs in both in all of
those worlds, the training variant's alive-fraction IQM minus the held-out variant's, with an interval that
resamples each side's runs within each world (:func:`~openworld.scoring.stats.iqm_difference_ci`); and that gap
minus the baseline's (:func:`~openworld.scoring.stats.difference_of_iqm_differences_ci`): how much of its lead over
the baseline in the training variants an agent loses on the held-out ones (positive: it generalizes worse than the
baseline). Per world, the report's "Generalization" section compares the same lifetimes.

Example:
    >>> from openworld.scoring.runs import Group
    >>> def runs(*alive):
    ...     return [{"seed": i, "survival": {"alive_fraction": a}} for i, a in enumerate(alive)]
    >>> groups = [Group(w, "train", agent, runs(*alive)) for w, agent, alive in [
    ...     ("A-v0", "base", (0.5, 0.6)), ("A-v0", "new", (0.7, 0.8)), ("B-v0", "base", (0.9, 0.9)),
    ...     ("B-v0", "new", (0.8, 0.8))]]
    >>> [(r["agent"], r["seeds"], r["p_better"]) for r in across_world_rows(groups, "base", reps=50)]
    [('base', 2, None), ('new', 2, 0.5)]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openworld.scoring import stats
from openworld.scoring.runs import Group
from openworld.scoring.scores import ALIVE_FRACTION


def across_world_rows(groups: Sequence[Group], baseline: str, reps: int = stats.DEFAULT_REPS,
                      confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0) -> list[dict[str, Any]]:
    """One row per (shared variant, agent with runs in each of its worlds), the baseline's included:
    ``variant``, ``agent``, ``worlds``, ``seeds`` (seeds in every world, counted), ``iqm`` with ``ci``, and
    ``p_better`` with ``p_ci`` (None for the baseline itself)."""
    found: dict[str, dict[str, dict[str, Group]]] = {}  # variant -> agent -> world -> group
    for group in groups:
        if group.variant is not None:
            found.setdefault(group.variant, {}).setdefault(group.agent, {})[group.world] = group
    rows = []
    for variant, agents in sorted(found.items()):
        worlds = sorted({world for by_world in agents.values() for world in by_world})
        if len(worlds) < 2 or sorted(agents.get(baseline, {})) != worlds:
            continue
        base = _alive_matrix(agents[baseline], worlds)
        if base is None:
            continue
        for agent, by_world in sorted(agents.items()):
            matrix = _alive_matrix(by_world, worlds) if sorted(by_world) == worlds else None
            if matrix is None:
                continue
            iqm = stats.interquartile_mean_ci(matrix, reps=reps, confidence=confidence, seed=seed)
            p_better = None if agent == baseline else \
                stats.probability_of_improvement(matrix, base, reps=reps, confidence=confidence, seed=seed)
            rows.append({"variant": variant, "agent": agent, "baseline": baseline, "worlds": worlds,
                         "seeds": matrix.shape[0], "iqm": iqm[0], "ci": list(iqm[1:]),
                         "p_better": None if p_better is None else p_better[0],
                         "p_ci": None if p_better is None else list(p_better[1:])})
    return rows


def across_world_gap_rows(groups: Sequence[Group], baseline: str, reps: int = stats.DEFAULT_REPS,
                          confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0) -> list[dict[str, Any]]:
    """One row per (training variant, held-out variant, agent) over the worlds that have both variants, where the
    agent and the baseline have runs in both in all of them: ``train_variant``, ``heldout_variant``, ``agent``,
    ``worlds``, ``seeds`` (per side: the seeds it has in every world), ``train`` and ``heldout`` (IQM),
    ``gap`` with ``gap_ci``, and ``gap_vs_baseline`` with its ``..._ci`` (None for the baseline itself)."""
    splits: dict[str, set[str]] = {}  # variant -> the splits its runs name ("train", "heldout")
    found: dict[str, dict[str, dict[str, Group]]] = {}  # variant -> agent -> world -> group
    for group in groups:
        if group.variant is not None:
            splits.setdefault(group.variant, set()).update(str(run.get("split")) for run in group.runs)
            found.setdefault(group.variant, {}).setdefault(group.agent, {})[group.world] = group
    training = sorted(v for v, names in splits.items() if names == {"train"})
    heldout = sorted(v for v, names in splits.items() if names == {"heldout"})
    rows = []
    for train_variant in training:
        for heldout_variant in heldout:
            sides = (found[train_variant], found[heldout_variant])
            worlds = sorted(set.intersection(*({w for by_world in side.values() for w in by_world} for side in sides)))
            if len(worlds) < 2:
                continue
            matrices = {agent: pair for agent in sorted(set(sides[0]) & set(sides[1]))
                        if (pair := _both_sides(sides[0][agent], sides[1][agent], worlds)) is not None}
            if baseline not in matrices:
                continue
            base_train, base_heldout = matrices[baseline]
            for agent, (train, held) in matrices.items():
                gap = stats.iqm_difference_ci(train, held, reps=reps, confidence=confidence, seed=seed)
                versus = None if agent == baseline else stats.difference_of_iqm_differences_ci(
                    train, held, base_train, base_heldout, reps=reps, confidence=confidence, seed=seed)
                rows.append({"train_variant": train_variant, "heldout_variant": heldout_variant, "agent": agent,
                             "baseline": baseline, "worlds": worlds, "seeds": [train.shape[0], held.shape[0]],
                             "train": stats.interquartile_mean(train),
                             "heldout": stats.interquartile_mean(held),
                             "gap": gap[0], "gap_ci": list(gap[1:]),
                             "gap_vs_baseline": None if versus is None else versus[0],
                             "gap_vs_baseline_ci": None if versus is None else list(versus[1:])})
    return rows


def _both_sides(train: dict[str, Group], heldout: dict[str, Group],
                worlds: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``(seeds, worlds)`` alive fractions of an agent's training-variant and held-out-variant runs, or None
    unless it has runs of both in every world."""
    if not set(worlds) <= set(train) or not set(worlds) <= set(heldout):
        return None
    matrices = _alive_matrix(train, worlds), _alive_matrix(heldout, worlds)
    return None if matrices[0] is None or matrices[1] is None else (matrices[0], matrices[1])


def _alive_matrix(by_world: dict[str, Group], worlds: Sequence[str]) -> np.ndarray | None:
    """``(seeds, worlds)`` alive fractions of the seeds that every world's group has (None if there is none)."""
    values = [{run["seed"]: ALIVE_FRACTION.of_run(run) for run in by_world[world].runs} for world in worlds]
    seeds = sorted(set.intersection(*({s for s, v in per_world.items() if v is not None} for per_world in values)))
    if not seeds:
        return None
    return np.array([[float(per_world[s]) for per_world in values] for s in seeds])


def across_world_markdown(rows: Sequence[dict[str, Any]], confidence: float) -> list[str]:
    """The report's "Across worlds, against <baseline>" table (nothing without rows)."""
    if not rows:
        return []
    level = round(100 * confidence)
    baseline = rows[0]["baseline"]
    lines = ["", f"## Across worlds, against {baseline}", "",
             f"Each world a task (rliable's aggregate): the alive fraction's IQM over every run of every world "
             f"[{level}% stratified-bootstrap interval], and P(better), the probability that a run of the agent "
             f"outlives a run of {baseline} in the same world, averaged over the worlds [interval]. Seeds: those "
             "the agent has in every world. `openworld.scoring.across_worlds`.", "",
             "| variant | worlds | agent | seeds | alive fraction | P(better) |",
             "| --- | --- | --- | ---: | ---: | ---: |"]
    for row in rows:
        p_better = "—" if row["p_better"] is None else \
            f"{row['p_better']:.2f} [{row['p_ci'][0]:.2f}, {row['p_ci'][1]:.2f}]"
        lines.append(f"| {row['variant']} | {len(row['worlds'])} | {row['agent']} | {row['seeds']} | "
                     f"{row['iqm']:.3f} [{row['ci'][0]:.3f}, {row['ci'][1]:.3f}] | {p_better} |")
    return lines


def across_world_gap_markdown(rows: Sequence[dict[str, Any]], confidence: float) -> list[str]:
    """The report's "Across worlds, the generalization gap" table (nothing without rows)."""
    if not rows:
        return []
    level = round(100 * confidence)
    baseline = rows[0]["baseline"]
    lines = ["", "## Across worlds, the generalization gap", "",
             "Lifetimes in a training variant against lifetimes in a held-out variant, each world a task: the alive "
             f"fraction's IQM over every run of every world on each side; the gap, training minus held-out [{level}% "
             "interval, each side's runs resampled within each world]; and the gap minus "
             f"{baseline}'s: how much of its lead over {baseline} in the training variants an agent loses in the "
             f"held-out ones (positive: it generalizes worse than {baseline}). Seeds: training, held-out. "
             "`openworld.scoring.across_worlds`.", "",
             f"| training | held-out | worlds | agent | seeds | training | held-out | gap | gap minus {baseline}'s |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        versus = "—" if row["gap_vs_baseline"] is None else \
            f"{row['gap_vs_baseline']:+.3f} [{row['gap_vs_baseline_ci'][0]:+.3f}, {row['gap_vs_baseline_ci'][1]:+.3f}]"
        lines.append(f"| {row['train_variant']} | {row['heldout_variant']} | {len(row['worlds'])} | {row['agent']} | "
                     f"{row['seeds'][0]}, {row['seeds'][1]} | {row['train']:.3f} | {row['heldout']:.3f} | "
                     f"{row['gap']:+.3f} [{row['gap_ci'][0]:+.3f}, {row['gap_ci'][1]:+.3f}] | {versus} |")
    return lines


def plot_across_worlds(across: Sequence[dict[str, Any]], gaps: Sequence[dict[str, Any]], path: Path,
                       confidence: float = stats.DEFAULT_CONFIDENCE) -> Path | None:
    """``across_worlds.png``: each agent's alive fraction across worlds in each shared variant (IQM, interval
    whiskers), agents sorted by the first variant's IQM and the baseline's levels drawn as dashed lines; and, when
    there are gap rows, each agent's generalization gap minus the baseline's with its interval. None without rows."""
    if not across:
        return None
    from matplotlib.figure import Figure

    from openworld.scoring.plots import write_png

    variants = sorted({row["variant"] for row in across})
    by_variant = {v: {row["agent"]: row for row in across if row["variant"] == v} for v in variants}
    first = by_variant[variants[0]]
    agents = sorted(first, key=lambda agent: first[agent]["iqm"]) + sorted(
        {row["agent"] for row in across} - set(first))
    baseline = across[0]["baseline"]
    panels = 2 if gaps else 1
    fig = Figure(figsize=(5.2 * panels + 1.5, 0.32 * len(agents) + 1.6), layout="constrained")
    axes = fig.subplots(1, panels, sharey=True, squeeze=False)[0]
    level = round(100 * confidence)
    height = 0.8 / len(variants)
    ax = axes[0]
    for j, variant in enumerate(variants):
        rows = by_variant[variant]
        ys = [i - 0.4 + height * (j + 0.5) for i, agent in enumerate(agents) if agent in rows]
        chosen = [rows[agent] for agent in agents if agent in rows]
        bars = ax.barh(ys, [r["iqm"] for r in chosen], height, label=variant, capsize=2,
                       xerr=[[r["iqm"] - r["ci"][0] for r in chosen], [r["ci"][1] - r["iqm"] for r in chosen]])
        if baseline in rows:
            ax.axvline(rows[baseline]["iqm"], color=bars.patches[0].get_facecolor(), linestyle="--", linewidth=1)
    low = min(r["ci"][0] for r in across)
    ax.set_xlim(max(0.0, low - 0.05), 1.0)
    ax.set_yticks(range(len(agents)), agents)
    ax.set_xlabel(f"alive fraction: IQM over every run of every world, {level}% CI")
    ax.set_title(f"across worlds (dashed: {baseline})")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if gaps:
        ax = axes[1]
        pair = (gaps[0]["train_variant"], gaps[0]["heldout_variant"])
        found = {row["agent"]: row for row in gaps
                 if (row["train_variant"], row["heldout_variant"]) == pair and row["gap_vs_baseline"] is not None}
        ys = [i for i, agent in enumerate(agents) if agent in found]
        chosen = [found[agent] for agent in agents if agent in found]
        ax.errorbar([r["gap_vs_baseline"] for r in chosen], ys, fmt="o", capsize=3, color="black",
                    xerr=[[r["gap_vs_baseline"] - r["gap_vs_baseline_ci"][0] for r in chosen],
                          [r["gap_vs_baseline_ci"][1] - r["gap_vs_baseline"] for r in chosen]])
        ax.axvline(0.0, color="gray", linewidth=1)
        ax.set_xlabel(f"gap ({pair[0]} - {pair[1]}) minus {baseline}'s, {level}% CI")
        ax.set_title(f"> 0: loses more than {baseline} on held-out variants")
        ax.grid(axis="x", alpha=0.3)
    write_png(fig, path)
    return path
