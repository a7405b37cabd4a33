"""Survival and adaptation scores computed from the recorded streams of one body.

Longer than 400 lines because it is the one reference of every formula, each with the docstring that
``docs/metrics.md`` follows; the argument checks and window sums are in :mod:`openworld.scoring.streams`.

Every function here is pure: it takes per-step arrays that the monitor recorded for a single body
in a single run and returns plain numbers. The caller loops over bodies and seeds, and aggregates
across seeds with :mod:`openworld.scoring.stats`. All functions are ``O(T)`` in the stream length ``T``
and vectorised (running sums, no Python loop over steps); loops run only over shifts or regime
visits.

Times are **indices into the recorded streams** (0-based). If a recording starts at world step
``s0``, subtract ``s0`` from shift times before calling these functions.

The exact formulas, parameters and edge-case conventions are written out in ``docs/metrics.md``.

Example:
    >>> import numpy as np
    >>> from openworld.scoring import metrics
    >>> alive = np.ones(8, dtype=bool)
    >>> vitals = np.array([[1.0]] * 4 + [[0.5]] * 4)  # one vital, halved at step 4
    >>> stream = metrics.wellbeing(alive, vitals, np.array([1.0]))
    >>> scores = metrics.shift_metrics(stream, [4], ["abrupt"], window=2)
    >>> scores[0]["drop"], scores[0]["return_censored"]
    (0.5, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from openworld.scoring import streams

DEFAULT_WINDOW: int = 1000
"""Window ``W`` (steps) of the windowed mean wellbeing ``m``.

Long enough to average over the eat/drink/rest cycles of a body (tens to a few hundred steps), so
that ``m`` measures a level of wellbeing rather than where the body happens to be in its cycle;
short compared with the spacing of shifts in the catalogue's schedules (tens of thousands of
steps), so that a baseline and a post-shift window fit inside one regime.
"""

DEFAULT_TOLERANCE: float = 0.05
"""Tolerance ``eps`` of the return and adaptation tests: back when ``m >= (1 - eps) * baseline``, settled when
``|m - plateau| <= eps * plateau``.

Five percent below the baseline counts as back to normal: tight enough that a lasting loss of
wellbeing is not called a return, loose enough that the ordinary step-to-step noise of a
windowed mean over ``W`` steps does not postpone it indefinitely.
"""

BASELINE_WINDOWS: int = 4
"""A shift's baseline is the mean over the ``BASELINE_WINDOWS * W`` steps before it (clipped at the previous shift).

Every score of a shift is measured against it, so its noise enters all of them. Measured: PPO at Blight's held-out
early blight had a mean wellbeing of 0.336 over steps 3,000-4,000 and 0.423 over 4,000-5,000; a one-window
baseline over the last 500 steps would have charged the shift with the whole difference. Four windows halve
the noise of one.
"""

PLATEAU_PARTS: int = 4
"""A regime's plateau is the mean over its last ``1 / PLATEAU_PARTS`` (defined from ``PLATEAU_PARTS * W`` steps).

The plateau stands for what the body achieves in the new regime once adapted: its level at the
regime's end. A quarter of the regime is long enough for a stable mean (at least ``W`` steps) and
late enough that an agent still adapting has mostly done so; a regime shorter than four windows has
no part that is both.
"""

NOISE_BAND: float = 3.0
"""The return and adaptation bands are at least this many times the noise of ``m`` (:func:`window_noise`) wide.

Measured on the catalogue (``benchmarks/shift_audit.py``): the ``W = 500``-step mean of the mean stream over 16
worlds fluctuates by 0.02-0.04 around its level, more than ``eps`` times a typical wellbeing level (0.05 x 0.45).
A band narrower than the noise turns "for good" into "until the noise last left the band": the forager, whose
Seasons regimes cost it 0.002-0.008, was timed at 4,500-8,800 steps to get back. Over the 20-80 independent
windows of a regime, three standard deviations are left by noise alone in about 5-20% of regimes; two would be in
most.
"""

NOISE_MIN_DIFFERENCES: int = 8
"""The noise of ``m`` is estimated from at least this many differences of successive W-block means; with fewer,
the median difference is mostly the signal's own steps, and the noise is taken as 0."""

DEATH_RATE_STEPS: int = 10_000
"""Deaths are reported per this many world steps (``deaths_per_10k``)."""

ROUNDING_SLACK: float = 1e-9
"""Absolute slack in the return and adaptation tests, absorbing rounding in the windowed means.

Windowed means are differences of running sums that restart every ``W`` steps, so their rounding
error stays around 1e-12 whatever the stream length. Without a slack a constant stream could
fail ``m >= (1 - eps) * baseline`` with ``eps = 0`` by one rounding error. Wellbeing lives in
[0, 1], so 1e-9 is far below any difference that matters.
"""


class SurvivalScores(TypedDict):
    """Survival part of a run summary (see :func:`survival`)."""

    alive_fraction: float
    deaths_per_10k: float
    mean_lifetime: float


class RegimeSurvival(TypedDict):
    """Survival in one regime (see :func:`survival_by_regime`)."""

    steps: int
    alive_fraction: float


class ShiftScores(TypedDict):
    """Scores of one shift (see :func:`shift_metrics`); the scores are None when the shift is unobserved."""

    t: int
    kind: str
    baseline: float
    drop: float | None
    deficit: float | None
    deficit_area: float | None
    plateau: float | None
    adaptation_time: int | None
    adaptation_censored: bool
    sustained_return: int | None
    return_censored: bool
    noise: float
    observed: bool
    observed_steps: int


FloatArray = streams.FloatArray


def wellbeing(
    alive: npt.ArrayLike, vitals: npt.ArrayLike, vital_max: npt.ArrayLike
) -> FloatArray:
    """Per-step wellbeing: the weakest vital as a fraction of its maximum, zero while dead.

    ``w_t = alive_t * clip(min_i(vitals[t, i] / vital_max[i]), 0, 1)``.

    Vitals of a dead body are ignored (they may be anything, even NaN).

    Args:
        alive: ``(T,)`` bool (or 0/1) stream, True where the body is alive after step ``t``.
        vitals: ``(T, K)`` float stream of the ``K`` vitals.
        vital_max: ``(K,)`` positive maxima of the vitals.

    Returns:
        ``(T,)`` float64 wellbeing in [0, 1].

    Raises:
        ValueError: on mismatched shapes, non-positive maxima, or non-finite vitals while alive.

    Example:
        >>> wellbeing([True, True, False], [[4.0, 9.0], [9.0, 1.0], [9.0, 9.0]], [8.0, 10.0])
        array([0.5, 0.1, 0. ])
    """
    alive_stream = streams.as_bool_stream(alive, "alive")
    vitals_array = np.asarray(vitals, dtype=np.float64)
    maxima = np.asarray(vital_max, dtype=np.float64)
    if maxima.ndim != 1 or maxima.size == 0:
        raise ValueError(f"vital_max must be a non-empty 1-D array, got shape {maxima.shape}")
    if not np.all(np.isfinite(maxima)) or np.any(maxima <= 0):
        raise ValueError(f"vital_max must be finite and positive, got {maxima.tolist()}")
    expected = (alive_stream.size, maxima.size)
    if vitals_array.shape != expected:
        raise ValueError(
            f"vitals must have shape (T, K) = {expected} to match alive and vital_max, "
            f"got {vitals_array.shape}"
        )
    fractions = vitals_array / maxima
    weakest = np.min(fractions, axis=1)
    if not np.all(np.isfinite(weakest[alive_stream])):
        first = int(np.flatnonzero(alive_stream & ~np.isfinite(weakest))[0])
        raise ValueError(f"vitals are not finite at step {first}, where the body is alive")
    return observed_wellbeing(alive_stream, fractions)


def observed_wellbeing(alive: npt.ArrayLike, vitals: npt.ArrayLike) -> FloatArray:
    """Wellbeing of vitals already given as fractions of their maxima, as bodies observe them.

    The formula of :func:`wellbeing` without its checks, for the hot paths that have the observed
    vitals (``obs["vitals"]``) at hand: the monitor (every recorded step), the demo and the runner's
    live log. ``w = alive * clip(min_i vitals[..., i], 0, 1)``; the vitals of a dead body are ignored.

    Args:
        alive: ``(n,)`` bool.
        vitals: ``(n, K)`` fractions of the vitals' maxima (any float dtype; float32 gives the same
            numbers as float64, as the result is exact in both).

    Returns:
        ``(n,)`` float64 wellbeing in [0, 1].

    Example:
        >>> observed_wellbeing([True, True, False], [[0.5, 0.9], [1.5, 1.25], [0.9, 0.9]])
        array([0.5, 1. , 0. ])
    """
    weakest = np.min(np.asarray(vitals, dtype=np.float64), axis=1)
    return np.where(np.asarray(alive, dtype=bool), np.clip(weakest, 0.0, 1.0), 0.0)


def windowed_mean(
    values: npt.ArrayLike,
    window: int = DEFAULT_WINDOW,
    boundaries: npt.ArrayLike = (),
) -> FloatArray:
    """Leading windowed mean ``m``, clipped at segment boundaries.

    ``m[t] = mean(values[t : end_t])`` with ``end_t = min(t + window, next boundary > t)``, where
    the boundaries are the given times plus the end of the stream ``T``. The window *starts* at
    ``t`` (it looks forward), so that one array serves all shift scores: the baseline of a shift at
    ``t_k`` is ``m`` at the start of the pre-shift window, and the drop is the baseline minus
    ``m[t_k]``. A window never crosses a boundary; near one it is shorter than ``window``.

    Args:
        values: ``(T,)`` finite stream, typically wellbeing.
        window: ``W >= 1``, in steps.
        boundaries: times in ``[0, T]`` (typically the shift times) that windows must not cross.

    Returns:
        ``(T,)`` float64 array ``m``.

    Example:
        >>> windowed_mean([0.0, 1.0, 1.0, 0.0], window=2, boundaries=[2])
        array([0.5, 1. , 0.5, 0. ])
    """
    stream = streams.as_float_stream(values, "values")
    window = streams.check_window(window)
    size = stream.size
    cuts = streams.as_times(boundaries, "boundaries", upper=size, allow_upper=True)
    stops = np.union1d(cuts, [size])
    starts = np.arange(size)
    next_stop = stops[np.searchsorted(stops, starts, side="right")]
    ends = np.minimum(starts + window, next_stop)
    means: FloatArray = streams.window_sums(stream, starts, ends, block=window) / (ends - starts)
    return means


def window_noise(values: npt.ArrayLike, window: int = DEFAULT_WINDOW, boundaries: npt.ArrayLike = ()) -> float:
    """The noise of a ``W``-step mean of the stream: how much it fluctuates around its local level.

    Each segment between boundaries is cut into whole ``W``-step blocks from its start; ``B_j`` are the block
    means and ``d`` the absolute differences of successive blocks of one segment (never across a boundary, so
    a shift's jump is no difference). The noise is the median absolute deviation estimate of the standard
    deviation of one block mean::

        noise = median(d) / (0.6745 * sqrt(2))

    (a difference of two independent block means has twice the variance of one; ``0.6745`` is the median of
    ``|z|`` for a standard normal ``z``). The median ignores the few large differences where a body adapts,
    and successive differences ignore slow trends. With fewer than :data:`NOISE_MIN_DIFFERENCES` differences
    the noise is 0.

    Args:
        values: ``(T,)`` finite stream, typically wellbeing.
        window: ``W >= 1``, in steps.
        boundaries: times in ``[0, T]`` (typically the shift times) that blocks must not cross.

    Returns:
        The noise, ``>= 0``.

    Example:
        >>> window_noise([0.5, 0.7] * 9, window=1) > 0, window_noise([0.5, 0.7] * 9, window=2)
        (True, 0.0)
    """
    stream = streams.as_float_stream(values, "values")
    window = streams.check_window(window)
    cuts = streams.as_times(boundaries, "boundaries", upper=stream.size, allow_upper=True)
    edges = np.union1d(cuts, [0, stream.size])
    differences = []
    for start, end in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        blocks = (end - start) // window
        if blocks >= 2:
            means = stream[start : start + blocks * window].reshape(blocks, window).mean(axis=1)
            differences.append(np.abs(np.diff(means)))
    if not differences or sum(d.size for d in differences) < NOISE_MIN_DIFFERENCES:
        return 0.0
    return float(np.median(np.concatenate(differences)) / (0.6745 * np.sqrt(2.0)))


def survival(alive: npt.ArrayLike, deaths: npt.ArrayLike | None = None) -> SurvivalScores:
    """Fraction of time alive, deaths per 10,000 steps and mean lifetime of one body.

    - ``alive_fraction = (alive steps) / T``.
    - A death is an alive -> dead transition (``alive[t-1] and not alive[t]``), or, if ``deaths``
      is given, a True entry of it (use this when a body can die and respawn within one step).
      A stream that starts dead does not count a death at ``t = 0``.
      ``deaths_per_10k = 10_000 * deaths / T``.
    - ``mean_lifetime = (alive steps) / lives`` with ``lives = deaths + (1 if alive at the end)``:
      the mean length of the body's lives, where the last life, still running when the stream
      ends, counts at its observed length (a lower bound, since it is censored). A body dead
      throughout has ``mean_lifetime = 0.0``. Never NaN.

    Args:
        alive: ``(T,)`` bool (or 0/1) stream, ``T >= 1``.
        deaths: optional ``(T,)`` bool (or 0/1) stream, True at the steps where the body died.

    Returns:
        ``{"alive_fraction", "deaths_per_10k", "mean_lifetime"}`` as plain floats.

    Raises:
        ValueError: on empty or mismatched streams, or a ``deaths`` stream that records no death
            although the body was alive and ends dead.

    Example:
        >>> survival([True, True, False, True])
        {'alive_fraction': 0.75, 'deaths_per_10k': 2500.0, 'mean_lifetime': 1.5}
    """
    alive_stream = streams.as_bool_stream(alive, "alive")
    steps = alive_stream.size
    if deaths is None:
        death_count = int(np.count_nonzero(alive_stream[:-1] & ~alive_stream[1:]))
    else:
        death_stream = streams.as_bool_stream(deaths, "deaths")
        if death_stream.size != steps:
            raise ValueError(
                f"deaths has {death_stream.size} steps but alive has {steps}; "
                "record both for every step"
            )
        death_count = int(np.count_nonzero(death_stream))
    alive_steps = int(np.count_nonzero(alive_stream))
    if alive_steps > 0 and death_count == 0 and not alive_stream[-1]:
        raise ValueError(
            "the deaths stream records no death, yet the body is alive at some step and dead "
            "at the end; pass deaths=None to count alive -> dead transitions instead"
        )
    return survival_from_counts(steps, alive_steps, death_count, int(alive_stream[-1]))


def survival_from_counts(steps: int, alive_steps: float, deaths: int, alive_at_end: int) -> SurvivalScores:
    """The survival scores of :func:`survival` from the counts they are made of.

    The one place their formulas live: :func:`survival` counts a stream, the summary of a windowed
    recording sums its windows, a live log sums an interval of world time. Counts may pool several
    bodies (then ``mean_lifetime`` is the mean length of all their lives).

    Args:
        steps: world steps observed, ``>= 1`` (of every body, if pooled).
        alive_steps: steps alive among them.
        deaths: deaths among them.
        alive_at_end: bodies alive at the last step (0 or 1 for one body): each ends a life still
            running, which counts at its observed length.

    Returns:
        ``{"alive_fraction", "deaths_per_10k", "mean_lifetime"}`` as plain floats;
        ``mean_lifetime`` is 0.0 without an alive step.

    Raises:
        ValueError: if there are alive steps but no life (no death and no body alive at the end).

    Example:
        >>> survival_from_counts(4, 3, 1, 1)
        {'alive_fraction': 0.75, 'deaths_per_10k': 2500.0, 'mean_lifetime': 1.5}
    """
    lives = deaths + alive_at_end
    if alive_steps > 0 and lives == 0:
        raise ValueError("inconsistent counts: alive at some step, dead at the end, and no death")
    return {
        "alive_fraction": alive_steps / steps,
        "deaths_per_10k": DEATH_RATE_STEPS * deaths / steps,
        "mean_lifetime": float(alive_steps / lives) if alive_steps > 0 else 0.0,
    }


def mean_wellbeing(wellbeing: npt.ArrayLike, steps: npt.ArrayLike) -> float:
    """Mean wellbeing over world time of rows that each cover ``steps`` world steps.

    Args:
        wellbeing: ``(R,)`` mean wellbeing of each row (per-step wellbeing when every row is one step).
        steps: ``(R,)`` world steps of each row.

    Example:
        >>> mean_wellbeing([1.0, 0.25], [1, 3])
        0.4375
    """
    weights = np.asarray(steps)
    return float(np.sum(np.asarray(wellbeing) * weights) / int(weights.sum()))


def survival_by_regime(
    alive: npt.ArrayLike, regimes: npt.ArrayLike, steps: npt.ArrayLike | None = None
) -> dict[str, RegimeSurvival]:
    """Alive fraction of the world time spent in each regime.

    ``alive_fraction(r) = sum(steps_t * alive_t) / sum(steps_t)`` over the rows ``t`` whose regime
    is ``r``, and ``steps(r) = sum(steps_t)``: the world steps spent in ``r`` (all its visits
    together). ``alive_t`` is 0/1 for one body's step, or the fraction of a row's steps alive (a
    recording window, or the mean over bodies).

    Args:
        alive: ``(R,)`` alive flag or fraction in [0, 1] of each row.
        regimes: ``(R,)`` regime name of each row (e.g. ``regime_name(t)``).
        steps: ``(R,)`` world steps of each row; one each if None.

    Returns:
        ``{regime: {"steps", "alive_fraction"}}``, in order of first appearance.

    Example:
        >>> survival_by_regime([1, 1, 0, 1], ["base", "base", "winter", "winter"])
        {'base': {'steps': 2, 'alive_fraction': 1.0}, 'winter': {'steps': 2, 'alive_fraction': 0.5}}
    """
    fraction = streams.as_float_stream(alive, "alive")
    if np.any((fraction < 0.0) | (fraction > 1.0)):
        raise ValueError("alive must be flags or fractions in [0, 1]")
    names = np.asarray(regimes)
    weights = np.ones(fraction.size) if steps is None else np.asarray(steps, dtype=np.float64)
    if names.shape != fraction.shape or weights.shape != fraction.shape:
        raise ValueError(f"alive {fraction.shape}, regimes {names.shape} and steps {weights.shape} must match")
    labels, first, where = np.unique(names, return_index=True, return_inverse=True)
    spent = np.bincount(where, weights=weights)
    lived = np.bincount(where, weights=weights * fraction)
    return {str(labels[i]): {"steps": int(spent[i]), "alive_fraction": float(lived[i] / spent[i])}
            for i in np.argsort(first)}


def shift_metrics(
    wellbeing: npt.ArrayLike,
    shift_times: npt.ArrayLike,
    shift_kinds: Sequence[str],
    window: int = DEFAULT_WINDOW,
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[ShiftScores]:
    """What each shift cost, and how the body adapted: drop, deficit, adaptation time, sustained return.

    The shift times cut the stream into segments (regimes); ``m`` is :func:`windowed_mean` with the
    shift times as boundaries, so no window mixes two regimes. For the shift at ``t_k``, with ``p_k``
    the latest shift time before ``t_k`` (0 if none) and ``e_k`` the next shift time after it
    (``T`` if none):

    - ``observed_steps n_k = e_k - t_k``: the steps seen in the new regime. ``observed = n_k >= W``:
      only then is a full ``W``-step window seen after the onset. An **unobserved** shift has every
      score None and both censoring flags True: a mean over a partial window (a shift in the last
      steps of a run) would be scored as if it were the regime's level.
    - ``baseline b_k``: the mean of the stream over ``[max(t_k - 4 W, p_k), t_k)``
      (:data:`BASELINE_WINDOWS`), the level before the shift, clipped at the previous shift. For
      ``t_k = 0`` there is no earlier step: the baseline is ``m[0]``, the post-shift mean itself.
    - The **candidates** ``C_k = [t_k, e_k - W]``: every step whose ``W``-step window fits in the
      regime. ``m`` is read there only, so a few steps just before the next shift (a window cut
      short) never count as a level.
    - ``drop = b_k - m[t_k]``: the first window's shock. Negative when the body does better at once.
    - ``deficit = mean over C_k of max(0, b_k - m_t)``: the mean shortfall below the pre-shift level
      over the whole regime, which sees a cost that arrives late; 0 for a windfall.
      ``deficit_area = deficit * n_k``: the wellbeing x steps the regime cost.
    - ``plateau P_k``: the mean of the stream over the regime's last ``floor(n_k / 4)`` steps,
      defined when ``n_k >= 4 W`` (:data:`PLATEAU_PARTS`); None for a shorter regime.
    - ``noise``: :func:`window_noise` of the stream (the same for every shift).
    - The two times are **settling times**, tested on the running means from a start ``t_k + tau``:
      at the horizons ``l = W, 2 W, 4 W, ...`` that fit in the regime and at the rest of it
      (``l = n_k - tau``), the mean of the stream over ``[t_k + tau, t_k + tau + l)`` must lie in
      the band, whose half-width is ``h(l) = max(eps * reference, NOISE_BAND * noise * sqrt(W / l))``
      (plus :data:`ROUNDING_SLACK`): the tolerance, or the noise expected of an ``l``-step mean if
      larger. The time is the smallest ``tau`` from which every horizon passes, searched up to
      ``n_k - max(W, floor(n_k / 4))``: at least the regime's last quarter (the plateau's span) must
      confirm it, since near the end only short, noisy horizons would be left. **Censored** (None,
      and its flag True) when there is none: not settled, or not back, by the last quarter.
    - ``adaptation_time``: settled into the plateau: ``|mean - P_k| <= h(l)``, reference ``P_k``.
      Censored when the body is still changing when the regime ends; None, not censored, without
      a plateau.
    - ``sustained_return``: back to the pre-shift level for good: ``mean >= b_k - h(l)``, reference
      ``b_k``. A baseline of 0 (a body dead throughout) has nothing to return to: 0.

    Shifts at the same time share their segment and get the same scores. The same function scores
    any stream in [0, 1]: the run summary also applies it to the alive fraction (``alive_deficit``...).

    Args:
        wellbeing: ``(T,)`` stream in [0, 1] (see :func:`wellbeing`), ``T >= 1``.
        shift_times: non-decreasing integer times in ``[0, T)``.
        shift_kinds: one label per shift time (e.g. ``"abrupt"``), copied into the output.
        window: ``W >= 1``, in steps.
        tolerance: ``eps`` in ``[0, 1)``, of the return and the adaptation bands.

    Returns:
        One dict per shift, in input order, with exactly the keys of :class:`ShiftScores` (plain
        Python values).

    Raises:
        ValueError: on invalid streams, times, kinds, window or tolerance.

    Example:
        >>> scores = shift_metrics([1.0, 1.0, 0.0, 0.0, 1.0, 1.0], [2], ["abrupt"], window=2)
        >>> first = scores[0]
        >>> first["baseline"], first["drop"], first["deficit"], first["sustained_return"]
        (1.0, 1.0, 0.5, 2)
        >>> late = shift_metrics([1.0, 1.0, 1.0, 0.0], [3], ["abrupt"], window=2)[0]
        >>> late["observed"], late["observed_steps"], late["drop"], late["sustained_return"], late["return_censored"]
        (False, 1, None, None, True)
    """
    stream = streams.as_wellbeing_stream(wellbeing)
    window = streams.check_window(window)
    streams.check_tolerance(tolerance)
    size = stream.size
    times = streams.as_times(shift_times, "shift_times", upper=size, allow_upper=False)
    if np.any(np.diff(times) < 0):
        raise ValueError(f"shift_times must be non-decreasing, got {times.tolist()}")
    kinds = [str(kind) for kind in shift_kinds]
    if len(kinds) != times.size:
        raise ValueError(
            f"got {times.size} shift_times but {len(kinds)} shift_kinds; give one kind per shift"
        )

    means = windowed_mean(stream, window, boundaries=times)
    noise = window_noise(stream, window, times)
    distinct = np.unique(times)
    records: list[ShiftScores] = []
    for shift_time, kind in zip(times.tolist(), kinds, strict=True):
        position = int(np.searchsorted(distinct, shift_time))
        previous = int(distinct[position - 1]) if position > 0 else 0
        segment_end = int(distinct[position + 1]) if position + 1 < distinct.size else size
        baseline_start = max(shift_time - BASELINE_WINDOWS * window, previous)
        baseline = (float(np.mean(stream[baseline_start:shift_time])) if baseline_start < shift_time
                    else float(means[shift_time]))
        observed_steps = segment_end - shift_time
        record: ShiftScores = {
            "t": shift_time, "kind": kind, "baseline": baseline, "drop": None, "deficit": None,
            "deficit_area": None, "plateau": None, "adaptation_time": None, "adaptation_censored": True,
            "sustained_return": None, "return_censored": True, "noise": noise, "observed": False,
            "observed_steps": observed_steps}
        records.append(record)
        if observed_steps < window:  # no full window after the onset: nothing to score but the baseline
            continue
        regime = stream[shift_time:segment_end]
        candidates = means[shift_time : segment_end - window + 1]
        deficit = float(np.mean(np.maximum(0.0, baseline - candidates)))
        running = _running_means(regime, window)
        returned = _settling_time(running, baseline, tolerance * baseline, NOISE_BAND * noise, window,
                                  two_sided=False)
        record["observed"] = True
        record["drop"] = baseline - float(means[shift_time])
        record["deficit"] = deficit
        record["deficit_area"] = deficit * observed_steps
        record["sustained_return"] = returned
        record["return_censored"] = returned is None
        record["adaptation_censored"] = False  # undefined without a plateau, not censored
        if observed_steps >= PLATEAU_PARTS * window:
            plateau = float(np.mean(regime[observed_steps - observed_steps // PLATEAU_PARTS :]))
            settled = _settling_time(running, plateau, tolerance * plateau, NOISE_BAND * noise, window,
                                     two_sided=True)
            record["plateau"] = plateau
            record["adaptation_time"] = settled
            record["adaptation_censored"] = settled is None
    return records


RunningMeans = list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]]
"""``(starts, lengths, means)`` per horizon (:func:`_running_means`)."""


def _running_means(regime: FloatArray, window: int) -> RunningMeans:
    """The running means the settling times test, computed once for both: for every start ``tau`` in
    ``[0, n - max(W, n // 4)]``, the mean of ``regime`` over the next ``l`` steps at each horizon
    ``l = W, 2 W, 4 W, ...`` that fits, and over the rest of the regime (the last entry, which has every start).
    """
    size = regime.size
    starts = np.arange(size - max(window, size // PLATEAU_PARTS) + 1)
    horizons: RunningMeans = []
    horizon = window
    while horizon <= size:
        first = starts[starts + horizon <= size]
        # Blocks of the horizon's length: the sums' rounding does not grow with the regime (streams.window_sums).
        sums = streams.window_sums(regime, first, first + horizon, block=horizon)
        horizons.append((first, np.full(first.size, horizon), sums / horizon))
        horizon *= 2
    # The rest of the regime: at least its last quarter, so one running sum is exact enough.
    totals = np.concatenate(([0.0], np.cumsum(regime)))
    horizons.append((starts, size - starts, (totals[size] - totals[starts]) / (size - starts)))
    return horizons


def _settling_time(running: RunningMeans, reference: float, tolerance_band: float, noise_band: float, window: int,
                   *, two_sided: bool) -> int | None:
    """The first start from which the running means (:func:`_running_means`) stay in the band at every horizon;
    None if there is none. See :func:`shift_metrics` for the band.

    Example:
        >>> running = _running_means(np.array([0.0, 0.0, 1.0, 1.0, 1.0]), 1)
        >>> _settling_time(running, 1.0, 0.25, 0.0, 1, two_sided=False)
        2
    """
    passes = np.ones(running[-1][0].size, dtype=bool)
    for starts, lengths, means in running:
        half_width = np.maximum(tolerance_band, noise_band * np.sqrt(window / lengths)) + ROUNDING_SLACK
        inside = np.abs(means - reference) <= half_width if two_sided else means >= reference - half_width
        passes[starts] &= inside  # starts are 0, 1, ...: their own indices
    first = np.flatnonzero(passes)
    return int(first[0]) if first.size else None


def forgetting(
    wellbeing: npt.ArrayLike,
    regime_ids: npt.ArrayLike,
    window: int = DEFAULT_WINDOW,
) -> float | None:
    """How much worse a body does on returning to a regime than when it last left it.

    A *visit* is a maximal run of steps with the same regime id. For every visit whose id was
    visited before (a *return*), compare the mean wellbeing over the last ``W`` steps of the
    previous visit of that id (``end``) with the mean over the first ``W`` steps of the return
    (``start``); both windows are clipped to their visit. The score is the mean of
    ``end - start`` over all returns, so **positive means worse on return** (forgetting). This is
    the negation of "start minus end" as worded in DESIGN.md section 5.

    Args:
        wellbeing: ``(T,)`` stream in [0, 1].
        regime_ids: ``(T,)`` regime label per step (ints or strings).
        window: ``W >= 1``, in steps.

    Returns:
        The mean forgetting over returns, or None when no regime recurs.

    Example:
        >>> forgetting([0.5, 1.0, 0.0, 0.0, 0.25, 1.0], ["a", "a", "b", "b", "a", "a"], window=1)
        0.75
    """
    stream = streams.as_wellbeing_stream(wellbeing)
    window = streams.check_window(window)
    labels = np.asarray(regime_ids)
    if labels.shape != stream.shape:
        raise ValueError(
            f"regime_ids must have the shape of wellbeing {stream.shape}, got {labels.shape}"
        )
    visit_starts = np.concatenate(([0], np.flatnonzero(labels[1:] != labels[:-1]) + 1))
    visit_ends = np.append(visit_starts[1:], stream.size)
    last_visit_end: dict[object, tuple[int, int]] = {}
    differences: list[float] = []
    for start, end in zip(visit_starts.tolist(), visit_ends.tolist(), strict=True):
        label = labels[start].item()
        if label in last_visit_end:
            previous_start, previous_end = last_visit_end[label]
            previous_tail = stream[max(previous_start, previous_end - window) : previous_end]
            end_of_previous = float(np.mean(previous_tail))
            start_of_return = float(np.mean(stream[start : min(start + window, end)]))
            differences.append(end_of_previous - start_of_return)
        last_visit_end[label] = (start, end)
    if not differences:
        return None
    return float(np.mean(differences))


def generalization_gap(train_scores: npt.ArrayLike, heldout_scores: npt.ArrayLike) -> float:
    """Mean score on training variants minus mean score on held-out variants.

    A *score* is any scalar per run where higher is better (e.g. ``alive_fraction``), one entry
    per run. Positive means the agent does worse on variants it was not trained on.

    Args:
        train_scores: ``(n,)`` scores of runs on training variants, ``n >= 1``.
        heldout_scores: ``(m,)`` scores of runs on held-out variants, ``m >= 1``.

    Returns:
        ``mean(train_scores) - mean(heldout_scores)``.

    Example:
        >>> generalization_gap([0.75, 0.25, 0.5], [0.25, 0.25])
        0.25
    """
    train = streams.as_float_stream(train_scores, "train_scores")
    heldout = streams.as_float_stream(heldout_scores, "heldout_scores")
    return float(np.mean(train) - np.mean(heldout))
