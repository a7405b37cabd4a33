"""Aggregation of per-run scores across seeds, with confidence intervals (rliable).

Reported numbers are never a bare mean over a handful of seeds (DESIGN.md section 5): use the
interquartile mean (IQM) with a stratified-bootstrap confidence interval, and the probability of
improvement to compare two agents. Each is `rliable <https://github.com/google-research/rliable>`_'s estimator
reproduced to the bit (the same global-generator draws, the same percentiles; tests/openworld/scoring/test_stats.py
compares each with rliable), vectorised over the resamples where rliable calls the statistic in Python once per
resample, and deterministic given ``seed``. rliable itself is not imported (it takes about two seconds).

Example:
    >>> from openworld.scoring import stats
    >>> point, low, high = stats.interquartile_mean_ci([0.5, 0.75, 0.25, 1.0], reps=200)
    >>> point, low <= point <= high
    (0.625, True)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_REPS: int = 2000
"""Bootstrap resamples: bounds that move by about 2% of the interval's width from one bootstrap seed to another.
An interval over 10 runs costs a few milliseconds (rliable's own loop took 0.1-1 s). rliable's own default is
50,000; pass ``reps=50_000`` for final figures."""

DEFAULT_CONFIDENCE: float = 0.95
"""Coverage of the confidence intervals."""


def interquartile_mean_ci(
    scores: npt.ArrayLike,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Interquartile mean of scores with a stratified-bootstrap confidence interval.

    The IQM is the mean of the middle 50% of all scores (``scipy.stats.trim_mean`` cutting 25% at
    each end, over runs and tasks together; rliable's ``aggregate_iqm``). The interval is the
    percentile interval of the IQM over ``reps`` stratified bootstrap resamples: runs are
    resampled with replacement within each task (rliable's ``get_interval_estimates``, reproduced exactly and
    vectorised).

    With a single run every resample is that run, so the interval collapses to the point.

    Args:
        scores: ``(n_runs,)`` or ``(n_runs, n_tasks)`` finite scores, one row per seed.
        reps: number of bootstrap resamples, ``>= 1``.
        confidence: coverage of the interval, in ``(0, 1)``.
        seed: seed of the bootstrap; equal seeds give equal intervals.

    Returns:
        ``(point, low, high)`` as plain floats.

    Raises:
        ValueError: on empty, non-finite or wrongly shaped scores, or invalid parameters.
    """
    from scipy.stats import trim_mean

    matrix = _as_score_matrix(scores, "scores")
    _check_bootstrap_parameters(reps, confidence)
    runs, tasks = matrix.shape
    # rliable's estimator, vectorised: its StratifiedBootstrap draws each resample's run indices with
    # np.random.choice(runs, (runs, tasks)) from the global generator, one resample after another, and arch takes the
    # percentiles of the per-resample IQMs. Drawing all resamples in one call gives the same stream, so the numbers
    # are rliable's to the bit (tests/openworld/scoring/test_stats.py compares them) at about 300 times the speed:
    # rliable loops in Python over the resamples, 0.3-0.9 s an interval, which made a report of 20 shifts x 10
    # agents take half an hour.
    with _seeded_global_numpy_rng(seed):
        draws = np.random.choice(runs, (reps, runs, tasks), replace=True)
    resampled = matrix[draws, np.arange(tasks)].reshape(reps, runs * tasks)
    iqms = trim_mean(resampled, 0.25, axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.percentile(iqms, [100 * alpha, 100 * (1.0 - alpha)])
    point = interquartile_mean(matrix)
    if not all(np.isfinite([point, low, high])):
        raise ValueError(f"non-finite IQM estimate {(point, low, high)}")
    return point, float(low), float(high)


def interquartile_mean(scores: npt.ArrayLike) -> float:
    """The IQM of :func:`interquartile_mean_ci` without its interval: the mean of the middle 50% of all scores.

    Example:
        >>> interquartile_mean([[0.0, 1.0], [0.5, 0.25]])
        0.375
    """
    from scipy.stats import trim_mean

    return float(trim_mean(_as_score_matrix(scores, "scores"), 0.25, axis=None))


def iqm_record(values: Sequence[float], reps: int = DEFAULT_REPS, confidence: float = DEFAULT_CONFIDENCE,
               seed: int = 0) -> dict[str, Any]:
    """A report cell: ``{"n", "iqm", "ci_low", "ci_high"}`` of :func:`interquartile_mean_ci` over ``values`` (one
    run each). No values give ``n`` 0 and None bounds (nothing observed); one value is its own interval (what the
    bootstrap would give, without it).

    Example:
        >>> iqm_record([2.0])
        {'n': 1, 'iqm': 2.0, 'ci_low': 2.0, 'ci_high': 2.0}
    """
    if not values:
        return {"n": 0, "iqm": None, "ci_low": None, "ci_high": None}
    if len(values) == 1:
        point = low = high = float(values[0])
    else:
        point, low, high = interquartile_mean_ci(values, reps=reps, confidence=confidence, seed=seed)
    return {"n": len(values), "iqm": point, "ci_low": low, "ci_high": high}


def probability_of_improvement(
    x_scores: npt.ArrayLike,
    y_scores: npt.ArrayLike,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Probability that a run of X scores higher than a run of Y, with a bootstrap interval.

    Per task, ``P(X > Y) = U / (n_x * n_y)`` where ``U`` is the Mann-Whitney statistic (ties count
    one half; identical score sets give exactly 0.5), averaged over tasks (rliable's
    ``probability_of_improvement``). The interval resamples the runs of X and of Y independently,
    within each task (rliable's ``StratifiedIndependentBootstrap``).

    Args:
        x_scores: ``(n_x,)`` or ``(n_x, n_tasks)`` finite scores of agent X.
        y_scores: ``(n_y,)`` or ``(n_y, n_tasks)`` finite scores of agent Y; same number of tasks.
        reps: number of bootstrap resamples, ``>= 1``.
        confidence: coverage of the interval, in ``(0, 1)``.
        seed: seed of the bootstrap; equal seeds give equal intervals.

    Returns:
        ``(point, low, high)`` as plain floats in [0, 1].

    Raises:
        ValueError: on empty, non-finite or wrongly shaped scores, or invalid parameters.
    """
    x_matrix, y_matrix = _same_tasks(x_scores, y_scores)
    _check_bootstrap_parameters(reps, confidence)
    x_runs, y_runs = _independent_resamples(x_matrix, y_matrix, reps, seed)
    point = float(_improvement(x_matrix[np.newaxis], y_matrix[np.newaxis])[0])
    return _percentile_interval(point, _improvement(x_runs, y_runs), confidence)


def mean_difference_ci(
    x_scores: npt.ArrayLike,
    y_scores: npt.ArrayLike,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean of X minus mean of Y, with a bootstrap interval (e.g. a generalization gap).

    The point is ``mean(x) - mean(y)`` (:func:`openworld.scoring.metrics.generalization_gap`); the
    interval resamples X and Y independently with replacement (rliable's
    ``StratifiedIndependentBootstrap``, as :func:`probability_of_improvement`), so it fits two sets of
    independent units of different sizes.

    Args:
        x_scores: ``(n_x,)`` finite scores.
        y_scores: ``(n_y,)`` finite scores.
        reps: number of bootstrap resamples, ``>= 1``.
        confidence: coverage of the interval, in ``(0, 1)``.
        seed: seed of the bootstrap; equal seeds give equal intervals.

    Returns:
        ``(point, low, high)`` as plain floats.

    Raises:
        ValueError: on empty, non-finite or wrongly shaped scores, or invalid parameters.

    Example:
        >>> point, low, high = mean_difference_ci([0.75, 0.25, 0.5], [0.25, 0.25], reps=200)
        >>> point, low <= point <= high
        (0.25, True)
    """
    x_matrix = _as_score_matrix(x_scores, "x_scores")
    y_matrix = _as_score_matrix(y_scores, "y_scores")
    if x_matrix.shape[1] != 1 or y_matrix.shape[1] != 1:
        raise ValueError(f"x_scores and y_scores must be 1-D, got shapes {np.shape(x_scores)} and "
                         f"{np.shape(y_scores)}")
    _check_bootstrap_parameters(reps, confidence)
    x_runs, y_runs = _independent_resamples(x_matrix, y_matrix, reps, seed)
    point = float(np.mean(x_matrix) - np.mean(y_matrix))
    differences = x_runs[:, :, 0].mean(axis=1) - y_runs[:, :, 0].mean(axis=1)
    return _percentile_interval(point, differences, confidence)


def iqm_difference_ci(
    x_scores: npt.ArrayLike,
    y_scores: npt.ArrayLike,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """IQM of X minus IQM of Y over several tasks, with a bootstrap interval (e.g. a generalization gap across
    worlds: the runs of the training variants as X, of the held-out variants as Y, one column per world).

    Each IQM is :func:`interquartile_mean_ci`'s (runs and tasks together). The interval resamples X's runs and Y's
    independently within each task (rliable's ``StratifiedIndependentBootstrap``, the draws of
    :func:`probability_of_improvement`) and takes the percentile interval of the resamples' differences. Arguments
    and errors as :func:`probability_of_improvement`'s; returns ``(point, low, high)`` as plain floats.

    Example:
        >>> point, low, high = iqm_difference_ci([[0.75, 0.5], [0.25, 0.5]], [[0.25, 0.5], [0.25, 0.0]], reps=200)
        >>> point, low <= point <= high
        (0.25, True)
    """
    _check_bootstrap_parameters(reps, confidence)
    point, differences = _iqm_differences(x_scores, y_scores, reps, seed)
    return _percentile_interval(point, differences, confidence)


def difference_of_iqm_differences_ci(
    x_scores: npt.ArrayLike,
    y_scores: npt.ArrayLike,
    base_x_scores: npt.ArrayLike,
    base_y_scores: npt.ArrayLike,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(IQM(X) - IQM(Y)) - (IQM(base X) - IQM(base Y))`` with a bootstrap interval: e.g. an agent's
    generalization gap minus the baseline's, which is how much of its advantage over the baseline on the training
    variants it loses on the held-out ones (positive: it generalizes worse than the baseline).

    The four sets of runs are resampled independently within each task, as :func:`iqm_difference_ci` does for two
    (the baseline's pair with ``seed + 1``, so its draws are not the agent's).

    Example:
        >>> difference_of_iqm_differences_ci([1.0, 1.0], [0.5, 0.5], [0.75, 0.75], [0.5, 0.5], reps=50)
        (0.25, 0.25, 0.25)
    """
    _check_bootstrap_parameters(reps, confidence)
    point, differences = _iqm_differences(x_scores, y_scores, reps, seed)
    base_point, base_differences = _iqm_differences(base_x_scores, base_y_scores, reps, seed + 1)
    return _percentile_interval(point - base_point, differences - base_differences, confidence)


def _iqm_differences(x_scores: npt.ArrayLike, y_scores: npt.ArrayLike, reps: int,
                     seed: int) -> tuple[float, npt.NDArray[np.float64]]:
    """``IQM(X) - IQM(Y)`` and the same over ``reps`` independent stratified resamples of X's and Y's runs."""
    from scipy.stats import trim_mean

    x_matrix, y_matrix = _same_tasks(x_scores, y_scores)
    x_runs, y_runs = _independent_resamples(x_matrix, y_matrix, reps, seed)
    point = interquartile_mean(x_matrix) - interquartile_mean(y_matrix)
    differences = trim_mean(x_runs.reshape(reps, -1), 0.25, axis=1) - trim_mean(y_runs.reshape(reps, -1), 0.25,
                                                                                  axis=1)
    return point, np.asarray(differences, dtype=np.float64)


def _same_tasks(x_scores: npt.ArrayLike,
                y_scores: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """X's and Y's score matrices, refused unless they have as many tasks (columns)."""
    x_matrix = _as_score_matrix(x_scores, "x_scores")
    y_matrix = _as_score_matrix(y_scores, "y_scores")
    if x_matrix.shape[1] != y_matrix.shape[1]:
        raise ValueError(f"x_scores has {x_matrix.shape[1]} tasks but y_scores has {y_matrix.shape[1]}; "
                         "columns must be the same tasks")
    return x_matrix, y_matrix


def _independent_resamples(x_matrix: npt.NDArray[np.float64], y_matrix: npt.NDArray[np.float64], reps: int,
                           seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``reps`` resamples of X's runs and of Y's, each task's runs with replacement: ``(reps, n_x, tasks)`` and
    ``(reps, n_y, tasks)``.

    rliable's ``StratifiedIndependentBootstrap`` draws, for each resample in turn, X's run indices then Y's with
    ``np.random.choice`` from the global generator, and calls the statistic in Python on each resample (0.1-0.3 s
    an interval: a report comparing 13 arms over 8 worlds and 5 shifts took minutes). The same draws are made
    here in the same order (in one call when X and Y have as many runs, else a loop over resamples costing about 15
    ms at 2,000 resamples) and the statistics are computed on all
    resamples at once, so the numbers are rliable's to the bit (tests/openworld/scoring/test_stats.py compares).
    """
    with _seeded_global_numpy_rng(seed):
        if x_matrix.shape == y_matrix.shape:  # one bound for every draw: one call makes the same stream
            draws = np.random.choice(x_matrix.shape[0], (reps, 2, *x_matrix.shape), replace=True)
            x_draws, y_draws = draws[:, 0], draws[:, 1]
        else:
            x_draws = np.empty((reps, *x_matrix.shape), dtype=np.int64)
            y_draws = np.empty((reps, *y_matrix.shape), dtype=np.int64)
            for rep in range(reps):
                x_draws[rep] = np.random.choice(x_matrix.shape[0], x_matrix.shape, replace=True)
                y_draws[rep] = np.random.choice(y_matrix.shape[0], y_matrix.shape, replace=True)
    return (x_matrix[x_draws, np.arange(x_matrix.shape[1])], y_matrix[y_draws, np.arange(y_matrix.shape[1])])


def _improvement(x_runs: npt.NDArray[np.float64], y_runs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """P(X > Y) of each resample ``(reps, n, tasks)``: per task the Mann-Whitney ``U / (n_x n_y)`` (the pairs where
    X is higher, ties counting one half; what rliable's scipy call computes from ranks, exactly, since U is a
    multiple of one half), 0.5 where X's and Y's runs are the same array (rliable's rule), averaged over tasks."""
    pairs = x_runs[:, :, np.newaxis, :] - y_runs[:, np.newaxis, :, :]  # (reps, n_x, n_y, tasks)
    u = (pairs > 0).sum(axis=(1, 2)) + 0.5 * (pairs == 0).sum(axis=(1, 2))
    per_task = u / (x_runs.shape[1] * y_runs.shape[1])
    if x_runs.shape[1] == y_runs.shape[1]:
        per_task = np.where((x_runs == y_runs).all(axis=1), 0.5, per_task)
    return np.asarray(per_task.mean(axis=1), dtype=np.float64)


def _percentile_interval(point: float, estimates: npt.NDArray[np.float64],
                         confidence: float) -> tuple[float, float, float]:
    """``(point, low, high)``: the percentile interval of the resamples' estimates (arch's ``percentile``)."""
    alpha = (1.0 - confidence) / 2
    low, high = np.percentile(estimates, [100 * alpha, 100 * (1.0 - alpha)])
    if not all(np.isfinite([point, low, high])):
        raise ValueError(f"non-finite bootstrap estimate {(point, low, high)}")
    return point, float(low), float(high)


@contextmanager
def _seeded_global_numpy_rng(seed: int) -> Iterator[None]:
    """Seed NumPy's global legacy RNG for the duration of the block, then restore it.

    Why global state: rliable 1.2 draws its bootstrap indices with ``np.random.choice`` (the
    global RNG) in ``StratifiedBootstrap.update_indices`` and
    ``StratifiedIndependentBootstrap._get_indices``. Its ``random_state`` argument only reaches
    ``arch``'s generator, which those overrides never use (and ``arch`` 7 warns that the argument
    is deprecated). Saving and restoring the state keeps the caller's global RNG untouched.
    Cost: not thread-safe; two threads bootstrapping at once would interleave draws.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    saved = np.random.get_state()
    np.random.seed(int(seed))
    try:
        yield
    finally:
        np.random.set_state(saved)


def _as_score_matrix(scores: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    """Scores as a finite ``(n_runs, n_tasks)`` float64 matrix with at least one run and task."""
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, np.newaxis]
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(
            f"{name} must have shape (n_runs,) or (n_runs, n_tasks) with at least one run, "
            f"got {np.shape(scores)}"
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{name} must be finite; drop or fix runs with NaN or inf scores")
    return matrix


def _check_bootstrap_parameters(reps: int, confidence: float) -> None:
    """Raise unless ``reps >= 1`` is an integer and ``0 < confidence < 1``."""
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
