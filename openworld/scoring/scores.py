"""The scores of a run, declared once: where ``summary.json`` keeps each, what computes it, how it is shown.

Every reader of scores takes them from :data:`SCORES`: the summary (:func:`openworld.scoring.summary.summarize`),
the report's tables (:mod:`openworld.scoring.report`), the short table printed at the end of a run
(:func:`summary_lines`) and the live log (:func:`live_line`). To add a score, compute it in
:mod:`openworld.scoring.metrics`, write it into the summary, and declare it here.

Example:
    >>> [score.key for score in SCORES if score.section == "shift"]
    ['drop', 'recovery_time', 'regret']
    >>> summary = {"world": "Meadow-v0", "agent": "forager", "seed": 0, "steps": 1000, "shifts": [],
    ...            "survival": {"alive_fraction": 0.5, "deaths_per_10k": 20.0, "mean_lifetime": 250.0},
    ...            "mean_wellbeing": 0.25, "forgetting": None}
    >>> print("\\n".join(summary_lines(summary)))
    Meadow-v0 / forager / seed 0: 1,000 world steps x 1 body
      alive fraction 0.500   deaths per 10k 20.00   mean lifetime 250   mean wellbeing 0.250
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from openworld.scoring import metrics


@dataclass(frozen=True)
class Score:
    """One score of a run.

    Attributes:
        key: its key in ``summary.json``, inside its ``section``.
        section: where the summary keeps it: ``"survival"`` (``summary["survival"][key]``), ``"run"``
            (``summary[key]``) or ``"shift"`` (``summary["shifts"][i][key]``, one per shift).
        computed_by: the function of :mod:`openworld.scoring.metrics` that computes it.
        higher_is_better: its direction: True if a higher value is better.
        title: its column title in the report's tables.
        digits: decimals of its cells in the report's tables.
        label: its name in the summary printed at the end of a run.
        format: the format spec of one run's value there (and in the live log).
        optional: it may be None (e.g. no regime recurs): then it is left out of aggregates and printed
            on a line of its own only when present.
    """

    key: str
    section: Literal["survival", "run", "shift"]
    computed_by: Callable[..., Any]
    higher_is_better: bool
    title: str
    digits: int
    label: str
    format: str
    optional: bool = False

    def of_run(self, summary: Mapping[str, Any]) -> Any:
        """This score's value in a run summary (a ``survival`` or ``run`` score); None if absent."""
        if self.section == "survival":
            return summary["survival"].get(self.key)
        if self.section == "run":
            return summary.get(self.key)
        raise ValueError(f"{self.key} is scored per shift: read it from each of summary['shifts']")


ALIVE_FRACTION = Score("alive_fraction", "survival", metrics.survival_from_counts, True, "alive fraction", 3,
                       "alive fraction", ".3f")
DEATHS_PER_10K = Score("deaths_per_10k", "survival", metrics.survival_from_counts, False, "deaths / 10k steps", 3,
                       "deaths per 10k", ".2f")
MEAN_LIFETIME = Score("mean_lifetime", "survival", metrics.survival_from_counts, True, "mean lifetime", 3,
                      "mean lifetime", ",.0f")
MEAN_WELLBEING = Score("mean_wellbeing", "run", metrics.mean_wellbeing, True, "mean wellbeing", 3, "mean wellbeing",
                       ".3f")
FORGETTING = Score("forgetting", "run", metrics.forgetting, False, "forgetting", 3, "forgetting", "+.3f",
                   optional=True)
DROP = Score("drop", "shift", metrics.shift_metrics, False, "drop", 3, "drop", "+.3f")
RECOVERY_TIME = Score("recovery_time", "shift", metrics.shift_metrics, False, "recovery time", 0, "recovery", ",")
REGRET = Score("regret", "shift", metrics.shift_metrics, False, "regret", 1, "regret", ",.1f")

SCORES: tuple[Score, ...] = (ALIVE_FRACTION, DEATHS_PER_10K, MEAN_LIFETIME, MEAN_WELLBEING, FORGETTING, DROP,
                             RECOVERY_TIME, REGRET)
"""Every score, in the order the report's tables show them."""

SURVIVAL_SCORES: tuple[Score, ...] = tuple(s for s in SCORES if s.section == "survival")
"""The keys of ``summary["survival"]``, in order."""

RUN_SCORES: tuple[Score, ...] = tuple(s for s in SCORES if s.section in ("survival", "run"))
"""One value per run: the report's survival table."""

SHIFT_SCORES: tuple[Score, ...] = tuple(s for s in SCORES if s.section == "shift")
"""One value per shift: the report's shift table."""


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The short table printed at the end of a run: who and how long, the run's scores, then each shift's
    baseline, drop and recovery (``>=`` the observed steps when censored), then the optional scores.

    The runner prints these lines followed by the run directory and the report's path.
    """
    bodies = int(summary.get("num_bodies", 1))
    lines = [f"{summary['world']} / {summary['agent']} / seed {summary['seed']}: {summary['steps']:,} world steps "
             f"x {bodies} bod{'ies' if bodies > 1 else 'y'}"]
    always = [s for s in RUN_SCORES if not s.optional]
    lines.append("  " + "   ".join(f"{s.label} {_run_value(summary, s):{s.format}}" for s in always))
    if summary["shifts"]:
        lines.append(f"  {'t':>7}  {'shift':<24} {'baseline':>8} {DROP.label:>7} {RECOVERY_TIME.label:>10}")
        for shift in summary["shifts"]:
            recovery = f">={shift['observed_steps']:,}" if shift["censored"] else \
                f"{shift[RECOVERY_TIME.key]:{RECOVERY_TIME.format}}"
            label = f"{shift['kind']}:{shift.get('name', '')}"
            lines.append(f"  {shift['t']:>7,}  {label:<24} {shift['baseline']:>8.3f} "
                         f"{format(shift[DROP.key], DROP.format):>7} {recovery:>10}")
    for score in (s for s in RUN_SCORES if s.optional):
        value = score.of_run(summary)
        if value is not None:
            lines.append(f"  {score.label} {value:{score.format}}")
    return lines


def live_line(interval: Mapping[str, float]) -> str:
    """The scores of one interval of the live log, e.g. ``alive 0.950  wellbeing 0.480``.

    Args:
        interval: the interval's ``alive_fraction`` and (mean) ``wellbeing``, as the runner logs them.
    """
    return (f"alive {interval['alive_fraction']:{ALIVE_FRACTION.format}}  "
            f"wellbeing {interval['wellbeing']:{MEAN_WELLBEING.format}}")


def _run_value(summary: Mapping[str, Any], score: Score) -> Any:
    # A summary without mean wellbeing (written before it was scored) prints 0, as it always has.
    return summary["survival"][score.key] if score.section == "survival" else summary.get(score.key, 0)
