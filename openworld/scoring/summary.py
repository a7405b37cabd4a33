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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from openworld.files import atomic_write_text
from openworld.scoring import metrics
from openworld.scoring.labels import shift_events
from openworld.scoring.reading import Recording, RecordingReader
from openworld.scoring.scores import SURVIVAL_SCORES
from openworld.scoring.storage import SUMMARY_FILE

CURVE_POINTS: int = 512
"""At most this many points of the mean wellbeing and alive-fraction curves kept in ``summary.json`` for plots."""

SHIFT_KEYS: tuple[str, ...] = ("baseline", "drop", "deficit", "deficit_area", "plateau", "adaptation_time",
                               "adaptation_censored", "sustained_return", "return_censored", "noise")
"""The keys of :func:`~openworld.scoring.metrics.shift_metrics` that each shift record of a summary keeps, for
wellbeing and, prefixed with :data:`ALIVE`, for the alive fraction."""

STEP_KEYS: frozenset[str] = frozenset({"deficit_area", "adaptation_time", "sustained_return"})
"""The shift scores counted in steps (times and areas): scaled from recording windows to world steps."""

ALIVE = "alive_"
"""The prefix of a shift's scores on the alive-fraction stream (``alive_deficit``...)."""

BATCH_ROWS: int = 1 << 21
"""Rows of bodies' streams scored at once (about 60 MB with the streams built from them): the recording is read
one batch of bodies at a time. Measured by ``benchmarks/scoring_memory.py``."""

SCORED_COLUMNS: tuple[str, ...] = ("alive", "died", "steps", "alive_steps", "deaths", "alive_last", "wellbeing",
                                   "regime", "shift")
"""The columns scoring reads (those of the recording's mode): not the vitals."""

RAMPING = "~"
"""What a gradual shift's part of a regime label ends with while it ramps (``drought~``; see the shift kinds)."""


def summarize(directory: str | os.PathLike[str], *, window: int = metrics.DEFAULT_WINDOW,
              tolerance: float = metrics.DEFAULT_TOLERANCE, write: bool = True, batch_rows: int = BATCH_ROWS,
              **facts: Any) -> dict[str, Any]:
    """Score a recording and write ``summary.json`` (atomically) into its directory.

    The top level follows the run summary contract of ``docs/metrics.md`` and is scored on **all
    bodies together**, over the world-clock range that every body recorded: the shift scores and
    forgetting on the mean wellbeing stream (mean over bodies at each clock), survival as the mean
    over bodies of each body's survival scores. ``"bodies"`` holds the same record for each body over
    its whole stream. With one body the top level is that body's record. See ``docs/scoring.md``.

    A shift's ``t`` is its world clock (not a stream index); each shift carries its ``name``, the scores
    of :data:`SHIFT_KEYS` (times and areas in world steps), ``observed_steps`` (steps until the next shift
    or the end: the censoring time), ``observed`` (a full ``window`` after the onset was seen: else the
    scores are null), the same scores on the alive fraction (prefixed ``alive_``) and, for a gradual
    shift, ``ramp_end``.

    Args:
        directory: the run directory.
        window: ``W`` of the shift scores and forgetting, in world steps; in window mode a multiple
            of the recording window.
        tolerance: ``eps`` of the return and adaptation bands.
        write: write ``summary.json``.
        batch_rows: rows of bodies' streams held at once: the recording is read a few bodies at a time
            (every chunk once per batch), so memory is bounded by this and one chunk, not by the lifetime.
        **facts: ``world``, ``agent``, ``seed``, ``variant``... overriding the monitor's metadata.

    Returns:
        The summary dict (plain JSON values).

    Raises:
        ValueError: if ``world``, ``agent`` or ``seed`` is unknown, the recording is empty or has a
            hole, or ``window`` does not fit the recording.
        RecordingError: naming a chunk file that was truncated or altered after it was written.
        TypeError: if ``seed`` is not an integer.
    """
    reader = RecordingReader(directory, SCORED_COLUMNS)
    facts = {**reader.metadata, **facts}
    missing = [key for key in ("world", "agent", "seed") if key not in facts]
    if missing:
        raise ValueError(f"{directory}: the summary needs {missing}; give them to Monitor(metadata=...) or "
                         "to summarize(...)")
    if isinstance(facts["seed"], bool) or not isinstance(facts["seed"], (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {facts['seed']!r}")
    first_clock, last_clock, rows = reader.clock_ranges()
    if not rows.any():
        raise ValueError(f"{directory}: the recording has no finished chunk yet")
    step = reader.window
    if window % step:
        raise ValueError(f"window={window} must be a multiple of the recording window ({step})")
    present = np.flatnonzero(rows)
    first, last = int((first_clock[present] // step).max()), int((last_clock[present] // step).min())
    if last < first:
        raise ValueError(f"{directory}: the bodies' streams share no world time")
    scoring = _Scoring(first, last, window, tolerance)
    for start, stop in _batches(present, rows, batch_rows):
        for body, body_rows in reader.bodies(start, stop).items():
            scoring.add(_BodyStream.from_rows(body_rows, body, reader.mode, step, reader.directory,
                                              reader.shift_labels, reader.regime_names))
    summary = scoring.summary(facts, {"mode": reader.mode, "window": step, "closed": reader.closed})
    if write:
        atomic_write_text(Path(directory) / SUMMARY_FILE, json.dumps(summary, indent=1, allow_nan=False))
    return summary


def _batches(present: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], batch_rows: int) -> list[tuple[int, int]]:
    """Ranges ``[start, stop)`` of bodies holding at most ``batch_rows`` rows together (at least one body each)."""
    batches: list[tuple[int, int]] = []
    start, held = int(present[0]), 0
    for body in present.tolist():
        if held and held + int(rows[body]) > batch_rows:
            batches.append((start, body))
            start, held = body, 0
        held += int(rows[body])
    batches.append((start, int(present[-1]) + 1))
    return batches


class _Scoring:
    """The summary of bodies' streams added one at a time in body order: each body's record, the survival of its
    part in the common clock range ``[first, last]`` (in row slots), and the running sums of the mean stream."""

    def __init__(self, first: int, last: int, window: int, tolerance: float) -> None:
        self.first, self.last, self.window, self.tolerance = first, last, window, tolerance
        self.records: list[dict[str, Any]] = []
        self.common_survival: list[Mapping[str, float]] = []
        self.base: _BodyStream | None = None  # the first body's common part: the mean stream's clocks and labels
        self.wellbeing_sum: npt.NDArray[np.float64] | None = None
        self.alive_sum: npt.NDArray[np.float64] | None = None

    def add(self, stream: _BodyStream) -> None:
        common = stream.between(self.first, self.last)
        self.records.append({"body": stream.body, **_score(stream, self.window, self.tolerance)})
        self.common_survival.append(cast(Mapping[str, float], _survival(common)))
        if self.base is None or self.wellbeing_sum is None or self.alive_sum is None:
            self.base = common
            self.wellbeing_sum, self.alive_sum = common.wellbeing.copy(), common.alive_fraction.copy()
        else:  # summed in body order, as numpy's mean over the bodies' axis does: the same bits
            self.wellbeing_sum += common.wellbeing
            self.alive_sum += common.alive_fraction

    def mean_stream(self) -> _BodyStream:
        """The mean stream over the bodies added (the one body's own stream if there is one)."""
        assert self.base is not None and self.wellbeing_sum is not None and self.alive_sum is not None
        count = len(self.records)
        if count == 1:
            return self.base
        base = self.base
        return _BodyStream(-1, base.width, base.t, base.steps, self.alive_sum / count * base.steps, base.deaths,
                           base.alive_last, self.wellbeing_sum / count, base.regime, base.shift, base.shift_labels,
                           base.regime_names)

    def summary(self, facts: Mapping[str, Any], recording: dict[str, Any]) -> dict[str, Any]:
        """The summary dict, keys in the contract's order."""
        mean_stream = self.mean_stream()
        survival = cast(metrics.SurvivalScores, {score.key: float(np.mean([s[score.key] for s in self.common_survival]))
                                                 for score in SURVIVAL_SCORES})
        top = _score(mean_stream, self.window, self.tolerance, survival=survival)
        summary: dict[str, Any] = {
            "steps": top.pop("steps"), "world": str(facts["world"]), "agent": str(facts["agent"]),
            "seed": int(facts["seed"]), **top}
        summary.update({key: value for key, value in facts.items() if key not in summary})
        summary.update({"num_bodies": len(self.records), "window": self.window, "tolerance": self.tolerance,
                        "recording": recording})
        summary["bodies"] = self.records
        summary["wellbeing_curve"] = _curve(mean_stream, mean_stream.wellbeing, "wellbeing")
        summary["alive_curve"] = _curve(mean_stream, mean_stream.alive_fraction, "alive_fraction")
        return summary


def rescore(directory: str | os.PathLike[str], *, window: int | None = None,
            tolerance: float | None = None) -> dict[str, Any]:
    """Score a recording again with today's scores, keeping everything else its ``summary.json`` holds.

    For runs scored before a score was added or redefined: the recording is scored again by :func:`summarize`
    (with the summary's own ``window`` and ``tolerance`` unless given), and every key of the old summary that
    :func:`summarize` does not compute (``variant``, ``lifetime_steps``, the runner's ``evaluation`` and
    ``generalization`` sections...) is kept as it was. Those sections were computed from evaluation spans that
    are not recorded, so they keep the scores of their day.

    Raises:
        FileNotFoundError: if the directory has no ``summary.json`` (score it with :func:`summarize`).
    """
    path = Path(directory) / SUMMARY_FILE
    old = json.loads(path.read_text())
    fresh = summarize(directory, window=int(old["window"]) if window is None else window,
                      tolerance=float(old["tolerance"]) if tolerance is None else tolerance, write=False,
                      world=old["world"], agent=old["agent"], seed=old["seed"])
    summary = {**fresh, **{key: value for key, value in old.items() if key not in fresh}}
    atomic_write_text(path, json.dumps(summary, indent=1, allow_nan=False))
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
    regime_names: tuple[str, ...]
    alive: npt.NDArray[np.bool_] | None = None  # step mode only: exact per-step alive

    @property
    def alive_fraction(self) -> npt.NDArray[np.float64]:
        """The fraction of each row's world steps alive (0/1 for one body's step)."""
        fraction: npt.NDArray[np.float64] = self.alive_steps / self.steps
        return fraction

    @classmethod
    def of(cls, recording: Recording, body: int) -> _BodyStream:
        """Body ``body``'s stream in a recording read whole."""
        return cls.from_rows(recording.body(body), body, recording.mode, recording.window, recording.directory,
                             recording.shift_labels, recording.regime_names)

    @classmethod
    def from_rows(cls, rows: Mapping[str, npt.NDArray[Any]], body: int, mode: str, window: int, directory: Path,
                  shift_labels: tuple[str, ...], regime_names: tuple[str, ...]) -> _BodyStream:
        """A body's stream from its rows in clock order (:meth:`Recording.body`).

        Raises:
            ValueError: if the stream has a hole.
        """
        t = rows["t"].astype(np.int64)
        if mode == "step":
            steps = np.ones(t.size, np.int64)
            alive = rows["alive"]
            stream = cls(body, 1, t, steps, alive.astype(np.float64), rows["died"].astype(np.int64), alive,
                         rows["wellbeing"].astype(np.float64), rows["regime"], rows["shift"],
                         shift_labels, regime_names, alive)
        else:
            steps = rows["steps"].astype(np.int64)
            stream = cls(body, window, t, steps, rows["alive_steps"].astype(np.float64),
                         rows["deaths"].astype(np.int64), rows["alive_last"], rows["wellbeing"].astype(np.float64),
                         rows["regime"], rows["shift"], shift_labels, regime_names)
        holes = np.flatnonzero(t[1:] != t[:-1] + steps[:-1])
        if holes.size:
            raise ValueError(f"{directory}: body {body}'s stream has a hole after world clock "
                             f"{int(t[holes[0]] + steps[holes[0]] - 1)}")
        return stream

    def between(self, first: int, last: int) -> _BodyStream:
        """The rows whose slot (``t // width``) lies in ``[first, last]``."""
        slot = self.t // self.width
        lo, hi = int(np.searchsorted(slot, first)), int(np.searchsorted(slot, last, "right"))
        rows: dict[str, Any] = {name: value[lo:hi] for name, value in self.__dict__.items()
                                if isinstance(value, np.ndarray)}
        return dataclasses.replace(self, **rows)


def _survival(stream: _BodyStream) -> metrics.SurvivalScores:
    """``metrics.survival`` of the stream; in window mode the same formulas on the window sums."""
    if stream.alive is not None:
        return metrics.survival(stream.alive, stream.deaths.astype(bool))
    return metrics.survival_from_counts(int(stream.steps.sum()), float(stream.alive_steps.sum()),
                                        int(stream.deaths.sum()), int(stream.alive_last[-1]))


def _score(stream: _BodyStream, window: int, tolerance: float,
           survival: metrics.SurvivalScores | None = None) -> dict[str, Any]:
    """The contract's scores of one stream, shift times reported as world clocks."""
    width = stream.width
    rows = window // width
    events = shift_events(stream.shift, stream.shift_labels)
    times = [row for row, _, _, _ in events]
    kinds = [kind for _, _, kind, _ in events]
    wellbeing_scores = metrics.shift_metrics(stream.wellbeing, times, kinds, rows, tolerance)
    alive_scores = metrics.shift_metrics(stream.alive_fraction, times, kinds, rows, tolerance)
    end_clock = int(stream.t[-1] + stream.steps[-1])
    onsets = sorted({t for _, t, _, _ in events})
    shifts = []
    for score, alive, (row, clock, kind, name) in zip(wellbeing_scores, alive_scores, events, strict=True):
        later = [t for t in onsets if t > clock]
        record: dict[str, Any] = {"t": clock, "kind": kind, "name": name,
                                  **_in_steps(score, width),
                                  "observed_steps": (later[0] if later else end_clock) - clock,
                                  "observed": score["observed"],
                                  **{f"{ALIVE}{key}": value for key, value in _in_steps(alive, width).items()}}
        if kind == "gradual":
            record["ramp_end"] = _ramp_end(stream, row, name)
        shifts.append(record)
    steps = int(stream.steps.sum())
    return {"steps": steps, "start": int(stream.t[0]),
            "survival": survival if survival is not None else _survival(stream),
            "survival_by_regime": _survival_by_regime(stream),
            "shifts": shifts,
            "forgetting": metrics.forgetting(stream.wellbeing, stream.regime, rows),
            "mean_wellbeing": metrics.mean_wellbeing(stream.wellbeing, stream.steps)}


def _in_steps(score: metrics.ShiftScores, width: int) -> dict[str, Any]:
    """The scores of one shift (:data:`SHIFT_KEYS`), its times and areas counted in rows turned into world steps."""
    return {key: (score[key] * width if key in STEP_KEYS and score[key] is not None else score[key])  # type: ignore[literal-required]
            for key in SHIFT_KEYS}


def _ramp_end(stream: _BodyStream, row: int, name: str) -> int | None:
    """The world clock at which the gradual shift ``name`` (onset in ``row``) stops ramping: the first later row
    whose regime label no longer has ``name~``; None if it still ramps at the end of the stream."""
    ramping = np.array([f"{name}{RAMPING}" in label.split("+") for label in stream.regime_names], bool)
    done = np.flatnonzero(~ramping[stream.regime[row:]])
    return int(stream.t[row + done[0]]) if done.size else None


def _survival_by_regime(stream: _BodyStream) -> dict[str, metrics.RegimeSurvival]:
    """``metrics.survival_by_regime`` keyed by regime name (computed on the codes: sorting names is slow)."""
    by_code = metrics.survival_by_regime(stream.alive_fraction, stream.regime, stream.steps)
    return {stream.regime_names[int(code)]: scores for code, scores in by_code.items()}


def _curve(stream: _BodyStream, values: npt.NDArray[np.float64], name: str) -> dict[str, Any]:
    """``values`` (one per row: the mean wellbeing or alive fraction) in bins of ``width * 2**k`` world steps
    aligned to multiples of the bin, as ``{"bin", "t", name}``."""
    total = int(stream.steps.sum())
    bin_steps = stream.width * 2 ** max(0, math.ceil(math.log2(max(1.0, total / stream.width / CURVE_POINTS))))
    key = stream.t // bin_steps
    keys, where = np.unique(key, return_inverse=True)
    weight = np.bincount(where, weights=stream.steps.astype(np.float64))
    value = np.bincount(where, weights=values * stream.steps) / weight
    return {"bin": int(bin_steps), "t": (keys * bin_steps).tolist(), name: np.round(value, 6).tolist()}
