"""Scoring a recording: :func:`summarize` reads a run directory and writes its ``summary.json``.

The scores are those of :mod:`openworld.scoring.scores`, computed by :mod:`openworld.scoring.metrics`
on each body's stream (per-step rows, or windows of the recording) and on the mean stream over bodies.
The contract of ``summary.json`` is written out in ``docs/scoring.md``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from openworld.files import atomic_write_text
from openworld.scoring import metrics
from openworld.scoring.labels import shift_events
from openworld.scoring.reading import Recording, read_recording
from openworld.scoring.scores import SURVIVAL_SCORES
from openworld.scoring.storage import SUMMARY_FILE

CURVE_POINTS: int = 512
"""At most this many points of the mean wellbeing curve kept in ``summary.json`` for plots."""


def summarize(directory: str | os.PathLike[str], *, window: int = metrics.DEFAULT_WINDOW,
              tolerance: float = metrics.DEFAULT_TOLERANCE, write: bool = True,
              **facts: Any) -> dict[str, Any]:
    """Score a recording and write ``summary.json`` (atomically) into its directory.

    The top level follows the run summary contract of ``docs/metrics.md`` and is scored on **all
    bodies together**, over the world-clock range that every body recorded: the shift scores and
    forgetting on the mean wellbeing stream (mean over bodies at each clock), survival as the mean
    over bodies of each body's survival scores. ``"bodies"`` holds the same record for each body over
    its whole stream. With one body the top level is that body's record. See ``docs/scoring.md``.

    A shift's ``t`` is its world clock (not a stream index); each shift also carries its ``name``
    and ``observed_steps`` (steps until the next shift or the end: the censoring time).

    Args:
        directory: the run directory.
        window: ``W`` of the shift scores and forgetting, in world steps; in window mode a multiple
            of the recording window.
        tolerance: ``eps`` of the recovery test.
        write: write ``summary.json``.
        **facts: ``world``, ``agent``, ``seed``, ``variant``... overriding the monitor's metadata.

    Returns:
        The summary dict (plain JSON values).

    Raises:
        ValueError: if ``world``, ``agent`` or ``seed`` is unknown, the recording is empty or has a
            hole, or ``window`` does not fit the recording.
        TypeError: if ``seed`` is not an integer.
    """
    recording = read_recording(directory)
    facts = {**recording.metadata, **facts}
    missing = [key for key in ("world", "agent", "seed") if key not in facts]
    if missing:
        raise ValueError(f"{directory}: the summary needs {missing}; give them to Monitor(metadata=...) or "
                         "to summarize(...)")
    if isinstance(facts["seed"], bool) or not isinstance(facts["seed"], (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {facts['seed']!r}")
    if len(recording) == 0:
        raise ValueError(f"{directory}: the recording has no finished chunk yet")
    step = recording.window
    if window % step:
        raise ValueError(f"window={window} must be a multiple of the recording window ({step})")
    streams = [_BodyStream.of(recording, b) for b in range(recording.num_bodies)]
    streams = [s for s in streams if s.t.size]
    first = max(s.t[0] // step for s in streams)
    last = min(s.t[-1] // step for s in streams)
    if last < first:
        raise ValueError(f"{directory}: the bodies' streams share no world time")
    common = [s.between(first, last) for s in streams]
    top = _score(_BodyStream.mean(common), window, tolerance, survival=_mean_survival(common))
    summary: dict[str, Any] = {
        "steps": top.pop("steps"), "world": str(facts["world"]), "agent": str(facts["agent"]),
        "seed": int(facts["seed"]), **top}
    extra = {key: value for key, value in facts.items() if key not in summary}
    summary.update(extra)
    summary.update({"num_bodies": len(streams), "window": window, "tolerance": tolerance,
                    "recording": {"mode": recording.mode, "window": recording.window, "closed": recording.closed}})
    summary["bodies"] = [{"body": s.body, **_score(s, window, tolerance)} for s in streams]
    summary["wellbeing_curve"] = _curve(_BodyStream.mean(common))
    if write:
        atomic_write_text(Path(directory) / SUMMARY_FILE, json.dumps(summary, indent=1, allow_nan=False))
    return summary


@dataclass
class _BodyStream:
    """One body's rows (or the mean over bodies), in the form both recording modes share."""

    body: int
    width: int  # world steps per row slot (the recording window)
    t: npt.NDArray[np.int64]  # first clock of each row
    steps: npt.NDArray[np.int64]
    alive_steps: npt.NDArray[np.float64]
    deaths: npt.NDArray[np.int64]
    alive_last: npt.NDArray[np.bool_]
    wellbeing: npt.NDArray[np.float64]  # mean over the row's steps
    regime: npt.NDArray[np.int32]
    shift: npt.NDArray[np.int32]
    shift_labels: tuple[str, ...]
    alive: npt.NDArray[np.bool_] | None = None  # step mode only: exact per-step alive

    @classmethod
    def of(cls, recording: Recording, body: int) -> _BodyStream:
        rows = recording.body(body)
        t = rows["t"].astype(np.int64)
        if recording.mode == "step":
            steps = np.ones(t.size, np.int64)
            alive = rows["alive"]
            stream = cls(body, 1, t, steps, alive.astype(np.float64), rows["died"].astype(np.int64), alive,
                         rows["wellbeing"].astype(np.float64), rows["regime"], rows["shift"],
                         recording.shift_labels, alive)
        else:
            steps = rows["steps"].astype(np.int64)
            stream = cls(body, recording.window, t, steps, rows["alive_steps"].astype(np.float64),
                         rows["deaths"].astype(np.int64), rows["alive_last"], rows["wellbeing"].astype(np.float64),
                         rows["regime"], rows["shift"], recording.shift_labels)
        holes = np.flatnonzero(t[1:] != t[:-1] + steps[:-1])
        if holes.size:
            raise ValueError(f"{recording.directory}: body {body}'s stream has a hole after world clock "
                             f"{int(t[holes[0]] + steps[holes[0]] - 1)}")
        return stream

    def between(self, first: int, last: int) -> _BodyStream:
        """The rows whose slot (``t // width``) lies in ``[first, last]``."""
        slot = self.t // self.width
        lo, hi = int(np.searchsorted(slot, first)), int(np.searchsorted(slot, last, "right"))
        rows: dict[str, Any] = {name: value[lo:hi] for name, value in self.__dict__.items()
                                if isinstance(value, np.ndarray)}
        return dataclasses.replace(self, **rows)

    @classmethod
    def mean(cls, streams: Sequence[_BodyStream]) -> _BodyStream:
        """The mean wellbeing stream of aligned streams (survival fields of the first; unused)."""
        if len(streams) == 1:
            return streams[0]
        base = streams[0]
        wellbeing = np.mean([s.wellbeing for s in streams], axis=0)
        return _BodyStream(-1, base.width, base.t, base.steps, base.alive_steps, base.deaths, base.alive_last,
                           wellbeing, base.regime, base.shift, base.shift_labels, base.alive)


def _survival(stream: _BodyStream) -> metrics.SurvivalScores:
    """``metrics.survival`` of the stream; in window mode the same formulas on the window sums."""
    if stream.alive is not None:
        return metrics.survival(stream.alive, stream.deaths.astype(bool))
    return metrics.survival_from_counts(int(stream.steps.sum()), float(stream.alive_steps.sum()),
                                        int(stream.deaths.sum()), int(stream.alive_last[-1]))


def _mean_survival(streams: Sequence[_BodyStream]) -> metrics.SurvivalScores:
    """The mean over bodies of each survival score."""
    each = [cast(Mapping[str, float], _survival(s)) for s in streams]
    return cast(metrics.SurvivalScores, {score.key: float(np.mean([s[score.key] for s in each]))
                                         for score in SURVIVAL_SCORES})


def _score(stream: _BodyStream, window: int, tolerance: float,
           survival: metrics.SurvivalScores | None = None) -> dict[str, Any]:
    """The contract's scores of one stream, shift times reported as world clocks."""
    width = stream.width
    rows = window // width
    events = shift_events(stream.shift, stream.shift_labels)
    times = [row for row, _, _, _ in events]
    shift_scores = metrics.shift_metrics(stream.wellbeing, times, [kind for _, _, kind, _ in events], rows, tolerance)
    end_clock = int(stream.t[-1] + stream.steps[-1])
    onsets = sorted({t for _, t, _, _ in events})
    shifts = []
    for score, (_, clock, kind, name) in zip(shift_scores, events, strict=True):
        later = [t for t in onsets if t > clock]
        shifts.append({"t": clock, "kind": kind, "name": name, "baseline": score["baseline"], "drop": score["drop"],
                       "recovery_time": None if score["recovery_time"] is None else score["recovery_time"] * width,
                       "censored": score["censored"], "regret": score["regret"] * width,
                       "observed_steps": (later[0] if later else end_clock) - clock})
    steps = int(stream.steps.sum())
    return {"steps": steps, "start": int(stream.t[0]),
            "survival": survival if survival is not None else _survival(stream),
            "shifts": shifts,
            "forgetting": metrics.forgetting(stream.wellbeing, stream.regime, rows),
            "mean_wellbeing": metrics.mean_wellbeing(stream.wellbeing, stream.steps)}


def _curve(stream: _BodyStream) -> dict[str, Any]:
    """Mean wellbeing in bins of ``width * 2**k`` world steps aligned to multiples of the bin."""
    total = int(stream.steps.sum())
    bin_steps = stream.width * 2 ** max(0, math.ceil(math.log2(max(1.0, total / stream.width / CURVE_POINTS))))
    key = stream.t // bin_steps
    keys, where = np.unique(key, return_inverse=True)
    weight = np.bincount(where, weights=stream.steps.astype(np.float64))
    value = np.bincount(where, weights=stream.wellbeing * stream.steps) / weight
    return {"bin": int(bin_steps), "t": (keys * bin_steps).tolist(), "wellbeing": np.round(value, 6).tolist()}
