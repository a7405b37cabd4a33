"""``openworld report``: tables and plots of scored runs, aggregated across seeds.

Reads the ``summary.json`` of every run directory at or under the given paths (written by
:func:`openworld.scoring.summary.summarize`), groups the runs by world (by ``variant`` where a summary has
one) and agent, and aggregates each score across seeds as an interquartile mean with a 95%
stratified-bootstrap confidence interval (:func:`openworld.scoring.stats.interquartile_mean_ci`). Writes
into one output folder:

* ``report.md``: a survival table, a table of survival by regime, a per-shift table, when runs
  were evaluated on held-out variants a generalization table, when runs lived enough shifts the trend of their
  shift scores by the shift's index, and when learners logged diagnostics (``learner.jsonl``) those early and late
  in the lifetime (:mod:`openworld.scoring.trends`), and with ``baseline`` every agent against that one
  (:mod:`openworld.scoring.baseline_report`), and across the worlds that share a variant name, with the
  generalization gap from training to held-out variants across those worlds
  (:mod:`openworld.scoring.across_worlds`); every cell ``IQM [low, high]``;
* ``report.csv``: the same numbers, one row per group, metric and shift (or regime); ``report.json``: those rows
  and the trends' and diagnostics' rows;
* ``wellbeing.png`` and ``alive.png``: mean wellbeing and alive fraction over world time (IQM across
  seeds, with its confidence band) with the shifts marked (onsets as lines, gradual ramps as spans);
  ``shifts.png``: drop, deficit, adaptation time and sustained return per shift, of wellbeing and of the
  alive fraction;
  ``survival.png``: alive fraction per world variant; ``generalization.png`` (when runs were evaluated
  on held-out variants): training vs held-out variants per world and agent; ``shift_trends.png`` and
  ``diagnostics.png`` (when there are trends and diagnostics): the shift scores against the shift's index, and the
  diagnostics over world time; ``across_worlds.png`` (with ``baseline``, over worlds that share variants): each
  agent's alive fraction across worlds per variant and its generalization gap minus the baseline's.

The scores and their table titles come from :mod:`openworld.scoring.scores`; the runs are read and
grouped by :mod:`openworld.scoring.runs`, the plots drawn by :mod:`openworld.scoring.plots`.

Conventions (also in ``docs/scoring.md``): a censored time (adaptation, sustained return) counts as its
observed steps (the time to the next shift or the end, a lower bound) and its cell is marked ``>=`` with
the number of censored runs; an adaptation time without a plateau (a regime shorter than four windows)
counts in no aggregate; an unobserved shift (fewer than ``W`` steps seen after it) counts in no
shift score, and a cell without an observed run reads ``unobserved``; a shift at the first recorded
step is left out (it marks the initial regime); ``forgetting`` aggregates the runs where a regime
recurred.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openworld.files import atomic_write_text
from openworld.scoring import stats
from openworld.scoring.across_worlds import (
    across_world_gap_markdown,
    across_world_gap_rows,
    across_world_markdown,
    across_world_rows,
    plot_across_worlds,
)
from openworld.scoring.baseline_report import baseline_markdown, baseline_rows
from openworld.scoring.generalization_report import comparison_rows, generalization_markdown, plot_generalization
from openworld.scoring.plots import plot_alive, plot_shifts, plot_survival, plot_wellbeing
from openworld.scoring.runs import (
    Group,
    find_run_directories,
    load_groups,
    place,
    regime_scores,
    shift_scores,
    shift_value,
)
from openworld.scoring.scores import REGIME_SCORES, RUN_SCORES, SHIFT_SCORES, Score
from openworld.scoring.storage import SUMMARY_FILE
from openworld.scoring.summary import ALIVE
from openworld.scoring.trends import (
    diagnostic_markdown,
    diagnostic_rows,
    plot_diagnostics,
    plot_shift_trends,
    shift_trend_markdown,
    shift_trend_rows,
)

CSV_FIELDS = ("world", "variant", "agent", "metric", "shift_t", "shift_name", "shift_kind", "regime", "n", "iqm",
              "ci_low", "ci_high", "censored", "unobserved", "observed_steps")


def aggregate(groups: Sequence[Group], reps: int = stats.DEFAULT_REPS, confidence: float = stats.DEFAULT_CONFIDENCE,
              seed: int = 0) -> list[dict[str, Any]]:
    """One record per group and metric (and shift, or regime): ``n``, ``iqm``, ``ci_low``, ``ci_high`` across
    seeds; for shift scores the number of ``unobserved`` runs (left out: ``n`` counts the others, and with none
    ``iqm`` and its bounds are None), the fewest ``observed_steps`` of a run, and for times the number
    of ``censored`` runs (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    for group in groups:
        base = {"world": group.world, "variant": group.variant, "agent": group.agent, "shift_t": None,
                "shift_name": None, "shift_kind": None, "regime": None, "censored": None, "unobserved": None,
                "observed_steps": None}
        for score in RUN_SCORES:
            values = [score.of_run(run) for run in group.runs]
            present = [float(v) for v in values if v is not None]
            if present:
                rows.append({**base, "metric": score.key, **stats.iqm_record(present, reps, confidence, seed)})
        for regime, records in regime_scores(group).items():
            for score in REGIME_SCORES:
                rows.append({**base, "metric": score.key, "regime": regime,
                             **stats.iqm_record([float(r[score.key]) for r in records], reps, confidence, seed)})
        for (t, name, kind), records in shift_scores(group).items():
            observed = [r for r in records if r.get("observed", True)]
            shift = {"shift_t": t, "shift_name": name, "shift_kind": kind, "unobserved": len(records) - len(observed),
                     "observed_steps": min(int(r["observed_steps"]) for r in records)}
            for score in SHIFT_SCORES:
                scored = [(r, value) for r in observed if (value := shift_value(r, score)) is not None]
                censored = None if score.censored_by is None else sum(bool(r[score.censored_by]) for r, _ in scored)
                rows.append({**base, **shift, "metric": score.key, "censored": censored,
                             **stats.iqm_record([value for _, value in scored], reps, confidence, seed)})
    return rows


def write_report(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] = "report", *,
                 reps: int = stats.DEFAULT_REPS, confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0,
                 plots: bool = True, baseline: str | None = None) -> list[Path]:
    """Write the report of the runs at or under ``paths`` into ``out``; returns the files written.

    ``baseline`` (an agent as the report names it, e.g. ``ppo-v0``) adds a table of every other agent against it in
    each world (:mod:`openworld.scoring.baseline_report`).

    Raises:
        ValueError: if no run summary is found (naming the recordings that have none yet), or the baseline has no
            runs.
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
    generalization = comparison_rows(groups, reps, confidence, seed)  # training vs held-out variants
    trends = shift_trend_rows(groups, reps, confidence, seed)  # does recovery slow over the lifetime?
    diagnostics = diagnostic_rows(groups, reps, confidence, seed)  # the learners' learner.jsonl
    against = baseline_rows(groups, baseline, reps, confidence, seed) if baseline is not None else []
    across = across_world_rows(groups, baseline, reps, confidence, seed) if baseline is not None else []
    gaps = across_world_gap_rows(groups, baseline, reps, confidence, seed) if baseline is not None else []
    atomic_write_text(written[0], format_markdown(groups, rows, config, unscored, plots, generalization, trends,
                                                  diagnostics, against, across, gaps))
    atomic_write_text(written[1], _csv_text(rows))
    document = {"config": config, "rows": rows, "unscored": [str(p) for p in unscored],
                "groups": [{"world": g.world, "variant": g.variant, "agent": g.agent,
                            "seeds": [run["seed"] for run in g.runs], "runs": [str(d) for d in g.directories]}
                           for g in groups], "generalization": generalization, "shift_trends": trends,
                "diagnostics": diagnostics, "baseline": against, "across_worlds": across,
                "across_worlds_gap": gaps}
    atomic_write_text(written[2], json.dumps(document, indent=1, allow_nan=False))
    if plots:
        written += [plot_wellbeing(groups, out / "wellbeing.png", confidence, seed),
                    plot_alive(groups, out / "alive.png", confidence, seed),
                    plot_shifts(groups, rows, out / "shifts.png"),
                    plot_survival(groups, rows, out / "survival.png", confidence)]
    if plots and (figure := plot_across_worlds(across, gaps, out / "across_worlds.png", confidence)) is not None:
        written.append(figure)
    if plots and generalization:
        written.append(plot_generalization(generalization, out / "generalization.png", confidence))
    if plots and trends:
        written.append(plot_shift_trends(groups, out / "shift_trends.png", confidence, seed))
    if plots and diagnostics:
        written.append(plot_diagnostics(groups, out / "diagnostics.png", confidence, seed))
    return written


# =============================================================================== tables
def format_markdown(groups: Sequence[Group], rows: Sequence[dict[str, Any]], config: dict[str, Any],
                    unscored: Sequence[Path] = (), plots: bool = True,
                    generalization: Sequence[dict[str, Any]] = (), trends: Sequence[dict[str, Any]] = (),
                    diagnostics: Sequence[dict[str, Any]] = (), against: Sequence[dict[str, Any]] = (),
                    across: Sequence[dict[str, Any]] = (), gaps: Sequence[dict[str, Any]] = ()) -> str:
    """The Markdown report: a survival table, survival by regime, a per-shift table; when runs were evaluated on
    held-out variants, a generalization table (:mod:`openworld.scoring.generalization_report`); when runs lived
    enough shifts, their trend by shift index, and when learners logged diagnostics, those early and late
    (:mod:`openworld.scoring.trends`); with a baseline, every agent against it across worlds, with the
    generalization gap across worlds (:mod:`openworld.scoring.across_worlds`), and in each world
    (:mod:`openworld.scoring.baseline_report`)."""
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
              "| world | agent | seeds | " + " | ".join(score.title for score in RUN_SCORES) + " |",
              "| --- | --- | ---: | " + " | ".join("---:" for _ in RUN_SCORES) + " |"]
    index = {(r["world"], r["variant"], r["agent"], r["metric"], r["shift_t"], r["shift_name"], r["regime"]): r
             for r in rows}
    for g in groups:
        cells = []
        for score in RUN_SCORES:
            row = index.get((g.world, g.variant, g.agent, score.key, None, None, None))
            cells.append("—" if row is None else _cell(row, score.digits, with_n=row["n"] != len(g.runs)))
        lines.append(f"| {g.label} | {g.agent} | {len(g.runs)} | " + " | ".join(cells) + " |")
    lines += across_world_markdown(across, config["confidence"])
    lines += across_world_gap_markdown(gaps, config["confidence"])
    lines += baseline_markdown(against, config["confidence"])
    lines += _regime_table(groups, index)
    lines += _shift_table(rows, index)
    lines += generalization_markdown(generalization, config["confidence"])
    lines += shift_trend_markdown(trends)
    lines += diagnostic_markdown(diagnostics)
    if unscored:
        lines += ["", "Recordings without a summary (not included): " + ", ".join(f"`{p}`" for p in unscored)]
    if plots:
        lines += ["", "## Plots", "", "![mean wellbeing over world time](wellbeing.png)", "",
                  "![alive fraction over world time](alive.png)", "",
                  "![drop, deficit, adaptation time and sustained return per shift](shifts.png)", "",
                  "![alive fraction](survival.png)"]
        if generalization:
            lines += ["", "![training vs held-out variants](generalization.png)"]
        if trends:
            lines += ["", "![shift scores by their index in the lifetime](shift_trends.png)"]
        if diagnostics:
            lines += ["", "![learner diagnostics over the lifetime](diagnostics.png)"]
    return "\n".join(lines)


def _regime_table(groups: Sequence[Group], index: dict[tuple[Any, ...], dict[str, Any]]) -> list[str]:
    """Survival in each regime (``summary["survival_by_regime"]``), regimes in order of first appearance."""
    if not any(run.get("survival_by_regime") for g in groups for run in g.runs):
        return []
    lines = ["", "## Survival by regime", "",
             "Alive fraction of the world time each regime was in force (all its visits together); regimes are "
             "the active shifts joined by `+` (`~`: a gradual shift still ramping).", "",
             "| world | regime | agent | seeds | " + " | ".join(s.title for s in REGIME_SCORES) + " |",
             "| --- | --- | --- | ---: | " + " | ".join("---:" for _ in REGIME_SCORES) + " |"]
    for g in groups:
        for regime, records in regime_scores(g).items():
            cells = [_cell(index[(g.world, g.variant, g.agent, s.key, None, None, regime)], s.digits,
                           with_n=len(records) != len(g.runs)) for s in REGIME_SCORES]
            lines.append(f"| {g.label} | {regime} | {g.agent} | {len(g.runs)} | " + " | ".join(cells) + " |")
    return lines


SHIFT_TABLES: tuple[tuple[str, tuple[Score, ...], str], ...] = (
    ("Shifts: wellbeing", tuple(s for s in SHIFT_SCORES if not s.key.startswith(ALIVE)),
     "Per shift, against the baseline b (the mean over the W steps before it; docs/metrics.md). Drop: b minus "
     "the mean over the first W steps after it (positive: worse). Deficit: the mean shortfall below b over the "
     "whole regime, until the next shift or the end. Plateau: the mean over the regime's last quarter. "
     "Adaptation time: steps until the W-step mean settles within eps of the plateau for good. Sustained return: "
     "steps until it is back within eps of b for good."),
    ("Shifts: alive fraction", tuple(s for s in SHIFT_SCORES if s.key.startswith(ALIVE)),
     "The same scores on the alive fraction, so a shift that costs lives but brings food is not scored a gain."),
)
"""The report's shift tables: title, scores, what they mean."""

SHIFT_CONVENTIONS = ("Times in world steps; `≥` marks cells with censored runs (not seen to happen before the next "
                     "shift or the end; counted at their observed steps); `—`: no run had a plateau (a regime "
                     "shorter than 4 W). A run with fewer than W steps after the shift (the next shift or the end "
                     "came first) is unobserved and counts in no score here: `observed` gives the runs that saw a "
                     "full window.")


def _shift_table(rows: Sequence[dict[str, Any]], index: dict[tuple[Any, ...], dict[str, Any]]) -> list[str]:
    """Each shift's scores, in the tables of :data:`SHIFT_TABLES`; a time cell with censored runs reads ``≥``, a
    cell without an observed run ``unobserved``; the last column says how many runs saw a full window after the
    shift."""
    shift_rows = [r for r in rows if r["shift_t"] is not None]
    if not shift_rows:
        return []
    keys = sorted({(r["world"], r["variant"], r["shift_t"], r["shift_name"], r["shift_kind"], r["agent"])
                   for r in shift_rows}, key=lambda k: (k[0], k[1] or "", k[2], k[3], k[5]))
    lines: list[str] = []
    for title, scores, meaning in SHIFT_TABLES:
        lines += ["", f"## {title}", "", f"{meaning} {SHIFT_CONVENTIONS}", "",
                  "| world | shift | t | kind | agent | " + " | ".join(s.title for s in scores) + " | observed |",
                  "| --- | --- | ---: | --- | --- | " + " | ".join("---:" for _ in scores) + " | ---: |"]
        for world, variant, t, name, kind, agent in keys:
            cells = {s.key: index[(world, variant, agent, s.key, t, name, None)] for s in scores}
            first = cells[scores[0].key]
            runs = first["n"] + first["unobserved"]
            text = []
            for score in scores:
                cell = cells[score.key]
                if cell["n"] == 0:  # every run unobserved, or no plateau, or summaries written before the score
                    text.append("unobserved" if first["unobserved"] == runs else "—")
                elif cell["censored"]:
                    text.append(f"≥ {_cell(cell, score.digits)} ({cell['censored']} censored)")
                else:
                    text.append(_cell(cell, score.digits))
            observed = f"{runs - first['unobserved']}/{runs}"
            if first["unobserved"]:
                observed += f" (fewest steps after the shift: {first['observed_steps']:,})"
            lines.append(f"| {place(world, variant)} | {name} | {t} | {kind} | {agent} | " + " | ".join(text) +
                         f" | {observed} |")
    return lines


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
