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
#
# The cases of issue 12, each with W = 2 and eps = 0.25 unless said, and a baseline of 1 (four steps at
# 1.0 before a shift at t = 4) unless said. Candidates C = [4, e - W]: every step whose 2-step window fits
# before the end e. Plateau: the mean over the last floor(n / 4) of the n steps after the onset, for n >= 8.
# These streams have fewer than 8 block differences, so their noise is 0 and the bands are eps wide. The
# times are settling times: from tau on, the means over the next 2, 4, 8... steps and over the rest of the
# regime all lie in the band; tau is searched up to n - max(W, n // 4).

BEFORE = [1.0, 1.0, 1.0, 1.0]


def _scores(after: list[float], before: list[float] = BEFORE, window: int = 2,
            tolerance: float = 0.25) -> metrics.ShiftScores:
    (record,) = metrics.shift_metrics([*before, *after], [len(before)], ["abrupt"], window=window,
                                      tolerance=tolerance)
    return record


def _observed(**scores: object) -> dict[str, object]:
    """An observed shift's record at t = 4: the given scores on top of those every case shares."""
    return {"t": 4, "kind": "abrupt", "observed": True, "noise": 0.0, **scores}


def test_a_shock_that_recovers() -> None:
    record = _scores([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # m over C = [4, 10]: 0, 0.5, 1, 1, 1, 1, 1. b = mean(w[2:4]) = 1; drop = 1 - m[4] = 1.
    # deficit = mean(1, 0.5, 0, 0, 0, 0, 0) = 1.5 / 7; area = deficit * 8 steps.
    # plateau = mean(w[10:12]) = 1. From tau = 2 (t = 6) every running mean is 1: in both bands (|mean - 1| <=
    # 0.25; mean >= 0.75); from tau = 0 or 1 the next two steps average 0 or 0.5: adaptation 2, return 2.
    assert record == pytest.approx(_observed(
        baseline=1.0, drop=1.0, deficit=1.5 / 7, deficit_area=1.5 / 7 * 8, plateau=1.0, adaptation_time=2,
        adaptation_censored=False, sustained_return=2, return_censored=False, observed_steps=8), abs=1e-12)


def test_a_delayed_decline_is_a_deficit_not_a_recovery() -> None:
    # The early blight of PPO: fine for the first window, worse for the rest of the regime.
    record = _scores([0.5, 0.5, 0.5, 0.5, 0.125, 0.125, 0.125, 0.125], before=[0.5] * 4)
    # b = 0.5; m over C = [4, 10]: 0.5, 0.5, 0.5, 0.3125, 0.125, 0.125, 0.125; drop = 0.5 - 0.5 = 0 (the first
    # window saw nothing). deficit = mean(0, 0, 0, 0.1875, 0.375, 0.375, 0.375) = 0.1875; area = 0.1875 * 8.
    # plateau = 0.125, band 0.03125: from tau = 4 every running mean is 0.125; before it the next two steps
    # average 0.5 or 0.3125: adaptation 4. Return (mean >= 0.375): from tau = 0 the whole regime averages
    # 0.3125, and every later start reaches the decline sooner: censored (the old first-return rule said
    # "recovered at once").
    assert record == _observed(
        baseline=0.5, drop=0.0, deficit=0.1875, deficit_area=1.5, plateau=0.125, adaptation_time=4,
        adaptation_censored=False, sustained_return=None, return_censored=True, observed_steps=8)


def test_a_decline_that_never_recovers() -> None:
    record = _scores([0.75] * 8 + [0.5] * 4 + [0.25, 0.25, 0.0, 0.0])
    # n = 16, C = [4, 18]; m: 0.75 (x7), 0.625, 0.5 (x3), 0.375, 0.25, 0.125, 0; drop = 1 - 0.75 = 0.25; the
    # shortfalls 1 - m sum to 1.75 + 0.375 + 1.5 + 0.625 + 0.75 + 0.875 + 1 = 6.875 over 15 candidates.
    # plateau = mean(0.25, 0.25, 0, 0) = 0.125, band 0.03125: the next two steps from any tau <= 12 average
    # at least 0.25: still declining when the regime ends, adaptation censored. Never back (every start's rest
    # of the regime averages below 0.75): censored.
    assert record == pytest.approx(_observed(
        baseline=1.0, drop=0.25, deficit=6.875 / 15, deficit_area=6.875 / 15 * 16, plateau=0.125,
        adaptation_time=None, adaptation_censored=True, sustained_return=None, return_censored=True,
        observed_steps=16), abs=1e-12)


def test_a_windfall_costs_nothing() -> None:
    record = _scores([1.0] * 8, before=[0.5] * 4)
    # b = 0.5, every m after is 1: drop -0.5 (better), no shortfall, plateau 1 at once, back at once.
    assert record == _observed(
        baseline=0.5, drop=-0.5, deficit=0.0, deficit_area=0.0, plateau=1.0, adaptation_time=0,
        adaptation_censored=False, sustained_return=0, return_censored=False, observed_steps=8)


def test_a_harder_regime_tells_a_fast_adapter_from_a_slow_one() -> None:
    # Both bodies end at 0.5, below the baseline 1 that the new regime no longer allows.
    fast = _scores([0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    slow = _scores([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5])
    # fast: m over C = 0, 0.25, 0.5, 0.5, 0.5, 0.5, 0.5; plateau 0.5, band 0.125: every running mean from
    #       tau = 2 is 0.5 (adaptation 2). deficit = mean(1, 0.75, 0.5, 0.5, 0.5, 0.5, 0.5) = 4.25 / 7.
    # slow: m over C = 0, 0, 0, 0, 0, 0.25, 0.5; settled from tau = 6 (the latest start searched, 8 - 2).
    #       deficit = mean(1, 1, 1, 1, 1, 0.75, 0.5) = 6.25 / 7.
    # Neither is ever back within eps of 1: both returns censored; a return to the baseline cannot tell them
    # apart, the adaptation time can.
    shared = {"baseline": 1.0, "drop": 1.0, "plateau": 0.5, "adaptation_censored": False, "sustained_return": None,
              "return_censored": True, "observed_steps": 8}
    assert fast == pytest.approx(_observed(**shared, deficit=4.25 / 7, deficit_area=4.25 / 7 * 8, adaptation_time=2),
                                 abs=1e-12)
    assert slow == pytest.approx(_observed(**shared, deficit=6.25 / 7, deficit_area=6.25 / 7 * 8, adaptation_time=6),
                                 abs=1e-12)


def test_a_shift_with_too_little_time_after_it() -> None:
    # One step after the onset (< W): unobserved, nothing scored but the baseline, never "recovered".
    assert _scores([0.5]) == {"t": 4, "kind": "abrupt", "baseline": 1.0, "drop": None, "deficit": None,
                              "deficit_area": None, "plateau": None, "adaptation_time": None,
                              "adaptation_censored": True, "sustained_return": None, "return_censored": True,
                              "noise": 0.0, "observed": False, "observed_steps": 1}
    # Four steps (W <= n < 4 W): observed, but too short for a plateau: no adaptation time, and not censored.
    # m over C = [4, 6]: 0.5, 0.75, 1; deficit = mean(0.5, 0.25, 0) = 0.25; back (>= 0.75) from tau = 1: the next
    # two steps average 0.75, the rest of the regime 2.5 / 3.
    assert _scores([0.5, 0.5, 1.0, 1.0]) == _observed(
        baseline=1.0, drop=0.5, deficit=0.25, deficit_area=1.0, plateau=None, adaptation_time=None,
        adaptation_censored=False, sustained_return=1, return_censored=False, observed_steps=4)


def test_the_regime_ends_at_the_next_shift() -> None:
    wellbeing = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    first, second = metrics.shift_metrics(wellbeing, [4, 8], ["drought", "rain"], window=2, tolerance=0.25)
    # Shift at 4, regime [4, 8): C = [4, 6] (a window must fit before 8): m = 0, 0, 0.5. m[7] = w[7] = 1 (a
    # window cut at 8) is not a candidate: one good step before the next shift is no return. deficit =
    # mean(1, 1, 0.5) = 2.5 / 3; n = 4 < 8: no plateau.
    assert first == pytest.approx({
        "t": 4, "kind": "drought", "baseline": 1.0, "drop": 1.0, "deficit": 2.5 / 3, "deficit_area": 2.5 / 3 * 4,
        "plateau": None, "adaptation_time": None, "adaptation_censored": False, "sustained_return": None,
        "return_censored": True, "noise": 0.0, "observed": True, "observed_steps": 4}, abs=1e-12)
    # Shift at 8: the baseline is clipped at the previous shift: [max(8 - 4 * 2, 4), 8) = [4, 8) -> 0.25 (not
    # the mean of the 8 steps before, which would mix in the earlier regime); every m after is 1.
    assert second == {
        "t": 8, "kind": "rain", "baseline": 0.25, "drop": -0.75, "deficit": 0.0, "deficit_area": 0.0,
        "plateau": None, "adaptation_time": None, "adaptation_censored": False, "sustained_return": 0,
        "return_censored": False, "noise": 0.0, "observed": True, "observed_steps": 4}


def test_the_baseline_is_the_mean_of_four_windows_before_the_shift() -> None:
    # W = 2: the baseline of a shift at 10 averages w[2:10] (4 W = 8 steps), not only the last window (w[8:10]).
    wellbeing = [0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    (record,) = metrics.shift_metrics(wellbeing, [10], ["abrupt"], window=2)
    assert record["baseline"] == (0.5 * 6 + 1.0 * 2) / 8


def test_noise_is_the_spread_of_successive_window_means() -> None:
    # Blocks of W = 2 alternate between means 0.5 and 0.7: every difference is 0.2, nine of them.
    assert metrics.window_noise([0.5, 0.5, 0.7, 0.7] * 5, window=2) == pytest.approx(0.2 / (0.6745 * 2 ** 0.5))
    # A boundary starts a new run of blocks: the jump across it is no difference (and 8 are needed).
    jump = [0.5] * 10 + [0.9] * 10
    assert metrics.window_noise(jump, window=1, boundaries=[10]) == 0.0
    assert metrics.window_noise(jump[:8], window=1) == 0.0  # 7 differences: too few to tell noise from signal
    # The median ignores a few large steps (a body adapting): one jump among many zeros.
    assert metrics.window_noise(jump, window=1) == 0.0


def test_a_noisy_stream_widens_the_bands_to_its_noise() -> None:
    # A level of 0.5 with a +-0.1 wiggle every other window, then a shift to 0.45 (a 10% loss) and the same
    # wiggle. With eps = 0.05 the return band (0.025) is narrower than the noise: the wiggle alone would
    # leave it, so it is widened to 3 noise / sqrt(l / W) at horizon l.
    wiggle = np.tile([0.1, 0.1, -0.1, -0.1], 10)
    stream = np.concatenate([0.5 + wiggle, 0.45 + wiggle])
    (record,) = metrics.shift_metrics(stream, [40], ["abrupt"], window=2, tolerance=0.05)
    noise = 0.2 / (0.6745 * 2 ** 0.5)  # block means differ by 0.2 at every step
    assert record["noise"] == pytest.approx(noise)
    assert record["baseline"] == pytest.approx(0.5)
    # The rest of the regime from tau = 0 averages 0.45, 0.05 below the baseline: within 3 noise / sqrt(20).
    assert 0.05 < 3 * noise / 20 ** 0.5
    assert (record["sustained_return"], record["return_censored"]) == (0, False)
    # eps alone (0.025) would have called every start "not back": from any tau the next two steps include a
    # 0.35 (or average 0.45), 0.125 or more below the baseline.
    assert 0.5 - 0.45 > 0.05 * 0.5


def test_shift_at_time_zero_is_neutral() -> None:
    (scores,) = metrics.shift_metrics([0.5, 0.5, 1.0, 1.0], [0], ["initial"], window=2, tolerance=0.05)
    # No step before t = 0: the baseline is m[0] = mean(w[0:2]) = 0.5 itself: drop 0; C = [0, 2]:
    # m = 0.5, 0.75, 1, never below 0.5: deficit 0, back at once; n = 4 < 8: no plateau.
    assert scores == {"t": 0, "kind": "initial", "baseline": 0.5, "drop": 0.0, "deficit": 0.0, "deficit_area": 0.0,
                      "plateau": None, "adaptation_time": None, "adaptation_censored": False, "sustained_return": 0,
                      "return_censored": False, "noise": 0.0, "observed": True, "observed_steps": 4}


def test_agent_dead_throughout_has_nothing_to_lose() -> None:
    stream = metrics.wellbeing([False] * 16, np.zeros((16, 1)), [1.0])
    records = metrics.shift_metrics(stream, [0, 8], ["a", "b"], window=2)
    # Wellbeing 0 everywhere: baselines 0, no shortfall, the plateau 0 reached at once, back at once.
    for record, time in zip(records, [0, 8], strict=True):
        assert {key: record[key] for key in ("baseline", "drop", "deficit", "plateau", "adaptation_time",  # type: ignore[literal-required]
                                             "sustained_return", "observed_steps")} == {
            "baseline": 0.0, "drop": 0.0, "deficit": 0.0, "plateau": 0.0, "adaptation_time": 0, "sustained_return": 0,
            "observed_steps": 8}
        assert record["t"] == time


def test_simultaneous_shifts_share_their_segment() -> None:
    wellbeing = [*BEFORE, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    flood, heat = metrics.shift_metrics(wellbeing, [4, 4], ["flood", "heat"], window=2, tolerance=0.25)
    assert {**flood, "kind": "heat"} == heat
    assert flood["sustained_return"] == 2  # as in test_a_shock_that_recovers


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
def test_constant_stream_costs_nothing(level: float, tolerance: float) -> None:
    # Long enough that the running sums carry rounding error (non-dyadic levels), which the return and
    # adaptation tests must absorb even with tolerance 0.
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
            assert (record["drop"], record["deficit"], record["sustained_return"]) == (None, None, None)
            continue
        assert record["drop"] == pytest.approx(0.0, abs=1e-12)
        assert record["deficit"] == pytest.approx(0.0, abs=1e-12)
        assert record["plateau"] == pytest.approx(level, abs=1e-12)
        assert (record["sustained_return"], record["return_censored"]) == (0, False)
        assert (record["adaptation_time"], record["adaptation_censored"]) == (0, False)


def _reference_noise(wellbeing: np.ndarray, times: list[int], window: int) -> float:
    """window_noise by loops: successive differences of whole W-blocks within each segment, median / (0.6745 √2)."""
    edges = sorted({0, *times, len(wellbeing)})
    differences = []
    for start, end in zip(edges[:-1], edges[1:], strict=False):
        blocks = [float(np.mean(wellbeing[b : b + window])) for b in range(start, end - window + 1, window)]
        differences += [abs(later - earlier) for earlier, later in zip(blocks[:-1], blocks[1:], strict=True)]
    return float(np.median(differences)) / (0.6745 * 2 ** 0.5) if len(differences) >= 8 else 0.0


def _settled(regime: np.ndarray, reference: float, tolerance: float, noise: float, window: int,
             two_sided: bool) -> int | None:
    """The first start from which every horizon (W, 2W, 4W... and the rest) passes, by loops; None if none."""
    size = len(regime)
    for start in range(size - max(window, size // 4) + 1):
        horizons = []
        length = window
        while start + length <= size:
            horizons.append(length)
            length *= 2
        horizons.append(size - start)
        passes = True
        for length in horizons:
            mean = float(np.mean(regime[start : start + length]))
            band = max(tolerance * reference, 3 * noise * (window / length) ** 0.5) + 1e-9
            passes &= abs(mean - reference) <= band if two_sided else mean >= reference - band
        if passes:
            return start
    return None


def _reference_shift_metrics(wellbeing: np.ndarray, times: list[int], window: int,
                             tolerance: float) -> list[dict[str, object] | None]:
    """Slow, loop-by-loop transcription of docs/metrics.md, independent of windowed_mean; None when unobserved."""
    size = len(wellbeing)
    noise = _reference_noise(wellbeing, times, window)
    results: list[dict[str, object] | None] = []
    for time in times:
        previous = max([other for other in times if other < time], default=0)
        end = min([other for other in times if other > time], default=size)

        def post_mean(start: int, end: int = end) -> float:
            return float(np.mean(wellbeing[start : min(start + window, end)]))

        baseline_start = max(time - 4 * window, previous)
        baseline = float(np.mean(wellbeing[baseline_start:time])) if baseline_start < time else post_mean(time)
        steps = end - time
        if steps < window:
            results.append(None)
            continue
        means = [post_mean(t) for t in range(time, end - window + 1)]
        deficit = sum(max(0.0, baseline - m) for m in means) / len(means)
        regime = wellbeing[time:end]
        result: dict[str, object] = {
            "baseline": baseline, "drop": baseline - post_mean(time), "deficit": deficit,
            "deficit_area": deficit * steps, "noise": noise,
            "sustained_return": _settled(regime, baseline, tolerance, noise, window, two_sided=False),
            "plateau": None, "adaptation_time": None}
        if steps >= 4 * window:
            plateau = float(np.mean(wellbeing[end - steps // 4 : end]))
            result["plateau"] = plateau
            result["adaptation_time"] = _settled(regime, plateau, tolerance, noise, window, two_sided=True)
        results.append(result)
    return results


@pytest.mark.parametrize("case", range(40))
def test_shift_metrics_match_loop_reference_on_random_streams(case: int) -> None:
    rng = np.random.default_rng(case)
    size = int(rng.integers(20, 300))
    window = int(rng.integers(1, 10))
    tolerance = float(rng.choice([0.0, 0.05, 0.2]))
    # Piecewise trends plus noise, some steps dead (0), so that drops, returns, slow adaptations and noise bands
    # all occur (of these 40 cases' shifts: 69 have a noise, 11 a later return, 30 a later adaptation).
    times = sorted(rng.integers(0, size, size=int(rng.integers(1, 4))).tolist())
    levels = rng.random(len(times) + 1)
    slopes = rng.normal(0.0, 0.005, len(times) + 1)
    segment = np.searchsorted(times, np.arange(size), side="right")
    offsets = np.arange(size) - np.array([0, *times])[segment]
    stream = np.clip(levels[segment] + slopes[segment] * offsets + 0.1 * rng.standard_normal(size), 0.0, 1.0)
    stream[rng.random(size) < 0.05] = 0.0

    records = metrics.shift_metrics(stream, times, ["k"] * len(times), window, tolerance)
    expected = _reference_shift_metrics(stream, times, window, tolerance)
    for record, reference in zip(records, expected, strict=True):
        assert record["observed"] == (reference is not None)
        if reference is None:
            assert (record["drop"], record["deficit"], record["sustained_return"], record["return_censored"],
                    record["adaptation_censored"]) == (None, None, None, True, True)
            continue
        assert {key: record[key] for key in reference} == pytest.approx(reference, abs=1e-9)  # type: ignore[literal-required]
        assert record["return_censored"] == (reference["sustained_return"] is None)
        assert record["adaptation_censored"] == (reference["plateau"] is not None and
                                                 reference["adaptation_time"] is None)
        # Invariants: the deficit is never negative and at most the baseline.
        assert 0.0 <= record["deficit"] <= record["baseline"] + 1e-12  # type: ignore[operator]


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
