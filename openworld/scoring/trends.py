"""Trends over a lifetime: does an agent recover from a shift more slowly late in its life than early, and how do its
learner's plasticity diagnostics move?

A continual learner can lose plasticity (Dohare et al. 2024, "Loss of plasticity in deep continual learning"): the
same shift, recurring, costs more each time. Two views of that, both part of ``openworld report``:

* **Shifts by index.** Each run's observed shifts are numbered 1, 2, ... in the order of their onsets (the shift at
  the first recorded step is the initial regime and not counted). For every score of :data:`TREND_SCORES` a run
  gives its **slope** (least squares of the score against the index: change per shift) and its **late - early**
  difference (mean over the last third of its scored shifts minus the mean over the first third). Both are
  aggregated across seeds as IQM [95% CI]; a positive slope of a cost (drop, deficit, adaptation time) means
  recovery got worse as the lifetime went on. A run with fewer than :data:`MIN_SHIFTS` scored shifts has no trend.
  Values are counted as the report counts them (:func:`~openworld.scoring.runs.shift_value`: a censored time at its
  observed steps).
* **Learner diagnostics.** ``learner.jsonl`` (:mod:`~openworld.scoring.learner_log`) holds the agent's metrics at
  the run's log steps. For each metric of :data:`DIAGNOSTICS` a run gives its **early** value (mean over the first
  quarter of its logged steps), its **late** value (the last quarter) and their difference, aggregated across seeds
  as IQM [95% CI]; the plot draws each metric over world time.

Example:
    >>> from openworld.scoring.runs import Group
    >>> from openworld.scoring.scores import DROP
    >>> runs = [{"seed": seed, "start": 0, "shifts": [
    ...     {"t": 100 * k, "observed": True, "drop": 0.01 * k + 0.001 * seed} for k in range(1, 7)]}
    ...     for seed in range(3)]
    >>> rows = shift_trend_rows([Group("Toy-v0", None, "noop", runs)], reps=100)
    >>> drop = next(row for row in rows if row["metric"] == DROP.key and row["measure"] == "slope")
    >>> round(drop["iqm"], 6), drop["n"]
    (0.01, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openworld.scoring import stats
from openworld.scoring.learner_log import read_learner_log
from openworld.scoring.plots import BAND_REPS, agent_colors, iqm_band, write_png
from openworld.scoring.runs import Group, place, shift_value
from openworld.scoring.scores import ADAPTATION_TIME, ALIVE_DEFICIT, DEFICIT, DROP, Score

TREND_SCORES: tuple[Score, ...] = (DROP, DEFICIT, ADAPTATION_TIME, ALIVE_DEFICIT)
"""The shift scores followed against the shift's index: the shock, the whole regime's shortfall, the time to settle,
and the lives the regime cost."""

MIN_SHIFTS: int = 4
"""Scored shifts a run needs for a trend: a slope through fewer is mostly noise, and thirds need three."""

DIAGNOSTICS: tuple[tuple[str, str], ...] = (
    ("plasticity/dormant_fraction", "dormant fraction"),
    ("plasticity/stable_rank", "stable rank"),
    ("plasticity/weight_norm", "weight norm"),
    ("plasticity/gradient_norm", "gradient norm"),
    ("losses/entropy", "policy entropy"),
)
"""The learner metrics followed over the lifetime (``openworld.agent.plasticity.diagnostics``, and the policy's
entropy): key in ``learner.jsonl`` and title."""


# =============================================================================== shifts by index
def indexed_shifts(run: dict[str, Any], score: Score) -> list[tuple[int, float]]:
    """``(index, value)`` of a run's observed shifts that have a value of ``score``, in onset order; the index counts
    every shift after the run's first recorded step, from 1."""
    start = run.get("start", 0)
    shifts = sorted((shift for shift in run["shifts"] if shift["t"] > start), key=lambda shift: shift["t"])
    found = []
    for index, shift in enumerate(shifts, start=1):
        value = shift_value(shift, score) if shift.get("observed", True) else None
        if value is not None:
            found.append((index, value))
    return found


def run_trend(points: Sequence[tuple[int, float]]) -> tuple[float, float] | None:
    """The slope (per shift) and the late - early difference of one run's ``(index, value)`` points; None with
    fewer than :data:`MIN_SHIFTS`."""
    if len(points) < MIN_SHIFTS:
        return None
    index = np.array([i for i, _ in points], np.float64)
    values = np.array([v for _, v in points], np.float64)
    slope = float(np.polyfit(index, values, 1)[0])
    third = len(values) // 3
    return slope, float(values[-third:].mean() - values[:third].mean())


def shift_trend_rows(groups: Sequence[Group], reps: int = stats.DEFAULT_REPS,
                     confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0) -> list[dict[str, Any]]:
    """Per group and score of :data:`TREND_SCORES`: the ``slope`` and ``late_minus_early`` rows (``measure``), each
    an IQM [CI] across the runs that have a trend, with ``shifts`` the fewest scored shifts of those runs. Groups
    without a run with a trend give no rows."""
    rows = []
    for group in groups:
        for score in TREND_SCORES:
            trends = [(trend, len(points)) for run in group.runs
                      if (trend := run_trend(points := indexed_shifts(run, score))) is not None]
            if not trends:
                continue
            base = {"world": group.world, "variant": group.variant, "agent": group.agent, "metric": score.key,
                    "shifts": min(count for _, count in trends)}
            for position, measure in enumerate(("slope", "late_minus_early")):
                values = [trend[position] for trend, _ in trends]
                rows.append({**base, "measure": measure, **stats.iqm_record(values, reps, confidence, seed)})
    return rows


def shift_trend_markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The report's "Shifts by index" table (none without rows)."""
    if not rows:
        return []
    scores = [score for score in TREND_SCORES if any(row["metric"] == score.key for row in rows)]
    lines = ["", "## Shifts by index: does recovery slow over the lifetime?", "",
             "Each run's observed shifts numbered in onset order. Slope: least squares of the score against the index "
             "(change per shift); late - early: the mean over the last third of the run's scored shifts minus the "
             f"first third. Runs with fewer than {MIN_SHIFTS} scored shifts have no trend. A positive value of these "
             "costs means recovery got worse as the lifetime went on. `openworld.scoring.trends`.", "",
             "| world | agent | runs | shifts | " + " | ".join(f"{s.title}: slope | {s.title}: late - early"
                                                              for s in scores) + " |",
             "| --- | --- | ---: | ---: | " + " | ".join("---: | ---:" for _ in scores) + " |"]
    index = {(row["world"], row["variant"], row["agent"], row["metric"], row["measure"]): row for row in rows}
    for world, variant, agent in dict.fromkeys((row["world"], row["variant"], row["agent"]) for row in rows):
        mine = [row for row in rows if (row["world"], row["variant"], row["agent"]) == (world, variant, agent)]
        cells = []
        for score in scores:
            for measure in ("slope", "late_minus_early"):
                row = index.get((world, variant, agent, score.key, measure))
                digits = score.digits + (1 if measure == "slope" else 0)  # a slope is per shift: smaller numbers
                cells.append("—" if row is None else
                             f"{row['iqm']:+.{digits}f} [{row['ci_low']:+.{digits}f}, {row['ci_high']:+.{digits}f}]")
        lines.append(f"| {place(world, variant)} | {agent} | {max(r['n'] for r in mine)} | "
                     f"{min(r['shifts'] for r in mine)} | " + " | ".join(cells) + " |")
    return lines


def plot_shift_trends(groups: Sequence[Group], path: Path, confidence: float = stats.DEFAULT_CONFIDENCE,
                      seed: int = 0) -> Path:
    """One panel per score of :data:`TREND_SCORES` (and world, when there are several): the IQM across seeds of the
    score at each shift index, per agent, with its bootstrap band."""
    from matplotlib.figure import Figure

    labels = sorted({g.label for g in groups})
    fig = Figure(figsize=(5.2 * len(TREND_SCORES), 3.6 * len(labels)), layout="constrained")
    axes = fig.subplots(len(labels), len(TREND_SCORES), squeeze=False)
    colors = agent_colors(groups)
    for row_axes, label in zip(axes, labels, strict=True):
        for ax, score in zip(row_axes, TREND_SCORES, strict=True):
            for group in (g for g in groups if g.label == label):
                series = [dict(indexed_shifts(run, score)) for run in group.runs]
                shared = sorted(set.intersection(*(set(s) for s in series))) if series else []
                if len(shared) < 2:
                    continue
                matrix = np.array([[s[i] for i in shared] for s in series], np.float64)
                point, low, high = iqm_band(matrix, BAND_REPS, confidence, seed)
                ax.plot(shared, point, color=colors[group.agent], linewidth=1.3, marker=".", label=group.agent)
                ax.fill_between(shared, low, high, color=colors[group.agent], alpha=0.15, linewidth=0)
            ax.set_title(f"{label}: {score.title}", fontsize=9)
            ax.set_xlabel("shift index in the lifetime")
            ax.grid(alpha=0.3)
        if row_axes[-1].lines:
            row_axes[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, title="agent",
                                title_fontsize=7)
    fig.suptitle(f"Per shift, IQM across seeds ({round(100 * confidence)}% CI band); a rising cost: slower recovery")
    write_png(fig, path)
    return path


# =============================================================================== learner diagnostics
def learner_series(group: Group, key: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(steps, values)`` of ``key`` in each of the group's runs that logged it (``learner.jsonl``)."""
    found = []
    for directory in group.directories:
        logged = [(row["step"], row[key]) for row in read_learner_log(directory) if key in row]
        if logged:
            steps, values = zip(*logged, strict=True)
            found.append((np.asarray(steps, np.float64), np.asarray(values, np.float64)))
    return found


def diagnostic_rows(groups: Sequence[Group], reps: int = stats.DEFAULT_REPS,
                    confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0) -> list[dict[str, Any]]:
    """Per group and metric of :data:`DIAGNOSTICS` logged by its runs: ``early``, ``late`` and ``change`` rows
    (``measure``), each an IQM [CI] across those runs. A run needs four logged values (a quarter each way)."""
    rows = []
    for group in groups:
        for key, _ in DIAGNOSTICS:
            ends = []
            for _, values in learner_series(group, key):
                if len(values) >= 4:
                    quarter = len(values) // 4
                    ends.append((float(values[:quarter].mean()), float(values[-quarter:].mean())))
            if not ends:
                continue
            base = {"world": group.world, "variant": group.variant, "agent": group.agent, "metric": key}
            for measure, measured in (("early", [e for e, _ in ends]), ("late", [late for _, late in ends]),
                                      ("change", [late - e for e, late in ends])):
                rows.append({**base, "measure": measure, **stats.iqm_record(measured, reps, confidence, seed)})
    return rows


def diagnostic_markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The report's "Learner diagnostics" table (none without rows)."""
    if not rows:
        return []
    titles = dict(DIAGNOSTICS)
    keys = [key for key, _ in DIAGNOSTICS if any(row["metric"] == key for row in rows)]
    lines = ["", "## Learner diagnostics over the lifetime", "",
             "From each run's `learner.jsonl`: early is the mean over the first quarter of its logged steps, late over "
             "the last quarter, change = late - early; IQM [95% CI] across runs. A rising dormant fraction or a "
             "falling stable rank is the network losing plasticity (docs/agents.md, \"Plasticity\").", "",
             "| world | agent | metric | runs | early | late | change |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    index = {(row["world"], row["variant"], row["agent"], row["metric"], row["measure"]): row for row in rows}
    for world, variant, agent in dict.fromkeys((row["world"], row["variant"], row["agent"]) for row in rows):
        for key in keys:
            cells = [index.get((world, variant, agent, key, measure)) for measure in ("early", "late", "change")]
            if cells[0] is None:
                continue
            text = [f"{c['iqm']:.3f} [{c['ci_low']:.3f}, {c['ci_high']:.3f}]" for c in cells if c is not None]
            lines.append(f"| {place(world, variant)} | {agent} | {titles[key]} | {cells[0]['n']} | "
                         + " | ".join(text) + " |")
    return lines


def plot_diagnostics(groups: Sequence[Group], path: Path, confidence: float = stats.DEFAULT_CONFIDENCE,
                     seed: int = 0) -> Path:
    """One panel per metric of :data:`DIAGNOSTICS` that some run logged: its IQM across seeds over world time, per
    agent (one line per world variant when there are several), with its bootstrap band."""
    from matplotlib.figure import Figure

    logged = [(key, title) for key, title in DIAGNOSTICS if any(learner_series(g, key) for g in groups)]
    fig = Figure(figsize=(5.2 * max(1, len(logged)), 3.8), layout="constrained")
    axes = fig.subplots(1, max(1, len(logged)), squeeze=False)[0]
    colors = agent_colors(groups)
    several = len({g.label for g in groups}) > 1
    for ax, (key, title) in zip(axes, logged, strict=False):
        for group in groups:
            series = learner_series(group, key)
            if not series:
                continue
            lo, hi = max(s[0][0] for s in series), min(s[0][-1] for s in series)
            steps = np.unique(np.concatenate([s[0] for s in series]))
            steps = steps[(steps >= lo) & (steps <= hi)]
            if not len(steps):
                continue
            matrix = np.stack([np.interp(steps, s, v) for s, v in series])
            point, low, high = iqm_band(matrix, BAND_REPS, confidence, seed)
            name = f"{group.agent} ({group.label})" if several else group.agent
            ax.plot(steps, point, color=colors[group.agent], linewidth=1.2, label=name)
            ax.fill_between(steps, low, high, color=colors[group.agent], alpha=0.15, linewidth=0)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("world step")
        ax.grid(alpha=0.3)
    if len(axes) and axes[-1].lines:
        axes[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, title="agent", title_fontsize=7)
    fig.suptitle(f"Learner diagnostics over the lifetime, IQM across seeds ({round(100 * confidence)}% CI band)")
    write_png(fig, path)
    return path
