"""The report's plots: mean wellbeing and alive fraction over world time, drops and recoveries per shift,
survival per world.

Each function draws one PNG from the groups of runs (:mod:`openworld.scoring.runs`) and the rows that
:func:`openworld.scoring.report.aggregate` computed. ``matplotlib`` and ``scipy`` are imported inside
them, so that a report without plots does not need them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openworld.files import atomic_write
from openworld.scoring import stats
from openworld.scoring.runs import Group, place, shift_scores
from openworld.scoring.scores import (
    ADAPTATION_TIME,
    ALIVE_DEFICIT,
    ALIVE_SUSTAINED_RETURN,
    DEFICIT,
    DROP,
    SUSTAINED_RETURN,
)

BAND_REPS = 500  # bootstrap resamples of the curves' bands (per plotted point; the tables use ``reps``)
PLOT_POINTS = 200  # at most about this many points per curve: finer is noise to the eye
SURVIVAL_COLUMNS = 4  # panels in a row of survival.png


def plot_wellbeing(groups: Sequence[Group], path: Path, confidence: float = stats.DEFAULT_CONFIDENCE,
                   seed: int = 0) -> Path:
    """Mean wellbeing over world time per world (one panel each), one line per agent: the IQM across
    seeds with its bootstrap band; shift onsets as dotted vertical lines, named at the top, gradual ramps
    as shaded spans."""
    return _plot_over_time(groups, path, "wellbeing_curve", "wellbeing", "mean wellbeing", confidence, seed)


def plot_alive(groups: Sequence[Group], path: Path, confidence: float = stats.DEFAULT_CONFIDENCE,
               seed: int = 0) -> Path:
    """The alive fraction over world time (``alive_curve``: the fraction of bodies alive, binned), drawn as
    :func:`plot_wellbeing` draws wellbeing."""
    return _plot_over_time(groups, path, "alive_curve", "alive_fraction", "alive fraction", confidence, seed)


def _plot_over_time(groups: Sequence[Group], path: Path, curve: str, value: str, what: str, confidence: float,
                    seed: int) -> Path:
    """One panel per world (variant): each agent's IQM curve of ``summary[curve][value]`` with its band."""
    from matplotlib.figure import Figure

    labels = sorted({g.label for g in groups})
    fig = Figure(figsize=(11, 3.6 * len(labels)), layout="constrained")
    axes = fig.subplots(len(labels), 1, squeeze=False)[:, 0]
    colors = agent_colors(groups)
    for ax, label in zip(axes, labels, strict=True):
        members = [g for g in groups if g.label == label]
        for group in members:
            curves = _curves(group, curve, value)
            if curves is None:
                continue
            x, matrix = curves
            point, low, high = iqm_band(matrix, BAND_REPS, confidence, seed)
            ax.plot(x, point, color=colors[group.agent], linewidth=1.4,
                    label=f"{group.agent} (IQM of {matrix.shape[0]} seeds)")
            ax.fill_between(x, low, high, color=colors[group.agent], alpha=0.2, linewidth=0)
        _mark_shifts(ax, members)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{label}: {what} ({round(100 * confidence)}% CI band across seeds; dotted: shifts, "
                     "shaded: gradual ramps)")
        ax.set_xlabel("world time (steps)")
        ax.set_ylabel(f"{what} (binned mean)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # not ax.lines: the shifts' dotted lines have no label
            ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, title="agent", title_fontsize=8)
    write_png(fig, path)
    return path


def _mark_shifts(ax: Any, groups: Sequence[Group]) -> None:
    """Every shift onset of the groups' runs as a dotted line named at the top; a gradual shift's ramp as a
    shaded span from its onset to its ``ramp_end`` (to the right edge when still ramping at the end)."""
    onsets: dict[int, str] = {}
    ramps: dict[int, int | None] = {}
    for group in groups:
        for (t, name, kind), records in shift_scores(group).items():
            onsets[t] = name
            if kind == "gradual":
                ends = [r.get("ramp_end") for r in records]
                ramps[t] = max(int(end) for end in ends if end is not None) if None not in ends else None
    right = ax.get_xlim()[1] if ax.lines else max([*onsets, 1])
    for t, end in sorted(ramps.items()):
        ax.axvspan(t, right if end is None else end, color="0.5", alpha=0.15, linewidth=0)
    for t, name in sorted(onsets.items()):
        ax.axvline(t, color="0.35", linestyle=":", linewidth=1)
        ax.annotate(name, (t, 1.0), xytext=(2, -2), textcoords="offset points", rotation=90, va="top", ha="left",
                    fontsize=8, color="0.25")


SHIFT_PANELS = ((DROP, "wellbeing drop (first W steps)"), (DEFICIT, "wellbeing deficit (whole regime)"),
                (ADAPTATION_TIME, "adaptation time to the plateau (steps)"),
                (SUSTAINED_RETURN, "sustained return to the baseline (steps)"),
                (ALIVE_DEFICIT, "alive-fraction deficit (whole regime)"),
                (ALIVE_SUSTAINED_RETURN, "alive-fraction sustained return (steps)"))
"""The panels of ``shifts.png`` for each world: the score and its axis label."""


def plot_shifts(groups: Sequence[Group], rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """The panels of :data:`SHIFT_PANELS` per shift, per world: bars (IQM) with CI whiskers, one bar per agent;
    hatched bars have censored runs (counted at their observed steps, a lower bound); a shift no run of an agent
    observed (fewer than W steps after it), or whose regime no run saw long enough for a plateau, has no bar but
    a note."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    labels = sorted({g.label for g in groups})
    panels = len(SHIFT_PANELS)
    fig = Figure(figsize=(11, 3.2 * panels * len(labels)), layout="constrained")
    axes = fig.subplots(panels * len(labels), 1, squeeze=False)[:, 0]
    colors = agent_colors(groups)
    for k, label in enumerate(labels):
        members = [g for g in groups if g.label == label]
        keys = sorted({(r["shift_t"], r["shift_name"]) for r in rows
                       if r["shift_t"] is not None and place(r["world"], r["variant"]) == label})
        for ax, (score, ylabel) in zip(axes[panels * k:panels * (k + 1)], SHIFT_PANELS, strict=True):
            width = 0.8 / max(1, len(members))
            for j, group in enumerate(members):
                found = {(r["shift_t"], r["shift_name"]): r for r in rows
                         if r["metric"] == score.key and r["agent"] == group.agent and r["world"] == group.world
                         and r["variant"] == group.variant and r["shift_t"] is not None}
                xs: list[float] = []
                heights: list[float] = []
                errors: list[list[float]] = [[], []]
                hatches: list[str] = []
                for i, key in enumerate(keys):
                    if key not in found:
                        continue
                    row, x = found[key], i - 0.4 + width * (j + 0.5)
                    if row["iqm"] is None:  # unobserved, or no plateau: nothing to draw, and no bar of height 0
                        note = "unobserved" if row["n"] == 0 and row["unobserved"] else "no plateau"
                        ax.annotate(note, (x, 0), xytext=(0, 3), textcoords="offset points", rotation=90,
                                    ha="center", va="bottom", fontsize=7, color="0.3")
                        continue
                    xs.append(x)
                    heights.append(row["iqm"])
                    errors[0].append(row["iqm"] - row["ci_low"])
                    errors[1].append(row["ci_high"] - row["iqm"])
                    hatches.append("//" if row["censored"] else "")
                bars = ax.bar(xs, heights, width, yerr=errors, capsize=2, color=colors[group.agent],
                              label=group.agent, error_kw={"linewidth": 0.8})
                for bar, hatch in zip(bars, hatches, strict=True):
                    bar.set_hatch(hatch)
            ax.set_xticks(range(len(keys)), [f"{name}\nt={t}" for t, name in keys], fontsize=8)
            ax.set_xlim(-0.5, len(keys) - 0.5)  # every slot, even one with only "unobserved" notes
            ax.axhline(0, color="0.3", linewidth=0.8)
            ax.set_xlabel("shift (world time of onset)")
            ax.set_ylabel(ylabel)
            title = f"{ylabel} after each shift" if score.censored_by is None else \
                f"{ylabel} after each shift (hatched: some runs censored, counted at observed steps)"
            ax.set_title(f"{label}: {title}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            if members:
                handles = [Patch(facecolor=colors[g.agent], label=g.agent) for g in members]
                ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, title="agent",
                          title_fontsize=8)
    write_png(fig, path)
    return path


def plot_survival(groups: Sequence[Group], rows: Sequence[dict[str, Any]], path: Path,
                  confidence: float = stats.DEFAULT_CONFIDENCE) -> Path:
    """Alive fraction per world variant: one panel each (up to four in a row, so a sweep of many worlds and arms
    stays readable), one bar per agent (IQM across seeds, CI whiskers)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    labels = sorted({g.label for g in groups})
    agents = sorted({g.agent for g in groups})
    colors = agent_colors(groups)
    columns = min(SURVIVAL_COLUMNS, len(labels))
    lines = -(-len(labels) // columns)
    fig = Figure(figsize=(columns * max(2.5, 0.32 * len(agents) + 1.0) + 1.8, 3.2 * lines), layout="constrained")
    axes = fig.subplots(lines, columns, sharey=True, squeeze=False).reshape(-1)
    whole = whole_lifetime_alive(rows)
    for ax, label in zip(axes, labels, strict=False):
        found = whole.get(label, {})
        xs = [j for j, agent in enumerate(agents) if agent in found]
        chosen = [found[agent] for agent in agents if agent in found]
        ax.bar(xs, [r["iqm"] for r in chosen], 0.8, color=[colors[agent] for agent in agents if agent in found],
               capsize=2, yerr=[[r["iqm"] - r["ci_low"] for r in chosen], [r["ci_high"] - r["iqm"] for r in chosen]])
        ax.set_xticks([])
        ax.set_title(label, fontsize=9)
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(labels):]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel("alive fraction of world time")
    fig.legend(handles=[Patch(color=colors[agent], label=agent) for agent in agents], loc="outside right upper",
               fontsize=8, title="agent", title_fontsize=8)
    fig.suptitle(f"survival: IQM across seeds with {round(100 * confidence)}% CI")
    write_png(fig, path)
    return path


def whole_lifetime_alive(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The report's whole-lifetime alive-fraction rows by place (world and variant) and agent; not the rows of one
    regime or shift, which share the metric (survival.png showed a world's last regime until this was split out).

    Example:
        >>> rows = [{"world": "A-v0", "variant": None, "agent": "ppo", "metric": "alive_fraction", "shift_t": None,
        ...          "regime": regime, "iqm": iqm} for regime, iqm in ((None, 0.8), ("blight", 0.7))]
        >>> whole_lifetime_alive(rows)["A-v0"]["ppo"]["iqm"]
        0.8
    """
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if row["metric"] == "alive_fraction" and row["shift_t"] is None and row["regime"] is None:
            found.setdefault(place(row["world"], row["variant"]), {})[row["agent"]] = row
    return found


def _curves(group: Group, curve: str, value: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """The runs' curves ``summary[curve][value]`` on one grid: ``(x, (n_runs, n_points))``, over the world time
    every run covers, at the coarsest bin of the runs (linear interpolation between bin centres)."""
    curves = [run[curve] for run in group.runs if run.get(curve, {}).get("t")]
    if not curves:
        return None
    centres = [np.asarray(c["t"], np.float64) + c["bin"] / 2 for c in curves]
    lo, hi = max(c[0] for c in centres), min(c[-1] for c in centres)
    step = max(max(int(c["bin"]) for c in curves), (hi - lo) / PLOT_POINTS)
    x = np.arange(lo, hi + 1e-9, step) if hi > lo else np.array([lo])
    matrix = np.stack([np.interp(x, c, np.asarray(one[value], np.float64))
                       for c, one in zip(centres, curves, strict=True)])
    return x, matrix


def iqm_band(matrix: npt.NDArray[np.float64], reps: int, confidence: float,
              seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """IQM across runs (axis 0) of every column, with a percentile-bootstrap band over the runs.

    The same estimator as :func:`openworld.scoring.stats.interquartile_mean_ci` with one task (resample the
    runs, take the 25%-trimmed mean, percentile interval), vectorised over the columns, because one
    rliable call per plotted point would take minutes. The bands are for the eye; tables use stats.
    """
    from scipy.stats import trim_mean

    point = np.asarray(trim_mean(matrix, 0.25, axis=0), np.float64)
    runs = matrix.shape[0]
    if runs == 1:
        return point, point, point
    rng = np.random.default_rng(seed)
    draws = []
    for start in range(0, reps, 100):
        index = rng.integers(0, runs, (min(100, reps - start), runs))
        draws.append(trim_mean(matrix[index], 0.25, axis=1))
    tail = 50 * (1 - confidence)
    low, high = np.percentile(np.concatenate(draws), [tail, 100 - tail], axis=0)
    return point, low, high


def agent_colors(groups: Sequence[Group]) -> dict[str, Any]:
    """A colour per agent, distinct for up to 20 agents: tab10 for ten or fewer, tab20 beyond (the headline has 13
    arms; with tab10 its 11th to 13th took the 1st to 3rd arms' colours)."""
    from matplotlib import colormaps

    agents = sorted({g.agent for g in groups})
    palette, size = (colormaps["tab10"], 10) if len(agents) <= 10 else (colormaps["tab20"], 20)
    return {agent: palette(i % size) for i, agent in enumerate(agents)}


def write_png(fig: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
