"""The scores of a run, declared once: where ``summary.json`` keeps each, what computes it, how it is shown.

Every reader of scores takes them from :data:`SCORES`: the summary (:func:`openworld.scoring.summary.summarize`),
the report's tables (:mod:`openworld.scoring.report`), the short table printed at the end of a run
(:func:`summary_lines`) and the live log (:func:`live_line`). To add a score, compute it in
:mod:`openworld.scoring.metrics`, write it into the summary, and declare it here.

Example:
    >>> [score.key for score in SCORES if score.section == "shift"]  # doctest: +NORMALIZE_WHITESPACE
    ['drop', 'deficit', 'plateau', 'adaptation_time', 'sustained_return', 'alive_drop', 'alive_deficit',
     'alive_adaptation_time', 'alive_sustained_return']
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
            (``summary[key]``), ``"shift"`` (``summary["shifts"][i][key]``, one per shift; None when the
            shift was unobserved) or ``"regime"`` (``summary["survival_by_regime"][name][key]``, one per
            regime).
        computed_by: the function of :mod:`openworld.scoring.metrics` that computes it.
        higher_is_better: its direction: True if a higher value is better.
        title: its column title in the report's tables.
        digits: decimals of its cells in the report's tables.
        label: its name in the summary printed at the end of a run.
        format: the format spec of one run's value there (and in the live log).
        optional: it may be None (e.g. no regime recurs): then it is left out of aggregates and printed
            on a line of its own only when present.
        censored_by: for a time (adaptation, sustained return), the key of the shift's flag that says it was not
            seen to happen (the value is then None; aggregates count it at the shift's ``observed_steps``, a lower
            bound). A time that is None without the flag is undefined (no plateau) and left out of aggregates.
    """

    key: str
    section: Literal["survival", "run", "shift", "regime"]
    computed_by: Callable[..., Any]
    higher_is_better: bool
    title: str
    digits: int
    label: str
    format: str
    optional: bool = False
    censored_by: str | None = None

    def of_run(self, summary: Mapping[str, Any]) -> Any:
        """This score's value in a run summary (a ``survival`` or ``run`` score); None if absent."""
        if self.section == "survival":
            return summary["survival"].get(self.key)
        if self.section == "run":
            return summary.get(self.key)
        raise ValueError(f"{self.key} is scored per {self.section}: read it from each of summary['shifts'] or "
                         "summary['survival_by_regime']")


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
DEFICIT = Score("deficit", "shift", metrics.shift_metrics, False, "deficit", 3, "deficit", ".3f")
PLATEAU = Score("plateau", "shift", metrics.shift_metrics, True, "plateau", 3, "plateau", ".3f")
ADAPTATION_TIME = Score("adaptation_time", "shift", metrics.shift_metrics, False, "adaptation time", 0, "adaptation",
                        ",", censored_by="adaptation_censored")
SUSTAINED_RETURN = Score("sustained_return", "shift", metrics.shift_metrics, False, "sustained return", 0, "return",
                         ",", censored_by="return_censored")
ALIVE_DROP = Score("alive_drop", "shift", metrics.shift_metrics, False, "alive drop", 3, "alive drop", "+.3f")
ALIVE_DEFICIT = Score("alive_deficit", "shift", metrics.shift_metrics, False, "alive deficit", 3, "alive deficit",
                      ".3f")
ALIVE_ADAPTATION_TIME = Score("alive_adaptation_time", "shift", metrics.shift_metrics, False, "alive adaptation time",
                              0, "alive adaptation", ",", censored_by="alive_adaptation_censored")
ALIVE_SUSTAINED_RETURN = Score("alive_sustained_return", "shift", metrics.shift_metrics, False,
                               "alive sustained return", 0, "alive return", ",", censored_by="alive_return_censored")
REGIME_ALIVE_FRACTION = Score("alive_fraction", "regime", metrics.survival_by_regime, True, "alive fraction", 3,
                              "alive fraction", ".3f")

SCORES: tuple[Score, ...] = (ALIVE_FRACTION, DEATHS_PER_10K, MEAN_LIFETIME, MEAN_WELLBEING, FORGETTING, DROP, DEFICIT,
                             PLATEAU, ADAPTATION_TIME, SUSTAINED_RETURN, ALIVE_DROP, ALIVE_DEFICIT,
                             ALIVE_ADAPTATION_TIME, ALIVE_SUSTAINED_RETURN, REGIME_ALIVE_FRACTION)
"""Every score, in the order the report's tables show them."""

SURVIVAL_SCORES: tuple[Score, ...] = tuple(s for s in SCORES if s.section == "survival")
"""The keys of ``summary["survival"]``, in order."""

RUN_SCORES: tuple[Score, ...] = tuple(s for s in SCORES if s.section in ("survival", "run"))
"""One value per run: the report's survival table."""

SHIFT_SCORES: tuple[Score, ...] = tuple(s for s in SCORES if s.section == "shift")
"""One value per shift: the report's shift table."""

REGIME_SCORES: tuple[Score, ...] = tuple(s for s in SCORES if s.section == "regime")
"""One value per regime: the report's table of survival by regime."""

PRINTED_SHIFT_SCORES: tuple[Score, ...] = (DROP, DEFICIT, PLATEAU, ADAPTATION_TIME, SUSTAINED_RETURN, ALIVE_DEFICIT,
                                           ALIVE_SUSTAINED_RETURN)
"""The shift scores of the table printed at the end of a run (after each shift's baseline)."""


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The short table printed at the end of a run: who and how long, where the world clocks went (when they
    ran past the lifetime's steps or apart), the run's scores, then each shift's baseline and scores (``>=`` the
    observed steps when censored; ``—`` and a note when unobserved) and the noise the times were measured
    against, then the optional scores.

    The runner prints these lines followed by the run directory and the report's path.
    """
    bodies = int(summary.get("num_bodies", 1))
    lines = [f"{summary['world']} / {summary['agent']} / seed {summary['seed']}: {summary['steps']:,} world steps "
             f"x {bodies} bod{'ies' if bodies > 1 else 'y'}"]
    lines += _clock_lines(summary)
    always = [s for s in RUN_SCORES if not s.optional]
    lines.append("  " + "   ".join(f"{s.label} {_run_value(summary, s):{s.format}}" for s in always))
    if summary["shifts"]:
        widths = [max(len(s.label), 10 if s.censored_by else 7) for s in PRINTED_SHIFT_SCORES]  # ">=29,396" fits
        lines.append(f"  {'t':>7}  {'shift':<24} {'baseline':>8} " +
                     " ".join(f"{s.label:>{w}}" for s, w in zip(PRINTED_SHIFT_SCORES, widths, strict=True)))
        window = summary.get("window")
        for shift in summary["shifts"]:
            label = f"{shift['kind']}:{shift.get('name', '')}"
            cells = " ".join(f"{_shift_value(shift, score):>{width}}"
                             for score, width in zip(PRINTED_SHIFT_SCORES, widths, strict=True))
            line = f"  {shift['t']:>7,}  {label:<24} {shift['baseline']:>8.3f} {cells}"
            if not shift.get("observed", True):
                seen = shift["observed_steps"]
                line += (f"   unobserved: {seen:,} step{'s' if seen != 1 else ''} after the onset" +
                         (f" (< W = {window:,})" if window else ""))
            lines.append(line)
        first = summary["shifts"][0]
        if first.get("noise") is not None:  # the same for every shift of the stream
            steps = f"{window:,}" if window else "W"
            lines.append(f"  noise of a {steps}-step mean: wellbeing {first['noise']:.3f}, alive fraction "
                         f"{first['alive_noise']:.3f} (the bands of the times are at least {metrics.NOISE_BAND:g} "
                         "times as wide)")
    for score in (s for s in RUN_SCORES if s.optional):
        value = score.of_run(summary)
        if value is not None:
            lines.append(f"  {score.label} {value:{score.format}}")
    return lines


def _clock_lines(summary: Mapping[str, Any]) -> list[str]:
    """Two lines on the world clocks when they ran past the lifetime's steps (``lifetime_steps``, written by
    ``openworld run``) or apart: a dead body's respawn delay is world time, so its world's clock runs on while
    the loop waits; the top level is scored over the clocks every body recorded. None otherwise."""
    start = int(summary.get("start", 1))
    last = start + int(summary["steps"]) - 1
    ends = [int(b["start"]) + int(b["steps"]) - 1 for b in summary.get("bodies", [])] or [last]
    lived = summary.get("lifetime_steps")
    if max(ends) == min(ends) and (lived is None or max(ends) <= int(lived)):
        return []
    reached = f"{min(ends):,}" if min(ends) == max(ends) else f"{min(ends):,}-{max(ends):,}"
    lived_text = f" in {int(lived):,} steps" if lived is not None else ""
    return [f"  world clocks reached {reached}{lived_text}: a dead body's respawn delay runs its world's clock on;",
            f"  scored over clocks {start:,}-{last:,}, which every body recorded (see docs/experiments.md)"]


def _shift_value(shift: Mapping[str, Any], score: Score) -> str:
    """One shift's printed cell: the value, ``>=`` the observed steps if censored, ``—`` if not scored."""
    if not shift.get("observed", True) or score.key not in shift:  # unobserved, or a summary from before the score
        return "—"
    if score.censored_by is not None and shift[score.censored_by]:
        return f">={shift['observed_steps']:,}"
    if shift[score.key] is None:  # undefined: an adaptation time (or plateau) of a regime too short for a plateau
        return "—"
    return format(shift[score.key], score.format)


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
