"""Scores of held-out evaluation: each evaluated variant scored like a lifetime, and the generalization gap
between a run's training and held-out variants.

The runner (:mod:`openworld.runner.evaluation`) lets a frozen agent live stretches of world time, *spans*,
in fresh worlds of each variant, chosen so that they reach the variant's shifts. This module turns what
it saw into numbers, with the formulas of :mod:`openworld.scoring.metrics`:

* :func:`score_variant`: one variant's spans as the summary scores a lifetime (survival, mean wellbeing,
  and every shift inside a span with :func:`~openworld.scoring.metrics.shift_metrics` on the mean stream
  over the worlds), plus the same scores per *unit*: one world seed of the variant (worlds that share a
  seed are averaged, so that a seed lived twice is not counted twice).
* :func:`generalization_section`: the ``generalization`` section of ``summary.json``: the units of the
  training variants against those of the held-out variants, for each score in :data:`GAP_SCORES`.

Example:
    >>> import numpy as np
    >>> span = Span(start=0, seeds=[7], alive=np.ones((4, 1), bool), wellbeing=np.full((4, 1), 0.5),
    ...             deaths=np.zeros((4, 1), bool), onsets=[])
    >>> record = score_variant([span], window=2, tolerance=0.05)
    >>> record["alive_fraction"], record["mean_wellbeing"], record["units"]["seeds"]
    (1.0, 0.5, [7])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from openworld.scoring import metrics, stats
from openworld.scoring.summary import ALIVE, SHIFT_KEYS

GAP_SCORES: tuple[tuple[str, bool], ...] = (
    ("alive_fraction", True),
    ("mean_wellbeing", True),
    ("drop", False),
    ("deficit", False),
    ("alive_drop", False),
    ("alive_deficit", False),
)
"""The scores compared between training and held-out variants, with whether higher is better.

``drop`` (the first window) and ``deficit`` (the whole span after the onset) are the wellbeing scores of
:func:`~openworld.scoring.metrics.shift_metrics`, ``alive_drop`` and ``alive_deficit`` the same formulas on
the alive stream (the fraction of worlds alive), each averaged over a unit's shifts; they are compared only
when both splits have shifts."""

UNIT_SHIFT_SCORES: tuple[str, ...] = ("drop", "deficit")
"""The shift scores kept per unit, of wellbeing and (prefixed ``alive_``) of the alive stream."""


GAP_REPS: int = 500
"""Bootstrap resamples of a run's own gap intervals: fewer than the report's 2,000, because the
probability of improvement over 32 x 64 units takes about 2 s per 500 resamples and a run computes
four; the report aggregates the runs with its own ``reps``."""


@dataclass(frozen=True)
class Span:
    """What the frozen agent lived in one span of one variant: ``T`` steps of ``n`` worlds.

    Row ``i`` is the step that brought the world clocks to ``start + i`` (as the monitor records it);
    ``onsets`` are the schedule's ``(t, kind, name)`` with ``start <= t < start + T``.
    """

    start: int
    seeds: Sequence[int]
    alive: npt.NDArray[np.bool_]  # (T, n)
    wellbeing: npt.NDArray[np.float64]  # (T, n)
    deaths: npt.NDArray[np.bool_]  # (T, n)
    onsets: Sequence[tuple[int, str, str]]

    @property
    def steps(self) -> int:
        return int(self.alive.shape[0])

    def scored_onsets(self) -> list[tuple[int, int, str, str]]:
        """``(row, t, kind, name)`` of the onsets after the span's first row (a shift at the first
        recorded step has no baseline, and the lifetime's report leaves it out likewise)."""
        return [(t - self.start, t, kind, name) for t, kind, name in self.onsets if t - self.start >= 1]


def score_variant(spans: Sequence[Span], *, window: int, tolerance: float) -> dict[str, Any]:
    """One variant's scores over its spans, and per unit (world seed).

    Survival and mean wellbeing pool every span's steps; ``alive_fraction``, ``mean_wellbeing`` and
    ``deaths_per_10k`` at the top are means over the worlds (as the summary's are over bodies). Each
    shift is scored on the span's mean wellbeing stream over worlds (the summary's convention), with
    the scores of a summary's shift records (:data:`~openworld.scoring.summary.SHIFT_KEYS`, ``observed_steps``:
    steps from the onset to the next onset or the span's end, ``observed``, and the same scores of the mean
    alive stream, prefixed ``alive_``).

    Args:
        spans: the variant's spans, all with the same worlds (seeds in the same order).
        window: ``W`` of the shift scores.
        tolerance: ``eps`` of the return and adaptation bands.

    Returns:
        ``{"steps", "spans", "alive_fraction", "mean_wellbeing", "deaths_per_10k", "shifts", "units"}``;
        ``units`` holds ``seeds`` and, per unit, ``alive_fraction``, ``mean_wellbeing``, ``deaths_per_10k``,
        and ``drop``, ``deficit``, ``alive_drop`` and ``alive_deficit`` (means over the unit's shifts; None
        without shifts).

    Raises:
        ValueError: on no span, or spans whose worlds differ.
    """
    if not spans:
        raise ValueError("score_variant needs at least one span")
    seeds = list(spans[0].seeds)
    if any(list(span.seeds) != seeds for span in spans):
        raise ValueError("every span of a variant must have the same worlds (seeds in the same order)")
    alive = np.concatenate([span.alive for span in spans]).astype(bool)
    wellbeing = np.concatenate([span.wellbeing for span in spans]).astype(np.float64)
    deaths = np.concatenate([span.deaths for span in spans]).astype(bool)
    steps = alive.shape[0]
    per_world = {"alive_fraction": alive.mean(axis=0), "mean_wellbeing": wellbeing.mean(axis=0),
                 "deaths_per_10k": deaths.sum(axis=0) * metrics.DEATH_RATE_STEPS / steps}
    shifts: list[dict[str, Any]] = []
    # Each world's observed shift scores over all spans (an unobserved shift has none), for the units.
    unit_keys = [*UNIT_SHIFT_SCORES, *(ALIVE + key for key in UNIT_SHIFT_SCORES)]
    world_scores: dict[str, list[list[float]]] = {key: [[] for _ in seeds] for key in unit_keys}
    for span in spans:
        events = span.scored_onsets()
        if not events:
            continue
        rows = [row for row, _, _, _ in events]
        kinds = [kind for _, _, kind, _ in events]
        mean_scores = metrics.shift_metrics(span.wellbeing.mean(axis=1), rows, kinds, window, tolerance)
        alive_scores = metrics.shift_metrics(span.alive.mean(axis=1), rows, kinds, window, tolerance)
        for score, alive_score, (_, t, kind, name) in zip(mean_scores, alive_scores, events, strict=True):
            shifts.append({"t": t, "kind": kind, "name": name, **{key: score[key] for key in SHIFT_KEYS},  # type: ignore[literal-required]
                           "observed_steps": score["observed_steps"], "observed": score["observed"],
                           **{ALIVE + key: alive_score[key] for key in SHIFT_KEYS}})  # type: ignore[literal-required]
        for column in range(len(seeds)):
            for prefix, stream in (("", span.wellbeing[:, column]), (ALIVE, span.alive[:, column])):
                world = metrics.shift_metrics(stream.astype(np.float64), rows, kinds, window, tolerance)
                for key in UNIT_SHIFT_SCORES:
                    world_scores[prefix + key][column] += [s[key] for s in world if s[key] is not None]  # type: ignore[literal-required]
    units: dict[str, Any] = {"seeds": sorted(set(seeds))}
    for key, values in per_world.items():
        units[key] = _by_seed(seeds, values)
    for key, scores in world_scores.items():
        units[key] = _by_seed(seeds, np.array([np.mean(d) for d in scores])) if all(scores) else None
    return {"steps": steps, "spans": [[span.start, span.start + span.steps] for span in spans],
            **{key: float(np.mean(values)) for key, values in per_world.items()},
            "shifts": shifts, "units": units}


def _by_seed(seeds: Sequence[int], values: npt.NDArray[np.float64]) -> list[float]:
    """Mean of ``values`` over the worlds of each distinct seed, in sorted seed order."""
    column_seeds = np.asarray(seeds)
    return [float(np.mean(values[column_seeds == seed])) for seed in sorted(set(seeds))]


def generalization_section(records: Sequence[Mapping[str, Any]], *, reps: int = GAP_REPS,
                           confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0) -> dict[str, Any] | None:
    """The training variants against the held-out variants, from one evaluation's variant records.

    The sample units are the variants' world seeds (a record's ``units``), pooled over the variants of
    each split. For each score of :data:`GAP_SCORES` that both splits have: ``n`` and the ``mean`` of each
    split, the ``gap`` (train minus held-out, :func:`~openworld.scoring.metrics.generalization_gap`) with
    its bootstrap interval (:func:`~openworld.scoring.stats.mean_difference_ci`), and
    ``p_train_gt_heldout``, the probability that a training unit scores higher than a held-out one
    (:func:`~openworld.scoring.stats.probability_of_improvement`), with its interval.

    Args:
        records: variant records of one evaluation, each with ``variant``, ``split`` and ``units``.
        reps: bootstrap resamples.
        confidence: coverage of the intervals.
        seed: bootstrap seed.

    Returns:
        ``{"step", "train", "heldout", "unit", "confidence", "scores": {key: {...}}}``, or None when
        either the training or the held-out split has no record.
    """
    train = [r for r in records if r["split"] == "train"]
    heldout = [r for r in records if r["split"] != "train"]
    if not train or not heldout:
        return None
    scores: dict[str, Any] = {}
    for key, higher_is_better in GAP_SCORES:
        x = [v for r in train if r["units"].get(key) is not None for v in r["units"][key]]
        y = [v for r in heldout if r["units"].get(key) is not None for v in r["units"][key]]
        if not x or not y:
            continue
        gap, gap_low, gap_high = stats.mean_difference_ci(x, y, reps=reps, confidence=confidence, seed=seed)
        p, p_low, p_high = stats.probability_of_improvement(x, y, reps=reps, confidence=confidence, seed=seed)
        scores[key] = {"higher_is_better": higher_is_better,
                       "train": {"n": len(x), "mean": float(np.mean(x))},
                       "heldout": {"n": len(y), "mean": float(np.mean(y))},
                       "gap": metrics.generalization_gap(x, y), "gap_ci": [gap_low, gap_high],
                       "p_train_gt_heldout": p, "p_ci": [p_low, p_high]}
    return {"step": records[0].get("step"), "train": [str(r["variant"]) for r in train],
            "heldout": [str(r["variant"]) for r in heldout], "unit": "world seed of a variant",
            "confidence": confidence, "scores": scores}
