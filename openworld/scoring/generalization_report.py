"""The report's generalization section: training variants against held-out variants, across runs.

Each run evaluated on held-out variants has a ``generalization`` section in its ``summary.json``
(:func:`openworld.scoring.generalization.generalization_section`: units are the variants' world seeds).
Across the runs of one group (world, variant, agent) the units are the **runs** (seeds): the training
and held-out means of each run and its gap are aggregated as an interquartile mean with a stratified-
bootstrap interval (:func:`~openworld.scoring.stats.interquartile_mean_ci`), and ``P(train > held-out)``
is the probability that a run's training mean exceeds a run's held-out mean
(:func:`~openworld.scoring.stats.probability_of_improvement`). A group of one run shows that run's own
interval and probability (units: world seeds), marked so.

**Continual mode**: runs that each lived a whole lifetime in one variant (``summary.json`` ``split``, e.g.
a multirun over ``world.variant``) are compared per world and agent: the training-variant runs against
the held-out-variant runs, each run one unit (:func:`continual_rows`): the means of each side, the gap
(:func:`~openworld.scoring.metrics.generalization_gap`, a difference of means over runs as
``docs/metrics.md`` defines it) with :func:`~openworld.scoring.stats.mean_difference_ci`, and
``P(train > held-out)``.

Example:
    >>> from openworld.scoring.runs import Group
    >>> section = {"scores": {"alive_fraction": {"higher_is_better": True, "train": {"n": 2, "mean": 0.75},
    ...            "heldout": {"n": 2, "mean": 0.5}, "gap": 0.25, "gap_ci": [0.0, 0.5],
    ...            "p_train_gt_heldout": 0.75, "p_ci": [0.5, 1.0]}}}
    >>> group = Group("Toy-v0", None, "noop", runs=[{"seed": 0, "generalization": section}])
    >>> row = generalization_rows([group])[0]
    >>> row["metric"], row["gap"], row["units"]
    ('alive_fraction', [0.25, 0.0, 0.5], 'world seeds')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openworld.files import atomic_write
from openworld.scoring import metrics, stats
from openworld.scoring.generalization import GAP_SCORES
from openworld.scoring.runs import Group, place

GENERALIZATION_COLUMNS = 4  # world panels in a row of generalization.png
TITLES = {"alive_fraction": "alive fraction", "mean_wellbeing": "mean wellbeing", "drop": "drop (wellbeing)",
          "deficit": "deficit (wellbeing)", "alive_drop": "drop (alive fraction)",
          "alive_deficit": "deficit (alive fraction)"}


def generalization_rows(groups: Sequence[Group], reps: int = stats.DEFAULT_REPS,
                        confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0) -> list[dict[str, Any]]:
    """One row per group and score of :data:`~openworld.scoring.generalization.GAP_SCORES` that its runs'
    ``generalization`` sections hold: ``train``, ``heldout`` and ``gap`` as ``[point, low, high]``,
    ``p_train_gt_heldout`` likewise, ``n`` runs and the ``units`` of the intervals."""
    rows: list[dict[str, Any]] = []
    for group in groups:
        sections = [run["generalization"] for run in group.runs if run.get("generalization")]
        for key, higher_is_better in GAP_SCORES:
            scores = [section["scores"][key] for section in sections if key in section.get("scores", {})]
            if not scores:
                continue
            base = {"world": group.world, "variant": group.variant, "agent": group.agent, "metric": key,
                    "mode": "zero-shot", "higher_is_better": higher_is_better, "n": len(scores)}
            train = [float(s["train"]["mean"]) for s in scores]
            heldout = [float(s["heldout"]["mean"]) for s in scores]
            if len(scores) == 1:  # one run: its own intervals, over world seeds
                (only,) = scores
                rows.append({**base, "units": "world seeds", "train": [train[0]] * 3, "heldout": [heldout[0]] * 3,
                             "gap": [float(only["gap"]), *map(float, only["gap_ci"])],
                             "p_train_gt_heldout": [float(only["p_train_gt_heldout"]), *map(float, only["p_ci"])]})
                continue
            gaps = [float(s["gap"]) for s in scores]
            rows.append({**base, "units": "runs",
                         "train": list(stats.interquartile_mean_ci(train, reps, confidence, seed)),
                         "heldout": list(stats.interquartile_mean_ci(heldout, reps, confidence, seed)),
                         "gap": list(stats.interquartile_mean_ci(gaps, reps, confidence, seed)),
                         "p_train_gt_heldout": list(stats.probability_of_improvement(train, heldout, reps,
                                                                                     confidence, seed))})
    return rows


def comparison_rows(groups: Sequence[Group], reps: int = stats.DEFAULT_REPS,
                    confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0) -> list[dict[str, Any]]:
    """The report's rows: zero-shot (:func:`generalization_rows`) then continual (:func:`continual_rows`)."""
    return generalization_rows(groups, reps, confidence, seed) + continual_rows(groups, reps, confidence, seed)


def continual_rows(groups: Sequence[Group], reps: int = stats.DEFAULT_REPS,
                   confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0) -> list[dict[str, Any]]:
    """Rows (as :func:`generalization_rows`, ``mode`` ``continual``) for each world and agent with runs in
    both training and held-out variants: alive fraction and mean wellbeing of the runs, one unit each."""
    sides: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for group in groups:
        for run in group.runs:
            if run.get("split") in ("train", "heldout"):
                sides.setdefault((group.world, group.agent), {}).setdefault(run["split"], []).append(run)
    rows: list[dict[str, Any]] = []
    for (world, agent), runs in sorted(sides.items()):
        if len(runs) < 2:
            continue
        for key in ("alive_fraction", "mean_wellbeing"):
            x = [_run_score(run, key) for run in runs["train"]]
            y = [_run_score(run, key) for run in runs["heldout"]]
            _, gap_low, gap_high = stats.mean_difference_ci(x, y, reps, confidence, seed)
            rows.append({"world": world, "variant": None, "agent": agent, "metric": key, "mode": "continual",
                         "higher_is_better": True, "n": len(x) + len(y), "units": "runs",
                         "train": [float(np.mean(x))] * 3, "heldout": [float(np.mean(y))] * 3,
                         "gap": [metrics.generalization_gap(x, y), gap_low, gap_high],
                         "p_train_gt_heldout": list(stats.probability_of_improvement(x, y, reps, confidence, seed))})
    return rows


def _run_score(run: dict[str, Any], key: str) -> float:
    return float(run["survival"]["alive_fraction"] if key == "alive_fraction" else run["mean_wellbeing"])


def generalization_markdown(rows: Sequence[dict[str, Any]], confidence: float) -> list[str]:
    """The report's ``## Generalization`` section (no lines without rows)."""
    if not rows:
        return []
    level = round(100 * confidence)
    lines = ["", "## Generalization", "",
             "Zero-shot evaluation of the frozen agent on the world's training and held-out variants, each "
             "lived through its shifts (`docs/experiments.md`). Train and held-out: IQM across runs of each "
             "run's mean over its variants' world seeds; gap: train minus held-out (for a drop, a positive gap "
             f"means the held-out shifts hurt less); [{level}% interval]. P(train > held-out): probability "
             "that a run's training mean exceeds a run's held-out mean. Rows of one run show that run's own "
             "interval and probability over world seeds (units). Continual rows compare whole lifetimes run in "
             "training variants with lifetimes run in held-out variants (`world.variant`), one unit per run: "
             "means of each side, their difference with its interval, and P(train > held-out).", "",
             "| world | agent | mode | score | runs | units | train | held-out | gap | P(train > held-out) |",
             "| --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        train, heldout, gap, p = row["train"], row["heldout"], row["gap"], row["p_train_gt_heldout"]
        pooled = row["units"] == "runs" and row["mode"] == "zero-shot"  # IQMs with intervals; else plain means
        lines.append(f"| {row['variant'] or row['world']} | {row['agent']} | {row['mode']} | {TITLES[row['metric']]} | "
                     f"{row['n']} | {row['units']} | {_cell(train, pooled)} | {_cell(heldout, pooled)} | "
                     f"{_cell(gap)} | {_cell(p, digits=2)} |")
    return lines


def _cell(values: Sequence[float], interval: bool = True, digits: int = 3) -> str:
    point, low, high = values
    return f"{point:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]" if interval else f"{point:.{digits}f}"


def plot_generalization(rows: Sequence[dict[str, Any]], path: Path, confidence: float) -> Path:
    """Training against held-out variants for alive fraction and mean wellbeing: one panel per world (variant) and
    score, up to four worlds in a row (a sweep of many worlds and arms stays readable), in each a pair of bars per
    agent (IQM across runs) with interval whiskers (a run's own value without whiskers)."""
    from matplotlib.figure import Figure

    metrics = ("alive_fraction", "mean_wellbeing")
    rows = [row for row in rows if row["metric"] in metrics]
    places = sorted({place(row["world"], row["variant"]) for row in rows})
    agents = sorted({_agent_label(row) for row in rows}, reverse=True)  # top to bottom in alphabetical order
    columns = min(GENERALIZATION_COLUMNS, len(places))
    lines_per_metric = -(-len(places) // columns)
    fig = Figure(figsize=(3.6 * columns + 1.4, len(metrics) * lines_per_metric * (0.3 * len(agents) + 1.2)),
                 layout="constrained")
    axes = fig.subplots(len(metrics) * lines_per_metric, columns, sharey=True, squeeze=False)
    for m, metric in enumerate(metrics):
        for k in range(lines_per_metric * columns):
            ax = axes[m * lines_per_metric + k // columns, k % columns]
            if k >= len(places):
                ax.set_visible(False)
                continue
            found = {_agent_label(row): row for row in rows
                     if row["metric"] == metric and place(row["world"], row["variant"]) == places[k]}
            for j, (side, color) in enumerate((("train", "tab:blue"), ("heldout", "tab:orange"))):
                ys = [i + 0.2 - 0.4 * j for i, agent in enumerate(agents) if agent in found]
                values = np.array([found[agent][side] for agent in agents if agent in found]).reshape(-1, 3)
                ax.barh(ys, values[:, 0], 0.4, color=color, capsize=2, label="held-out" if side == "heldout" else side,
                        xerr=[values[:, 0] - values[:, 1], values[:, 2] - values[:, 0]])
            ax.set_yticks(range(len(agents)), agents, fontsize=8)
            ax.set_xlim(0, 1.05)
            ax.set_xlabel(TITLES[metric], fontsize=8)
            ax.set_title(places[k], fontsize=9)
            ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, title="variants", title_fontsize=8)
    fig.suptitle(f"training vs held-out variants ({round(100 * confidence)}% CI)")
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    return path


def _agent_label(row: dict[str, Any]) -> str:
    return f"{row['agent']} ({row['mode']})"
