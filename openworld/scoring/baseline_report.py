"""Each agent against a baseline agent of the same world (variant): ``openworld report --baseline <agent>``.

The comparison a sweep of arms asks for (each plasticity option against vanilla ``ppo``, each prior-using agent
against ``ppo`` from scratch): for every score of :data:`BASELINE_SCORES`, the difference of the group's mean from
the baseline's with an independent-bootstrap interval (:func:`~openworld.scoring.stats.mean_difference_ci`), and the
probability that a run of the agent does better than a run of the baseline, ``P(better)``
(:func:`~openworld.scoring.stats.probability_of_improvement`; for a score where lower is better, such as
forgetting, "better" is lower). The units are runs (seeds); a score a run lacks (forgetting where no regime
recurred) leaves that run out.

Example:
    >>> from openworld.scoring.runs import Group
    >>> def runs(*alive):
    ...     return [{"seed": i, "survival": {"alive_fraction": a}, "mean_wellbeing": a / 2, "forgetting": None,
    ...              "shifts": []}
    ...             for i, a in enumerate(alive)]
    >>> groups = [Group("Toy-v0", None, "base", runs(0.5, 0.6, 0.7)), Group("Toy-v0", None, "new", runs(0.8, 0.9, 1.0))]
    >>> row = baseline_rows(groups, "base", reps=100)[0]
    >>> row["agent"], row["metric"], round(row["difference"], 3), row["p_better"]
    ('new', 'alive_fraction', 0.3, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openworld.scoring import stats
from openworld.scoring.runs import Group, place, shift_scores, shift_value
from openworld.scoring.scores import ADAPTATION_TIME, ALIVE_FRACTION, DEFICIT, DROP, FORGETTING, MEAN_WELLBEING, Score

BASELINE_SCORES: tuple[Score, ...] = (ALIVE_FRACTION, MEAN_WELLBEING, FORGETTING)
"""The run scores compared with the baseline: staying alive, how well, and what a recurring regime costs again."""

SHIFT_BASELINE_SCORES: tuple[Score, ...] = (DROP, DEFICIT, ADAPTATION_TIME)
"""The shift scores compared with the baseline's at each shift: how hard the shift hit, what it cost until the new
level, and how long adapting took (a censored time counts as its observed steps, as the report's aggregates do).
Negative transfer shows here: an agent whose prior was learnt before the shift adapting more slowly than scratch."""


def baseline_rows(groups: Sequence[Group], baseline: str, reps: int = stats.DEFAULT_REPS,
                  confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0) -> list[dict[str, Any]]:
    """One row per (group other than the baseline's, score) in a world (variant) where the baseline has runs:
    ``difference`` (agent mean - baseline mean) with ``difference_ci``, ``p_better`` with ``p_ci``, and the runs
    counted (``n``, ``baseline_n``).

    Raises:
        ValueError: if no group's agent is ``baseline`` (naming the agents there are).
    """
    bases = {g.label: g for g in groups if g.agent == baseline}
    if not bases:
        agents = ", ".join(sorted({g.agent for g in groups}))
        raise ValueError(f"no runs of the baseline {baseline!r}; agents: {agents}")
    rows = []
    for group in groups:
        base = bases.get(group.label)
        if base is None or group is base:
            continue
        where = {"world": group.world, "variant": group.variant, "agent": group.agent, "baseline": baseline}
        for score in BASELINE_SCORES:
            mine = [float(v) for run in group.runs if (v := score.of_run(run)) is not None]
            theirs = [float(v) for run in base.runs if (v := score.of_run(run)) is not None]
            row = _compare(mine, theirs, score, reps, confidence, seed)
            if row is not None:
                rows.append({**where, **row})
        base_shifts = shift_scores(base)
        for (t, name, kind), records in shift_scores(group).items():
            base_records = base_shifts.get((t, name, kind), [])
            for score in SHIFT_BASELINE_SCORES:
                mine = [v for record in records if (v := shift_value(record, score)) is not None]
                theirs = [v for record in base_records if (v := shift_value(record, score)) is not None]
                row = _compare(mine, theirs, score, reps, confidence, seed)
                if row is not None:
                    rows.append({**where, "shift_t": t, "shift": name, **row})
    return rows


def _compare(mine: list[float], theirs: list[float], score: Score, reps: int, confidence: float,
             seed: int) -> dict[str, Any] | None:
    """The difference of means and P(better) of one score (None if either side has no value)."""
    if not mine or not theirs:
        return None
    difference = stats.mean_difference_ci(mine, theirs, reps=reps, confidence=confidence, seed=seed)
    sign = 1.0 if score.higher_is_better else -1.0  # P(better): higher, or lower for a cost
    p_better = stats.probability_of_improvement([sign * v for v in mine], [sign * v for v in theirs],
                                                reps=reps, confidence=confidence, seed=seed)
    return {"metric": score.key, "n": len(mine), "baseline_n": len(theirs),
            "difference": difference[0], "difference_ci": list(difference[1:]),
            "p_better": p_better[0], "p_ci": list(p_better[1:])}


def baseline_markdown(rows: Sequence[dict[str, Any]], confidence: float) -> list[str]:
    """The report's "Against <baseline>" tables: the run scores, then each shift's (none without rows)."""
    if not rows:
        return []
    level = round(100 * confidence)
    run_rows = [row for row in rows if "shift_t" not in row]
    shift_rows = [row for row in rows if "shift_t" in row]
    lines = ["", f"## Against {rows[0]['baseline']}", "",
             f"Per agent and score: the difference of its mean from the baseline's (agent - baseline) [{level}% "
             "independent-bootstrap interval] and P(better), the probability that one of its runs does better than "
             "one of the baseline's (higher, or lower for a cost: forgetting, drop, deficit, adaptation time) "
             "[interval]. Units: runs. `openworld.scoring.baseline_report`."]
    lines += _table(run_rows, BASELINE_SCORES, lambda row: (row["world"], row["variant"], row["agent"]),
                    lambda key: f"{place(key[0], key[1])} | {key[2]}", "world | agent")
    if shift_rows:
        lines += ["", f"### After each shift, against {rows[0]['baseline']}", "",
                  "The same comparison for each shift's scores (negative transfer: an agent adapting more slowly than "
                  "the baseline after a shift)."]
        lines += _table(shift_rows, SHIFT_BASELINE_SCORES,
                        lambda row: (row["world"], row["variant"], row["shift_t"], row["shift"], row["agent"]),
                        lambda key: f"{place(key[0], key[1])} | {key[3]} @ {key[2]:,} | {key[4]}",
                        "world | shift | agent")
    return lines


def _table(rows: Sequence[dict[str, Any]], scores: Sequence[Score], key: Any, first: Any, header: str) -> list[str]:
    """One markdown table: a line per ``key(row)``, two cells per score (difference, P(better))."""
    scores = [s for s in scores if any(row["metric"] == s.key for row in rows)]
    if not scores:
        return []
    lines = ["", f"| {header} | runs | " + " | ".join(f"{s.title}: difference | {s.title}: P(better)"
                                                      for s in scores) + " |",
             "| --- " * (header.count("|") + 1) + "| ---: | " + " | ".join("---: | ---:" for _ in scores) + " |"]
    index = {(key(row), row["metric"]): row for row in rows}
    for line_key in dict.fromkeys(key(row) for row in rows):
        cells = []
        for score in scores:
            row = index.get((line_key, score.key))
            if row is None:
                cells += ["—", "—"]
                continue
            low, high = row["difference_ci"]
            cells += [f"{row['difference']:+.{score.digits}f} [{low:+.{score.digits}f}, {high:+.{score.digits}f}]",
                      f"{row['p_better']:.2f} [{row['p_ci'][0]:.2f}, {row['p_ci'][1]:.2f}]"]
        runs = max(row["n"] for row in rows if key(row) == line_key)
        lines.append(f"| {first(line_key)} | {runs} | " + " | ".join(cells) + " |")
    return lines
