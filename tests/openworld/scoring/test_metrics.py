"""Tests of openworld.scoring.metrics on small synthetic streams with hand-computed answers.

Values are chosen as multiples of 1/4 (or sums that divide exactly) so that the expected numbers
are exact in floating point and the hand computations in the comments can be checked by eye.
"""

from __future__ import annotations

import numpy as np
import pytest

from openworld.scoring import metrics

# --------------------------------------------------------------------------- wellbeing


def test_wellbeing_is_weakest_vital_fraction_and_zero_while_dead() -> None:
    alive = [True, True, False, True, True, True]
    vitals = [
        [4.0, 9.0],  # min(4/8, 9/10) = min(0.5, 0.9) = 0.5
        [9.0, 1.0],  # min(9/8, 1/10) = min(1.125, 0.1) = 0.1
        [np.nan, 9.0],  # dead: 0, whatever the vitals (NaN is ignored)
        [12.0, 5.0],  # min(1.5, 0.5) = 0.5
        [16.0, 20.0],  # min(2.0, 2.0) = 2.0, clipped to 1.0
        [-8.0, 5.0],  # min(-1.0, 0.5) = -1.0, clipped to 0.0
    ]
    result = metrics.wellbeing(alive, vitals, [8.0, 10.0])
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, [0.5, 0.1, 0.0, 0.5, 1.0, 0.0], rtol=0, atol=1e-15)


def test_wellbeing_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="not finite at step 1"):
        metrics.wellbeing([True, True], [[1.0], [np.nan]], [2.0])
    with pytest.raises(ValueError, match="shape"):
        metrics.wellbeing([True, True], [[1.0, 1.0], [1.0, 1.0]], [2.0])
    with pytest.raises(ValueError, match="positive"):
        metrics.wellbeing([True], [[1.0]], [0.0])
    with pytest.raises(ValueError, match="booleans"):
        metrics.wellbeing([0.5], [[1.0]], [1.0])


# --------------------------------------------------------------------------- windowed mean


def test_windowed_mean_looks_forward_and_stops_at_boundaries() -> None:
    values = [0.0, 1.0, 1.0, 0.0, 0.5, 0.5]
    # W = 2, no boundaries: m[t] = mean(values[t:t+2]), the last one clipped at T = 6:
    # [(0+1)/2, (1+1)/2, (1+0)/2, (0+0.5)/2, (0.5+0.5)/2, 0.5/1]
    np.testing.assert_array_equal(
        metrics.windowed_mean(values, 2), [0.5, 1.0, 0.5, 0.25, 0.5, 0.5]
    )
    # Boundary at 3: the window from t = 2 may not reach step 3, so m[2] = values[2] = 1.0.
    np.testing.assert_array_equal(
        metrics.windowed_mean(values, 2, boundaries=[3]), [0.5, 1.0, 1.0, 0.25, 0.5, 0.5]
    )


def test_windowed_mean_rejects_bad_window() -> None:
    for window in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="window"):
            metrics.windowed_mean([0.5, 0.5], window)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- survival


def test_survival_counts_transitions_and_censors_the_last_life() -> None:
    alive = [True, True, False, False, True, True, True, False, True, True]
    scores = metrics.survival(alive)
    # 7 of 10 steps alive.
    assert scores["alive_fraction"] == 0.7
    # Deaths at t = 2 and t = 7 (alive -> dead): 10_000 * 2 / 10 = 2000.
    assert scores["deaths_per_10k"] == 2000.0
    # Lives of 2, 3 and 2 steps (the last censored at the end): 7 / (2 deaths + 1 running) = 7/3.
    assert scores["mean_lifetime"] == pytest.approx(7 / 3)


def test_survival_dead_throughout_is_all_zero_not_nan() -> None:
    scores = metrics.survival([False, False, False, False])
    # No alive step, no alive -> dead transition, no life: 0, 0 and (convention) 0.0.
    assert scores == {"alive_fraction": 0.0, "deaths_per_10k": 0.0, "mean_lifetime": 0.0}


def test_survival_stream_that_starts_dead_counts_no_death() -> None:
    scores = metrics.survival([False, True, True])
    # 2/3 alive; starting dead is not a death; one life of 2 steps, still running.
    assert scores["alive_fraction"] == pytest.approx(2 / 3)
    assert scores["deaths_per_10k"] == 0.0
    assert scores["mean_lifetime"] == 2.0


def test_survival_with_explicit_deaths_counts_same_step_respawns() -> None:
    # The body died at step 2 and respawned within the step: alive never records False.
    scores = metrics.survival([True] * 5, deaths=[False, False, True, False, False])
    assert scores["alive_fraction"] == 1.0
    assert scores["deaths_per_10k"] == 2000.0  # 10_000 * 1 / 5
    assert scores["mean_lifetime"] == 2.5  # 5 alive steps / (1 death + 1 running life)


def test_survival_rejects_inconsistent_deaths() -> None:
    with pytest.raises(ValueError, match="records no death"):
        metrics.survival([True, False], deaths=[False, False])
    with pytest.raises(ValueError, match="steps"):
        metrics.survival([True, False], deaths=[False])


def test_survival_by_regime_weights_rows_by_their_steps() -> None:
    # Rows of 2, 2, 4 and 2 world steps; alive fractions 1, 0.5, 0.25, 1 (windows or means over bodies).
    by_regime = metrics.survival_by_regime([1.0, 0.5, 0.25, 1.0], ["base", "winter", "winter", "base"],
                                           steps=[2, 2, 4, 2])
    # base: (2 * 1 + 2 * 1) / 4 = 1.0 over 4 steps; winter: (2 * 0.5 + 4 * 0.25) / 6 = 2 / 6 over 6 steps.
    assert by_regime == {"base": {"steps": 4, "alive_fraction": 1.0},
                         "winter": {"steps": 6, "alive_fraction": 2 / 6}}
    assert list(by_regime) == ["base", "winter"]  # order of first appearance


def test_survival_by_regime_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.survival_by_regime([1.5], ["base"])
    with pytest.raises(ValueError, match="must match"):
        metrics.survival_by_regime([1.0, 0.0], ["base"])


# --------------------------------------------------------------------------- shifts


def test_shift_with_recovery() -> None:
    wellbeing = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0]
    (scores,) = metrics.shift_metrics(wellbeing, [4], ["abrupt"], window=2, tolerance=0.25)
    # baseline = mean(w[2:4]) = (1 + 1)/2 = 1.0
    # drop = 1.0 - mean(w[4:6]) = 1.0 - 0.0 = 1.0
    # threshold (1 - 0.25) * 1.0 = 0.75; candidates t = 4..8 (windows must fit before T = 10):
    # m[4] = 0, m[5] = (0 + 0.5)/2 = 0.25, m[6] = (0.5 + 1)/2 = 0.75 >= 0.75 -> tau = 6 - 4 = 2
    # regret = (1 - m[4]) + (1 - m[5]) = 1 + 0.75 = 1.75
    assert scores == {
        "t": 4,
        "kind": "abrupt",
        "baseline": 1.0,
        "drop": 1.0,
        "recovery_time": 2,
        "censored": False,
        "regret": 1.75,
        "observed": True,
        "observed_steps": 6,
    }


def test_no_recovery_before_next_shift_is_censored() -> None:
    wellbeing = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    first, second = metrics.shift_metrics(
        wellbeing, [4, 8], ["drought", "rain"], window=2, tolerance=0.25
    )
    # Shift at 4, segment [4, 8): baseline = mean(w[2:4]) = 1.0; drop = 1 - mean(w[4:6]) = 1.0.
    # Candidates t = 4..6 (a full window of 2 must fit before 8): m[4] = 0, m[5] = 0,
    # m[6] = (0 + 1)/2 = 0.5, all < 0.75. m[7] = w[7] = 1.0 (window clipped at 8) is NOT a
    # candidate: one good step just before the next shift is not a recovery -> censored.
    # regret = sum over t = 4..7 of max(0, 1 - m[t]) = 1 + 1 + 0.5 + 0 = 2.5
    assert first == {
        "t": 4,
        "kind": "drought",
        "baseline": 1.0,
        "drop": 1.0,
        "recovery_time": None,
        "censored": True,
        "regret": 2.5,
        "observed": True,
        "observed_steps": 4,
    }
    # Shift at 8: baseline window [max(8 - 2, 4), 8) = [6, 8): (0 + 1)/2 = 0.5.
    # drop = 0.5 - mean(w[8:10]) = 0.5 - 1.0 = -0.5 (better after the shift); m[8] = 1 >= 0.375,
    # so tau = 0 and regret = 0 (empty sum).
    assert second == {
        "t": 8,
        "kind": "rain",
        "baseline": 0.5,
        "drop": -0.5,
        "recovery_time": 0,
        "censored": False,
        "regret": 0.0,
        "observed": True,
        "observed_steps": 4,
    }


def test_censored_at_end_of_stream() -> None:
    wellbeing = [0.5, 0.5, 0.0, 0.0, 0.0]
    (scores,) = metrics.shift_metrics(wellbeing, [2], ["abrupt"], window=2, tolerance=0.0)
    # baseline = mean(w[0:2]) = 0.5; drop = 0.5 - mean(w[2:4]) = 0.5; candidates t = 2..3 both 0.
    # regret over t = 2..4 (to T = 5): 0.5 + 0.5 + 0.5 = 1.5 (m[4] = w[4] = 0, clipped at T).
    assert scores["censored"] is True
    assert scores["recovery_time"] is None
    assert scores["drop"] == 0.5
    assert scores["regret"] == 1.5


def test_shift_at_time_zero_is_neutral() -> None:
    wellbeing = [0.5, 0.5, 1.0, 1.0]
    (scores,) = metrics.shift_metrics(wellbeing, [0], ["initial"], window=2, tolerance=0.05)
    # No step before t = 0: the baseline window [max(0 - 2, 0), 0) is empty and the convention is
    # baseline = m[0] = mean(w[0:2]) = 0.5, hence drop = 0.5 - 0.5 = 0, tau = 0, regret = 0.
    assert scores == {
        "t": 0,
        "kind": "initial",
        "baseline": 0.5,
        "drop": 0.0,
        "recovery_time": 0,
        "censored": False,
        "regret": 0.0,
        "observed": True,
        "observed_steps": 4,
    }


def test_agent_dead_throughout_has_nothing_to_recover() -> None:
    stream = metrics.wellbeing([False] * 6, np.zeros((6, 1)), [1.0])
    records = metrics.shift_metrics(stream, [0, 2, 4], ["a", "b", "c"], window=2)
    # Wellbeing is 0 everywhere: every baseline is 0, every m is 0 >= (1 - eps) * 0, so each
    # shift recovers at tau = 0 with drop 0 and regret 0 (read together with survival).
    for record, time, kind in zip(records, [0, 2, 4], ["a", "b", "c"], strict=True):
        assert record == {
            "t": time,
            "kind": kind,
            "baseline": 0.0,
            "drop": 0.0,
            "recovery_time": 0,
            "censored": False,
            "regret": 0.0,
            "observed": True,
            "observed_steps": 2,
        }


def test_segments_shorter_than_window_are_unobserved() -> None:
    # W = 4, shifts at 3 and 5, T = 8: the segments [3, 5) and [5, 8) are shorter than W.
    wellbeing = [1.0, 1.0, 0.25, 0.5, 0.25, 1.0, 1.0, 0.25]
    first, second = metrics.shift_metrics(
        wellbeing, [3, 5], ["abrupt", "abrupt"], window=4, tolerance=0.25
    )
    # Shift at 3: baseline window [max(3 - 4, 0), 3) = [0, 3): (1 + 1 + 0.25)/3 = 0.75.
    # Only 5 - 3 = 2 steps seen after it (< W = 4): no drop, recovery or regret from a partial window.
    assert first == {"t": 3, "kind": "abrupt", "baseline": 0.75, "drop": None, "recovery_time": None,
                     "censored": True, "regret": None, "observed": False, "observed_steps": 2}
    # Shift at 5: the baseline window is clipped at the previous shift: [max(5 - 4, 3), 5) = [3, 5)
    # -> (0.5 + 0.25)/2 = 0.375 (NOT mean(w[1:5]) = 0.5, which would mix in the earlier regime).
    # 8 - 5 = 3 steps seen after it (< 4): unobserved too, although m[5] = 0.75 looks like a recovery.
    assert second == {"t": 5, "kind": "abrupt", "baseline": 0.375, "drop": None, "recovery_time": None,
                      "censored": True, "regret": None, "observed": False, "observed_steps": 3}


def test_shift_in_the_last_steps_is_unobserved_not_recovered() -> None:
    # A run ending one step after the onset (the blight of `openworld run world=blight steps=20000`):
    # the old rule gave drop 1 - 0.5 = 0.5 from that one step; now it is unobserved.
    wellbeing = [1.0, 1.0, 1.0, 1.0, 0.5]
    (scores,) = metrics.shift_metrics(wellbeing, [4], ["abrupt"], window=2)
    assert scores == {"t": 4, "kind": "abrupt", "baseline": 1.0, "drop": None, "recovery_time": None,
                      "censored": True, "regret": None, "observed": False, "observed_steps": 1}
    # Exactly W steps after the onset is observed: drop 1 - mean(w[4:6]) = 1 - 0.75 = 0.25,
    # m[4] = 0.75 < 0.95 and no later full window -> censored, regret 0.25.
    (scores,) = metrics.shift_metrics([*wellbeing, 1.0], [4], ["abrupt"], window=2)
    assert (scores["observed"], scores["observed_steps"], scores["drop"], scores["recovery_time"],
            scores["censored"], scores["regret"]) == (True, 2, 0.25, None, True, 0.25)


def test_simultaneous_shifts_share_their_segment() -> None:
    wellbeing = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0]
    both = metrics.shift_metrics(wellbeing, [4, 4], ["flood", "heat"], window=2, tolerance=0.25)
    # Same numbers as test_shift_with_recovery for each of the two shifts.
    for record, kind in zip(both, ["flood", "heat"], strict=True):
        assert record["kind"] == kind
        assert (record["baseline"], record["drop"], record["recovery_time"], record["regret"]) == (
            1.0,
            1.0,
            2,
            1.75,
        )


def test_shift_metrics_rejects_bad_input() -> None:
    stream = [0.5] * 5
    with pytest.raises(ValueError, match="non-decreasing"):
        metrics.shift_metrics(stream, [3, 1], ["a", "b"])
    with pytest.raises(ValueError, match="lie in"):
        metrics.shift_metrics(stream, [5], ["a"])
    with pytest.raises(ValueError, match="integer"):
        metrics.shift_metrics(stream, [1.5], ["a"])
    with pytest.raises(ValueError, match="shift_kinds"):
        metrics.shift_metrics(stream, [1, 2], ["a"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.shift_metrics([0.5, 1.5], [1], ["a"])
    with pytest.raises(ValueError, match="tolerance"):
        metrics.shift_metrics(stream, [1], ["a"], tolerance=1.0)


@pytest.mark.parametrize("level", [0.0, 0.1, 0.7, 1.0])
@pytest.mark.parametrize("tolerance", [0.0, 0.05])
def test_constant_stream_has_no_drop_and_immediate_recovery(level: float, tolerance: float) -> None:
    # Long enough that the running sums carry rounding error (non-dyadic levels), which the
    # recovery test must absorb even with tolerance 0.
    steps = 200_000
    times = [0, 1, 999, 50_000, 50_001, 123_456, steps - 1]
    records = metrics.shift_metrics(
        np.full(steps, level), times, ["k"] * len(times), window=1000, tolerance=tolerance
    )
    # Segments [0, 1), [1, 999), [50_000, 50_001) and [steps - 1, steps) are shorter than W.
    assert [record["observed"] for record in records] == [False, False, True, False, True, True, False]
    for record in records:
        assert record["baseline"] == pytest.approx(level, abs=1e-12)
        if not record["observed"]:
            assert (record["drop"], record["recovery_time"], record["regret"]) == (None, None, None)
            continue
        assert record["drop"] == pytest.approx(0.0, abs=1e-12)
        assert record["recovery_time"] == 0
        assert record["censored"] is False
        assert record["regret"] == 0.0


def _reference_shift_metrics(
    wellbeing: np.ndarray, times: list[int], window: int, tolerance: float
) -> list[tuple[float, float | None, int | None, float | None]]:
    """Slow, loop-by-loop transcription of docs/metrics.md, independent of windowed_mean."""
    size = len(wellbeing)
    results = []
    for time in times:
        previous = max([other for other in times if other < time], default=0)
        end = min([other for other in times if other > time], default=size)

        def post_mean(start: int, end: int = end) -> float:
            return float(np.mean(wellbeing[start : min(start + window, end)]))

        baseline_start = max(time - window, previous)
        if baseline_start < time:
            baseline = float(np.mean(wellbeing[baseline_start:time]))
        else:
            baseline = post_mean(time)
        if end - time < window:  # unobserved: no full after-window
            results.append((baseline, None, None, None))
            continue
        drop = baseline - post_mean(time)
        recovery = None
        for step in range(time, end):
            if step > time and step + window > end:
                break
            if post_mean(step) >= (1 - tolerance) * baseline - 1e-9:
                recovery = step - time
                break
        stop = end if recovery is None else time + recovery
        regret = sum(max(0.0, baseline - post_mean(step)) for step in range(time, stop))
        results.append((baseline, drop, recovery, regret))
    return results


@pytest.mark.parametrize("case", range(30))
def test_shift_metrics_match_loop_reference_on_random_streams(case: int) -> None:
    rng = np.random.default_rng(case)
    size = int(rng.integers(5, 120))
    window = int(rng.integers(1, 25))
    tolerance = float(rng.choice([0.0, 0.05, 0.2]))
    # Piecewise levels plus noise, some steps dead (0), so that drops and recoveries both occur.
    times = sorted(rng.integers(0, size, size=int(rng.integers(1, 5))).tolist())
    levels = rng.random(len(times) + 1)
    segment = np.searchsorted(times, np.arange(size), side="right")
    stream = np.clip(levels[segment] + 0.2 * rng.standard_normal(size), 0.0, 1.0)
    stream[rng.random(size) < 0.1] = 0.0

    records = metrics.shift_metrics(stream, times, ["k"] * len(times), window, tolerance)
    expected = _reference_shift_metrics(stream, times, window, tolerance)
    for record, (baseline, drop, recovery, regret) in zip(records, expected, strict=True):
        assert record["baseline"] == pytest.approx(baseline, abs=1e-12)
        assert record["observed"] == (drop is not None)
        if drop is None:
            assert (record["drop"], record["recovery_time"], record["regret"], record["censored"]) == (
                None, None, None, True)
            continue
        assert record["drop"] == pytest.approx(drop, abs=1e-12)
        assert record["recovery_time"] == recovery
        assert record["censored"] == (recovery is None)
        assert record["regret"] == pytest.approx(regret, abs=1e-9)
        # Invariants: regret >= 0, and tau = 0 exactly when the drop is within tolerance.
        assert record["regret"] >= 0.0
        assert (record["recovery_time"] == 0) == (
            record["drop"] <= tolerance * record["baseline"] + 1e-9
        )


# --------------------------------------------------------------------------- forgetting


def test_forgetting_compares_return_with_end_of_previous_visit() -> None:
    wellbeing = [0.5, 1.0, 0.0, 0.0, 0.25, 1.0, 0.5, 0.75]
    regimes = ["a", "a", "b", "b", "a", "a", "b", "b"]
    # Visits: a[0,2) b[2,4) a[4,6) b[6,8). Returns: a at 4 and b at 6.
    # W = 1: a: end of previous = w[1] = 1.0, start = w[4] = 0.25 -> 0.75
    #        b: end of previous = w[3] = 0.0, start = w[6] = 0.5  -> -0.5
    #        mean = (0.75 - 0.5)/2 = 0.125 (positive: worse on return, on average)
    assert metrics.forgetting(wellbeing, regimes, window=1) == 0.125
    # W = 2: a: mean(w[0:2]) - mean(w[4:6]) = 0.75 - 0.625 = 0.125
    #        b: mean(w[2:4]) - mean(w[6:8]) = 0.0 - 0.625 = -0.625
    #        mean = (0.125 - 0.625)/2 = -0.25 (better on return)
    assert metrics.forgetting(wellbeing, regimes, window=2) == -0.25
    # W = 10 is longer than every visit: windows clip to whole visits, same as W = 2.
    assert metrics.forgetting(wellbeing, regimes, window=10) == -0.25


def test_forgetting_uses_the_immediately_previous_visit() -> None:
    wellbeing = [1.0, 0.0, 0.5, 0.0, 0.25]
    regimes = [7, 8, 7, 8, 7]
    # W = 1. Returns: 7 at 2 (prev visit [0,1)): 1.0 - 0.5 = 0.5
    #                 8 at 3 (prev visit [1,2)): 0.0 - 0.0 = 0.0
    #                 7 at 4 (prev visit [2,3), not [0,1)): 0.5 - 0.25 = 0.25
    # mean = (0.5 + 0.0 + 0.25)/3 = 0.25
    assert metrics.forgetting(wellbeing, regimes, window=1) == 0.25


def test_forgetting_is_none_without_recurrence() -> None:
    assert metrics.forgetting([0.5, 0.5, 0.25, 1.0, 1.0], ["a", "a", "b", "c", "c"]) is None
    assert metrics.forgetting([0.5, 0.5, 0.25], [3, 3, 3]) is None
    with pytest.raises(ValueError, match="shape"):
        metrics.forgetting([0.5, 0.5], [1])


# --------------------------------------------------------------------------- generalization


def test_generalization_gap_is_train_minus_heldout() -> None:
    # mean(0.75, 0.25, 0.5) - mean(0.25, 0.25) = 0.5 - 0.25 = 0.25
    assert metrics.generalization_gap([0.75, 0.25, 0.5], [0.25, 0.25]) == 0.25
    assert metrics.generalization_gap([0.25], [0.75]) == -0.5
    with pytest.raises(ValueError, match="non-empty"):
        metrics.generalization_gap([], [0.5])
    with pytest.raises(ValueError, match="finite"):
        metrics.generalization_gap([np.nan], [0.5])
