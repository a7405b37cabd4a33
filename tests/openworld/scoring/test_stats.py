"""Tests of openworld.scoring.stats: IQM and probability of improvement with bootstrap intervals."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from openworld.scoring import stats

REPS = 300  # enough to exercise the bootstrap; keeps the file well under a few seconds


def _assert_plain_finite(result: tuple[float, float, float]) -> None:
    assert len(result) == 3
    for value in result:
        assert type(value) is float
        assert math.isfinite(value)


def test_iqm_of_runs_is_the_mean_of_the_middle_half() -> None:
    # 8 runs sorted 0..7: cut 25% = 2 runs at each end, keep 2, 3, 4, 5 -> mean 3.5.
    scores = [7.0, 0.0, 5.0, 2.0, 3.0, 6.0, 1.0, 4.0]
    point, low, high = stats.interquartile_mean_ci(scores, reps=REPS)
    assert point == 3.5
    assert low <= point <= high
    assert low < high  # spread-out runs give a real interval
    assert 0.0 <= low and high <= 7.0


def test_iqm_pools_runs_and_tasks() -> None:
    # 4 runs x 2 tasks pooled: 0, 1, 2, 3, 10, 11, 12, 13; cut 2 at each end -> 2, 3, 10, 11
    # -> (2 + 3 + 10 + 11)/4 = 6.5
    scores = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0], [3.0, 13.0]])
    point, low, high = stats.interquartile_mean_ci(scores, reps=REPS)
    assert point == 6.5
    assert low <= point <= high


def test_single_seed_interval_collapses_to_the_point() -> None:
    # One run: every resample is that run, so the interval is [0.3, 0.3].
    result = stats.interquartile_mean_ci([0.3], reps=REPS)
    _assert_plain_finite(result)
    assert result == (0.3, 0.3, 0.3)
    # One run, two tasks: IQM of {0.25, 0.75} trims int(0.25 * 2) = 0 values -> mean 0.5.
    assert stats.interquartile_mean_ci([[0.25, 0.75]], reps=REPS) == (0.5, 0.5, 0.5)


def test_bootstrap_is_deterministic_given_seed_and_ignores_global_rng() -> None:
    scores = np.random.default_rng(0).random(12)
    np.random.seed(1)
    first = stats.interquartile_mean_ci(scores, reps=REPS, seed=7)
    np.random.seed(2)
    again = stats.interquartile_mean_ci(scores, reps=REPS, seed=7)
    other = stats.interquartile_mean_ci(scores, reps=REPS, seed=8)
    assert first == again
    assert first[0] == other[0]  # the point estimate does not depend on the seed
    assert first[1:] != other[1:]  # the interval does


def test_bootstrap_leaves_the_global_rng_untouched() -> None:
    np.random.seed(123)
    expected = np.random.random(3)
    np.random.seed(123)
    stats.interquartile_mean_ci([0.1, 0.5, 0.9, 0.2], reps=REPS)
    stats.probability_of_improvement([0.1, 0.5], [0.2, 0.3], reps=REPS)
    np.testing.assert_array_equal(np.random.random(3), expected)


def test_probability_of_improvement_hand_computed() -> None:
    # Every X run beats every Y run: P = 1, and every resample keeps that -> (1, 1, 1).
    assert stats.probability_of_improvement([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], reps=REPS) == (
        1.0,
        1.0,
        1.0,
    )
    # X = {1, 2}, Y = {1, 0}: pairs (1,1) tie -> 0.5, (1,0) 1, (2,1) 1, (2,0) 1 -> 3.5/4 = 0.875
    point, low, high = stats.probability_of_improvement([1.0, 2.0], [1.0, 0.0], reps=REPS)
    assert point == 0.875
    assert 0.0 <= low <= point <= high <= 1.0
    # Identical score sets: exactly 0.5.
    assert stats.probability_of_improvement([0.5, 0.25], [0.5, 0.25], reps=REPS)[0] == 0.5
    # Two tasks, averaged: task 0 P = 1 (X 1 > Y 0), task 1 P = 0 (X 0 < Y 1) -> 0.5.
    assert stats.probability_of_improvement([[1.0, 0.0]], [[0.0, 1.0]], reps=REPS)[0] == 0.5


def test_probability_of_improvement_single_seed() -> None:
    result = stats.probability_of_improvement([0.5], [0.25], reps=REPS)
    _assert_plain_finite(result)
    assert result == (1.0, 1.0, 1.0)  # 0.5 > 0.25 in the one and only pair
    assert stats.probability_of_improvement([0.5], [0.5], reps=REPS) == (0.5, 0.5, 0.5)


def test_probability_of_improvement_different_run_counts() -> None:
    # X = {0, 3}, Y = {1, 2, 4}: X beats Y in (3,1), (3,2) -> 2 of 6 pairs -> 1/3.
    result = stats.probability_of_improvement([0.0, 3.0], [1.0, 2.0, 4.0], reps=REPS, seed=3)
    _assert_plain_finite(result)
    assert result[0] == pytest.approx(1 / 3)


def test_no_warnings_from_the_bootstrap() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats.interquartile_mean_ci([0.1, 0.2, 0.4], reps=50)
        stats.probability_of_improvement([0.1], [0.2], reps=50)


def test_stats_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="finite"):
        stats.interquartile_mean_ci([0.5, np.nan])
    with pytest.raises(ValueError, match="at least one run"):
        stats.interquartile_mean_ci([])
    with pytest.raises(ValueError, match="n_tasks"):
        stats.interquartile_mean_ci(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="tasks"):
        stats.probability_of_improvement([[0.5, 0.5]], [[0.5]])
    with pytest.raises(ValueError, match="reps"):
        stats.interquartile_mean_ci([0.5], reps=0)
    with pytest.raises(ValueError, match="confidence"):
        stats.interquartile_mean_ci([0.5], confidence=1.0)
    with pytest.raises(TypeError, match="seed"):
        stats.interquartile_mean_ci([0.5], seed=0.5)  # type: ignore[arg-type]


def test_import_does_not_load_rliable() -> None:
    code = "import sys, openworld.scoring.stats; assert 'rliable' not in sys.modules, 'rliable imported'"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr


def test_mean_difference_is_the_generalization_gap_with_an_independent_bootstrap() -> None:
    from openworld.scoring.metrics import generalization_gap

    x, y = [0.75, 0.25, 0.5], [0.25, 0.25]
    point, low, high = stats.mean_difference_ci(x, y, reps=REPS)
    assert point == generalization_gap(x, y) == 0.25
    assert low <= point <= high and low < high
    # Resamples of constant sets are the sets themselves: the interval collapses to the point.
    assert stats.mean_difference_ci([1.0, 1.0], [0.0, 0.0, 0.0], reps=REPS) == (1.0, 1.0, 1.0)
    assert stats.mean_difference_ci(x, y, reps=REPS, seed=3) == stats.mean_difference_ci(x, y, reps=REPS, seed=3)


def test_the_difference_of_iqm_differences_is_an_agents_gap_minus_the_baselines() -> None:
    agent_train, agent_heldout = [[0.9, 0.8], [0.7, 0.9]], [[0.5, 0.6], [0.4, 0.6]]
    base_train, base_heldout = [[0.6, 0.7], [0.7, 0.6]], [[0.6, 0.5], [0.6, 0.6]]
    point, low, high = stats.difference_of_iqm_differences_ci(agent_train, agent_heldout, base_train, base_heldout,
                                                               reps=REPS)
    agent_gap = stats.iqm_difference_ci(agent_train, agent_heldout, reps=REPS)[0]
    base_gap = stats.iqm_difference_ci(base_train, base_heldout, reps=REPS)[0]
    assert point == pytest.approx(agent_gap - base_gap) == pytest.approx(0.85 - 0.55 - (0.65 - 0.6))
    assert low <= point <= high
    assert stats.interquartile_mean([[0.9, 0.8], [0.7, 0.9]]) == pytest.approx(0.85)
    with pytest.raises(ValueError, match="tasks"):
        stats.difference_of_iqm_differences_ci(agent_train, agent_heldout, base_train, [0.5, 0.5], reps=REPS)


def test_mean_difference_refuses_tasks_and_empty_sets() -> None:
    with pytest.raises(ValueError, match="must be 1-D"):
        stats.mean_difference_ci([[1.0, 2.0]], [[0.0, 1.0]], reps=REPS)
    with pytest.raises(ValueError, match="y_scores"):
        stats.mean_difference_ci([1.0], [], reps=REPS)


@pytest.mark.parametrize("shape, reps, seed", [((5,), 2000, 0), ((2,), 300, 7), ((23,), 500, 3), ((6, 3), 400, 1),
                                               ((12, 2), 1000, 11)])
def test_iqm_interval_is_rliables_to_the_bit(shape: tuple[int, ...], reps: int, seed: int) -> None:
    """The vectorised bootstrap reproduces rliable's get_interval_estimates exactly (same draws, same percentiles)."""
    from rliable import library, metrics

    scores = np.round(np.random.default_rng(seed).normal(size=shape), 2)  # rounded: ties in the trimming too
    matrix = scores[:, np.newaxis] if scores.ndim == 1 else scores
    saved = np.random.get_state()
    np.random.seed(seed)
    points, intervals = library.get_interval_estimates(
        {"iqm": matrix}, lambda runs: np.array([metrics.aggregate_iqm(runs)]), method="percentile", reps=reps,
        confidence_interval_size=0.95)
    np.random.set_state(saved)
    expected = (float(points["iqm"][0]), *map(float, np.asarray(intervals["iqm"]).reshape(-1)[:2]))
    assert stats.interquartile_mean_ci(scores, reps=reps, seed=seed) == expected


@pytest.mark.parametrize("nx, ny, tasks, reps, seed", [(10, 10, 1, 2000, 0), (3, 7, 1, 500, 4), (5, 5, 2, 300, 2),
                                                       (1, 4, 1, 200, 1), (6, 6, 1, 1000, 9)])
def test_two_sample_intervals_are_rliables_to_the_bit(nx: int, ny: int, tasks: int, reps: int, seed: int) -> None:
    """P(X > Y), the difference of means and the difference of IQMs reproduce rliable's
    StratifiedIndependentBootstrap exactly (rounded scores: ties too), with equal and unequal numbers of runs."""
    from rliable import library, metrics

    rng = np.random.default_rng(seed)
    x, y = np.round(rng.normal(size=(nx, tasks)), 1), np.round(rng.normal(size=(ny, tasks)), 1)
    cases = [("p", stats.probability_of_improvement, lambda a, b: np.array([metrics.probability_of_improvement(a, b)])),
             ("q", stats.iqm_difference_ci,
              lambda a, b: np.array([metrics.aggregate_iqm(a) - metrics.aggregate_iqm(b)]))]
    if tasks == 1:
        cases.append(("d", stats.mean_difference_ci, lambda a, b: np.array([np.mean(a) - np.mean(b)])))
    for key, ours, statistic in cases:
        saved = np.random.get_state()
        np.random.seed(seed)
        points, intervals = library.get_interval_estimates({key: [x, y]}, statistic, method="percentile", reps=reps,
                                                           confidence_interval_size=0.95)
        np.random.set_state(saved)
        bounds = np.asarray(intervals[key]).reshape(-1)[:2]
        expected = (float(np.asarray(points[key]).reshape(-1)[0]), *map(float, bounds))
        assert ours(x if tasks > 1 else x[:, 0], y if tasks > 1 else y[:, 0], reps=reps, seed=seed) == expected, key
