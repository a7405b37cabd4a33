"""``openworld report``: tables and plots of scored runs, aggregated across seeds.

Reads the ``summary.json`` of every run directory at or under the given paths (written by
:func:`openworld.scoring.monitor.summarize`), groups the runs by world (by ``variant`` where a summary has
one) and agent, and aggregates each score across seeds as an interquartile mean with a 95%
stratified-bootstrap confidence interval (:func:`openworld.scoring.stats.interquartile_mean_ci`). Writes
into one output folder:

* ``report.md``: a survival table and a per-shift table, every cell ``IQM [low, high]``;
* ``report.csv`` and ``report.json``: the same numbers, one row per group, metric and shift;
* ``wellbeing.png``: mean wellbeing over world time (IQM across seeds, with its confidence band)
  with the shifts marked; ``shifts.png``: drop and recovery time per shift; ``survival.png``:
  alive fraction per world variant.

Conventions (also in ``docs/scoring.md``): a censored recovery time counts as its observed steps
(the time to the next shift or the end, a lower bound) and its cell is marked ``>=`` with the
number of censored runs; a shift at the first recorded step is left out (it marks the initial
regime); ``forgetting`` aggregates the runs where a regime recurred.

Example:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from openworld.scoring.report import write_report
    >>> root = Path(tempfile.mkdtemp())
    >>> for seed, alive in enumerate([0.9, 0.8, 0.7]):
    ...     run = root / f"run{seed}"
    ...     run.mkdir()
    ...     summary = {"steps": 100, "world": "Toy-v0", "agent": "noop", "seed": seed, "shifts": [],
    ...                "forgetting": None, "survival": {"alive_fraction": alive, "deaths_per_10k": 0.0,
    ...                                                 "mean_lifetime": 100.0}}
    ...     _ = (run / "summary.json").write_text(json.dumps(summary))
    >>> written = write_report([root], root / "report", reps=100, plots=False)
    >>> sorted(path.name for path in written)
    ['report.csv', 'report.json', 'report.md']
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openworld.files import atomic_write, atomic_write_text
from openworld.scoring import stats
from openworld.scoring.monitor import META_FILE, SUMMARY_FILE

SURVIVAL_METRICS: tuple[tuple[str, str], ...] = (
    ("alive_fraction", "alive fraction"),
    ("deaths_per_10k", "deaths / 10k steps"),
    ("mean_lifetime", "mean lifetime"),
    ("mean_wellbeing", "mean wellbeing"),
    ("forgetting", "forgetting"),
)
SHIFT_METRICS: tuple[tuple[str, str], ...] = (
    ("drop", "drop"),
    ("recovery_time", "recovery time"),
    ("regret", "regret"),
)
CSV_FIELDS = ("world", "variant", "agent", "metric", "shift_t", "shift_name", "shift_kind", "n", "iqm", "ci_low",
              "ci_high", "censored")
BAND_REPS = 500  # bootstrap resamples of the wellbeing band (per plotted point; the tables use ``reps``)
PLOT_POINTS = 200  # at most about this many points per wellbeing curve: finer is noise to the eye


@dataclass
class Group:
    """The runs of one agent in one world (variant)."""

    world: str
    variant: str | None
    agent: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    directories: list[Path] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The world variant if the runs name one, else the world."""
        return self.variant or self.world


def find_run_directories(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Path]]:
    """Run directories (holding ``summary.json``) at or under ``paths``, each once, and the
    recordings found without a summary (``monitor.json`` but no ``summary.json``)."""
    scored: dict[Path, Path] = {}
    unscored: dict[Path, Path] = {}
    for root in map(Path, paths):
        if not root.exists():
            raise FileNotFoundError(f"{root} does not exist")
        summaries = [root / SUMMARY_FILE] if (root / SUMMARY_FILE).is_file() else sorted(root.rglob(SUMMARY_FILE))
        for summary in summaries:
            scored.setdefault(summary.parent.resolve(), summary.parent)
        metas = [root / META_FILE] if (root / META_FILE).is_file() else sorted(root.rglob(META_FILE))
        for meta in metas:
            if not (meta.parent / SUMMARY_FILE).is_file():
                unscored.setdefault(meta.parent.resolve(), meta.parent)
    return list(scored.values()), list(unscored.values())


def load_groups(directories: Sequence[Path]) -> list[Group]:
    """Read the summaries and group them by (world, variant, agent), sorted.

    Raises:
        ValueError: on a summary without the contract's keys, or two runs of one group with the
            same seed (which would count one seed twice).
    """
    groups: dict[tuple[str, str | None, str], Group] = {}
    for directory in directories:
        path = directory / SUMMARY_FILE
        summary = json.loads(path.read_text())
        missing = [key for key in ("world", "agent", "seed", "steps", "survival", "shifts") if key not in summary]
        if missing:
            raise ValueError(f"{path}: not a run summary (missing {missing}); see docs/scoring.md")
        variant = summary.get("variant")
        key = (str(summary["world"]), None if variant is None else str(variant), str(summary["agent"]))
        group = groups.setdefault(key, Group(*key))
        for other, run in zip(group.directories, group.runs, strict=True):
            if run["seed"] == summary["seed"]:
                raise ValueError(f"two runs of {key[2]} in {group.label} with seed {summary['seed']}: {other} and "
                                 f"{directory}; report each seed once")
        group.runs.append(summary)
        group.directories.append(directory)
    return [groups[key] for key in sorted(groups, key=lambda k: (k[0], k[1] or "", k[2]))]


def aggregate(groups: Sequence[Group], reps: int = stats.DEFAULT_REPS, confidence: float = stats.DEFAULT_CONFIDENCE,
              seed: int = 0) -> list[dict[str, Any]]:
    """One record per group and metric (and shift): ``n``, ``iqm``, ``ci_low``, ``ci_high`` across
    seeds, and for shift scores the number of ``censored`` runs (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    for group in groups:
        base = {"world": group.world, "variant": group.variant, "agent": group.agent}
        for metric, _ in SURVIVAL_METRICS:
            values = [_run_value(run, metric) for run in group.runs]
            present = [v for v in values if v is not None]
            if present:
                rows.append({**base, "metric": metric, "shift_t": None, "shift_name": None, "shift_kind": None,
                             **_ci(present, reps, confidence, seed), "censored": None})
        for (t, name, kind), scores in _shift_scores(group).items():
            for metric, _ in SHIFT_METRICS:
                shift_values = [float(s["observed_steps"] if metric == "recovery_time" and s["censored"]
                                      else s[metric]) for s in scores]
                censored = sum(bool(s["censored"]) for s in scores) if metric == "recovery_time" else None
                rows.append({**base, "metric": metric, "shift_t": t, "shift_name": name, "shift_kind": kind,
                             **_ci(shift_values, reps, confidence, seed), "censored": censored})
    return rows


def write_report(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] = "report", *,
                 reps: int = stats.DEFAULT_REPS, confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0,
                 plots: bool = True) -> list[Path]:
    """Write the report of the runs at or under ``paths`` into ``out``; returns the files written.

    Raises:
        ValueError: if no run summary is found (naming the recordings that have none yet).
    """
    directories, unscored = find_run_directories(paths)
    if not directories:
        hint = (f"; recordings without one: {', '.join(map(str, unscored[:5]))} (score them with "
                "openworld.scoring.monitor.summarize(directory))") if unscored else ""
        raise ValueError(f"no {SUMMARY_FILE} at or under {', '.join(map(str, paths))}{hint}")
    groups = load_groups(directories)
    rows = aggregate(groups, reps, confidence, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"reps": reps, "confidence": confidence, "seed": seed, "paths": [str(p) for p in paths]}
    written = [out / "report.md", out / "report.csv", out / "report.json"]
    atomic_write_text(written[0], format_markdown(groups, rows, config, unscored, plots))
    atomic_write_text(written[1], _csv_text(rows))
    document = {"config": config, "rows": rows, "unscored": [str(p) for p in unscored],
                "groups": [{"world": g.world, "variant": g.variant, "agent": g.agent,
                            "seeds": [run["seed"] for run in g.runs], "runs": [str(d) for d in g.directories]}
                           for g in groups]}
    atomic_write_text(written[2], json.dumps(document, indent=1, allow_nan=False))
    if plots:
        written += [plot_wellbeing(groups, out / "wellbeing.png", confidence, seed),
                    plot_shifts(groups, rows, out / "shifts.png"),
                    plot_survival(groups, rows, out / "survival.png", confidence)]
    return written


# =============================================================================== tables
def format_markdown(groups: Sequence[Group], rows: Sequence[dict[str, Any]], config: dict[str, Any],
                    unscored: Sequence[Path] = (), plots: bool = True) -> str:
    """The Markdown report: a survival table and a per-shift table."""
    level = round(100 * config["confidence"])
    lines = ["# openworld report", "",
             f"{sum(len(g.runs) for g in groups)} runs from {', '.join(config['paths'])}. Every cell is the "
             f"interquartile mean across seeds [{level}% stratified-bootstrap confidence interval] "
             f"(`openworld.scoring.stats`, {config['reps']} resamples, bootstrap seed {config['seed']}). Definitions: "
             "`docs/metrics.md`; conventions: `docs/scoring.md`.", ""]
    windows = sorted({(run.get("window"), run.get("tolerance")) for g in groups for run in g.runs},
                     key=lambda wt: str(wt))
    if any(w is not None for w, _ in windows):
        lines += ["Shift scores use " + "; ".join(f"W = {w} steps, eps = {e}" for w, e in windows) + ".", ""]
    lines += ["## Survival", "",
              "| world | agent | seeds | " + " | ".join(title for _, title in SURVIVAL_METRICS) + " |",
              "| --- | --- | ---: | " + " | ".join("---:" for _ in SURVIVAL_METRICS) + " |"]
    index = {(r["world"], r["variant"], r["agent"], r["metric"], r["shift_t"], r["shift_name"]): r for r in rows}
    for g in groups:
        cells = []
        for metric, _ in SURVIVAL_METRICS:
            row = index.get((g.world, g.variant, g.agent, metric, None, None))
            cells.append("—" if row is None else _cell(row, with_n=row["n"] != len(g.runs)))
        lines.append(f"| {g.label} | {g.agent} | {len(g.runs)} | " + " | ".join(cells) + " |")
    shift_rows = [r for r in rows if r["shift_t"] is not None]
    if shift_rows:
        lines += ["", "## Shifts", "",
                  "Drop: baseline minus mean wellbeing over the W steps after the shift (positive: worse). "
                  "Recovery time in world steps; `>=` marks cells with censored runs (no recovery before the next "
                  "shift or the end; counted at their observed steps), with the number censored.", "",
                  "| world | shift | t | kind | agent | drop | recovery time | regret | censored |",
                  "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: |"]
        keys = sorted({(r["world"], r["variant"], r["shift_t"], r["shift_name"], r["shift_kind"], r["agent"])
                       for r in shift_rows}, key=lambda k: (k[0], k[1] or "", k[2], k[3], k[5]))
        for world, variant, t, name, kind, agent in keys:
            cell = {metric: index[(world, variant, agent, metric, t, name)] for metric, _ in SHIFT_METRICS}
            censored = cell["recovery_time"]["censored"]
            recovery = ("≥ " if censored else "") + _cell(cell["recovery_time"], digits=0)
            lines.append(f"| {variant or world} | {name} | {t} | {kind} | {agent} | {_cell(cell['drop'])} | "
                         f"{recovery} | {_cell(cell['regret'], digits=1)} | {censored}/{cell['drop']['n']} |")
    if unscored:
        lines += ["", "Recordings without a summary (not included): " + ", ".join(f"`{p}`" for p in unscored)]
    if plots:
        lines += ["", "## Plots", "", "![mean wellbeing over world time](wellbeing.png)", "",
                  "![drop and recovery time per shift](shifts.png)", "", "![alive fraction](survival.png)"]
    return "\n".join(lines)


def _cell(row: dict[str, Any], digits: int = 3, with_n: bool = False) -> str:
    text = f"{row['iqm']:.{digits}f} [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"
    return f"{text} (n={row['n']})" if with_n else text


def _csv_text(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row[key] is None else row[key] for key in CSV_FIELDS})
    return buffer.getvalue().rstrip("\n")


def _run_value(run: dict[str, Any], metric: str) -> float | None:
    value = run["survival"].get(metric) if metric in run["survival"] else run.get(metric)
    return None if value is None else float(value)


def _shift_scores(group: Group) -> dict[tuple[int, str, str], list[dict[str, Any]]]:
    """Each shift's records across the group's runs, keyed by ``(t, name, kind)``; shifts at a run's
    first recorded step (neutral by definition) are left out."""
    found: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    for run in group.runs:
        start = run.get("start", 0)
        for shift in run["shifts"]:
            if shift["t"] <= start:
                continue
            key = (int(shift["t"]), str(shift.get("name", shift["kind"])), str(shift["kind"]))
            found.setdefault(key, []).append(shift)
    return dict(sorted(found.items()))


def _ci(values: Sequence[float], reps: int, confidence: float, seed: int) -> dict[str, Any]:
    if len(values) == 1:  # what stats returns for one run (every resample is that run), without the bootstrap
        point = low = high = float(values[0])
    else:
        point, low, high = stats.interquartile_mean_ci(values, reps=reps, confidence=confidence, seed=seed)
    return {"n": len(values), "iqm": point, "ci_low": low, "ci_high": high}


# =============================================================================== plots
def plot_wellbeing(groups: Sequence[Group], path: Path, confidence: float = stats.DEFAULT_CONFIDENCE,
                   seed: int = 0) -> Path:
    """Mean wellbeing over world time per world (one panel each), one line per agent: the IQM across
    seeds with its bootstrap band; shifts as dotted vertical lines, named at the top."""
    from matplotlib.figure import Figure

    labels = sorted({g.label for g in groups})
    fig = Figure(figsize=(11, 3.6 * len(labels)), layout="constrained")
    axes = fig.subplots(len(labels), 1, squeeze=False)[:, 0]
    colors = _agent_colors(groups)
    for ax, label in zip(axes, labels, strict=True):
        shifts: dict[int, str] = {}
        for group in (g for g in groups if g.label == label):
            curve = _curves(group)
            if curve is None:
                continue
            x, matrix = curve
            point, low, high = _iqm_band(matrix, BAND_REPS, confidence, seed)
            ax.plot(x, point, color=colors[group.agent], linewidth=1.4,
                    label=f"{group.agent} (IQM of {matrix.shape[0]} seeds)")
            ax.fill_between(x, low, high, color=colors[group.agent], alpha=0.2, linewidth=0)
            for (t, name, _), _scores in _shift_scores(group).items():
                shifts[t] = name
        top = 1.0
        for t, name in sorted(shifts.items()):
            ax.axvline(t, color="0.35", linestyle=":", linewidth=1)
            ax.annotate(name, (t, top), xytext=(2, -2), textcoords="offset points", rotation=90, va="top",
                        ha="left", fontsize=8, color="0.25")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{label}: mean wellbeing ({round(100 * confidence)}% CI band across seeds; dotted: shifts)")
        ax.set_xlabel("world time (steps)")
        ax.set_ylabel("wellbeing (binned mean)")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, title="agent", title_fontsize=8)
    _write_png(fig, path)
    return path


def plot_shifts(groups: Sequence[Group], rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Drop and recovery time per shift, per world: bars (IQM) with CI whiskers, one bar per agent;
    hatched bars have censored runs (counted at their observed steps, a lower bound)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    labels = sorted({g.label for g in groups})
    fig = Figure(figsize=(11, 6.4 * len(labels)), layout="constrained")
    axes = fig.subplots(2 * len(labels), 1, squeeze=False)[:, 0]
    colors = _agent_colors(groups)
    for k, label in enumerate(labels):
        members = [g for g in groups if g.label == label]
        keys = sorted({(r["shift_t"], r["shift_name"]) for r in rows
                       if r["shift_t"] is not None and (r["variant"] or r["world"]) == label})
        for ax, metric, ylabel in ((axes[2 * k], "drop", "drop in mean wellbeing"),
                                   (axes[2 * k + 1], "recovery_time", "recovery time (steps)")):
            width = 0.8 / max(1, len(members))
            for j, group in enumerate(members):
                found = {(r["shift_t"], r["shift_name"]): r for r in rows
                         if r["metric"] == metric and r["agent"] == group.agent and r["world"] == group.world
                         and r["variant"] == group.variant}
                xs: list[float] = []
                heights: list[float] = []
                errors: list[list[float]] = [[], []]
                hatches: list[str] = []
                for i, key in enumerate(keys):
                    if key in found:
                        row = found[key]
                        xs.append(i - 0.4 + width * (j + 0.5))
                        heights.append(row["iqm"])
                        errors[0].append(row["iqm"] - row["ci_low"])
                        errors[1].append(row["ci_high"] - row["iqm"])
                        hatches.append("//" if row["censored"] else "")
                bars = ax.bar(xs, heights, width, yerr=errors, capsize=2, color=colors[group.agent],
                              label=group.agent, error_kw={"linewidth": 0.8})
                for bar, hatch in zip(bars, hatches, strict=True):
                    bar.set_hatch(hatch)
            ax.set_xticks(range(len(keys)), [f"{name}\nt={t}" for t, name in keys], fontsize=8)
            ax.axhline(0, color="0.3", linewidth=0.8)
            ax.set_xlabel("shift (world time of onset)")
            ax.set_ylabel(ylabel)
            title = "drop after each shift" if metric == "drop" else \
                "recovery time after each shift (hatched: some runs censored, counted at observed steps)"
            ax.set_title(f"{label}: {title}")
            ax.grid(axis="y", alpha=0.3)
            if members:
                handles = [Patch(facecolor=colors[g.agent], label=g.agent) for g in members]
                ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, title="agent",
                          title_fontsize=8)
    _write_png(fig, path)
    return path


def plot_survival(groups: Sequence[Group], rows: Sequence[dict[str, Any]], path: Path,
                  confidence: float = stats.DEFAULT_CONFIDENCE) -> Path:
    """Alive fraction per world variant, one bar per agent (IQM across seeds, CI whiskers)."""
    from matplotlib.figure import Figure

    labels = sorted({g.label for g in groups})
    agents = sorted({g.agent for g in groups})
    colors = _agent_colors(groups)
    fig = Figure(figsize=(max(6.0, 1.6 * len(labels) * max(1, len(agents)) / 2 + 3), 4.2), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(1, len(agents))
    for j, agent in enumerate(agents):
        found = {(r["variant"] or r["world"]): r for r in rows
                 if r["metric"] == "alive_fraction" and r["agent"] == agent}
        xs = [i - 0.4 + width * (j + 0.5) for i, label in enumerate(labels) if label in found]
        chosen = [found[label] for label in labels if label in found]
        ax.bar(xs, [r["iqm"] for r in chosen], width, color=colors[agent], label=agent, capsize=3,
               yerr=[[r["iqm"] - r["ci_low"] for r in chosen], [r["ci_high"] - r["iqm"] for r in chosen]])
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("world (variant)")
    ax.set_ylabel("alive fraction of world time")
    ax.set_title(f"survival: IQM across seeds with {round(100 * confidence)}% CI")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, title="agent", title_fontsize=8)
    _write_png(fig, path)
    return path


def _curves(group: Group) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """The runs' wellbeing curves on one grid: ``(x, (n_runs, n_points))``, over the world time every
    run covers, at the coarsest bin of the runs (linear interpolation between bin centres)."""
    curves = [run["wellbeing_curve"] for run in group.runs if run.get("wellbeing_curve", {}).get("t")]
    if not curves:
        return None
    centres = [np.asarray(c["t"], np.float64) + c["bin"] / 2 for c in curves]
    lo, hi = max(c[0] for c in centres), min(c[-1] for c in centres)
    step = max(max(int(c["bin"]) for c in curves), (hi - lo) / PLOT_POINTS)
    x = np.arange(lo, hi + 1e-9, step) if hi > lo else np.array([lo])
    matrix = np.stack([np.interp(x, c, np.asarray(curve["wellbeing"], np.float64))
                       for c, curve in zip(centres, curves, strict=True)])
    return x, matrix


def _iqm_band(matrix: npt.NDArray[np.float64], reps: int, confidence: float,
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


def _agent_colors(groups: Sequence[Group]) -> dict[str, Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {agent: palette(i % 10) for i, agent in enumerate(sorted({g.agent for g in groups}))}


def _write_png(fig: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
