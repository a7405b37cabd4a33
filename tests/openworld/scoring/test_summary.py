"""Tests of openworld.scoring.summary on small recordings with hand-computed answers: the summary of a
recording is the metrics of its stream, written as plain JSON.

These checks ran on ``metrics.summarize_run``, which computed the same numbers off the live path; they now
record the streams with a :class:`Monitor` at world clocks 0, 1, ... (so that stream indices and world
clocks coincide) and score them with :func:`summarize`.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from openworld.scoring.monitor import Monitor, rescore, summarize
from openworld.world.shifts import ShiftSchedule
from openworld.world.spec import load_spec_text

SCORE_KEYS = ("baseline", "drop", "deficit", "deficit_area", "plateau", "adaptation_time", "adaptation_censored",
              "sustained_return", "return_censored", "noise")
SHIFT_KEYS = {"t", "kind", "name", "observed_steps", "observed", *SCORE_KEYS, *(f"alive_{key}" for key in SCORE_KEYS)}


def schedule(shifts: str) -> ShiftSchedule:
    return ShiftSchedule(load_spec_text(textwrap.dedent(f"""
        name: Toy
        resources: {{berry: {{regrow: 0.02}}}}
        shifts: {shifts}
        """)))


def record(directory: Path, shifts: ShiftSchedule | None, alive: Sequence[bool], vitals: npt.ArrayLike) -> None:
    """One body's stream at world clocks 0, 1, ...; a death is an alive -> dead transition."""
    living = np.asarray(alive, bool)
    died = np.r_[False, living[:-1] & ~living[1:]]
    levels = np.asarray(vitals, np.float32)
    names = [f"v{k}" for k in range(levels.shape[1])]
    with Monitor(directory, shifts, 1, vital_names=names) as recorder:
        for t in range(living.size):
            recorder.record([t], [living[t]], levels[t:t + 1], [died[t]])


def _assert_plain_json(summary: dict[str, Any]) -> None:
    """Plain Python types, no NaN, and a json round-trip."""
    assert type(summary["steps"]) is int
    assert type(summary["world"]) is str
    assert type(summary["agent"]) is str
    assert type(summary["seed"]) is int
    assert set(summary["survival"]) == {"alive_fraction", "deaths_per_10k", "mean_lifetime"}
    for value in summary["survival"].values():
        assert type(value) is float
        assert math.isfinite(value)
    for record in summary["shifts"]:
        assert set(record) - {"ramp_end"} == SHIFT_KEYS
        assert ("ramp_end" in record) == (record["kind"] == "gradual")
        assert type(record["t"]) is int
        assert type(record["kind"]) is str
        assert type(record["observed"]) is bool
        assert type(record["observed_steps"]) is int
        for prefix in ("", "alive_"):
            # Unobserved (after-window shorter than W): only the baselines are numbers.
            scored = ("drop", "deficit", "deficit_area") if record["observed"] else ()
            for key in ("baseline", *scored):
                assert type(record[prefix + key]) is float
                assert math.isfinite(record[prefix + key])
            if not record["observed"]:
                assert [record[prefix + key] for key in SCORE_KEYS[1:9]] == [None] * 5 + [True, None, True]
            assert type(record[prefix + "noise"]) is float
            assert record[prefix + "plateau"] is None or type(record[prefix + "plateau"]) is float
            for key in ("adaptation_time", "sustained_return"):
                assert record[prefix + key] is None or type(record[prefix + key]) is int
            for key in ("adaptation_censored", "return_censored"):
                assert type(record[prefix + key]) is bool
    for regime, scores in summary["survival_by_regime"].items():
        assert type(regime) is str and type(scores["steps"]) is int and type(scores["alive_fraction"]) is float
    assert summary["forgetting"] is None or type(summary["forgetting"]) is float
    encoded = json.dumps(summary, allow_nan=False)
    assert json.loads(encoded) == summary


def test_summary_builds_the_json_contract(tmp_path: Path) -> None:
    alive = [True, True, True, True, False, False, True, True, True, True]
    nan = float("nan")
    # Two vitals, maxima 4 and 2, recorded as fractions; wellbeing = min(v0/4, v1/2) while alive:
    # w = [1, 1, 1, 1, 0 (dead), 0 (dead), 0.5, 1, 1, 0.5]
    vitals = np.array([[4, 2]] * 4 + [[nan, nan]] * 2 + [[2, 2], [4, 2], [4, 2], [4, 1]]) / [4.0, 2.0]
    # The seasons take turns every 4 steps: winter at 4, summer (again) at 8.
    seasons = schedule("""
        - {name: seasons, kind: cyclic, start: 0, period: 4, regimes: [
            {name: summer, set: {resources.berry.regrow: 0.02}},
            {name: winter, set: {resources.berry.regrow: 0.001}}]}
        """)
    record(tmp_path, seasons, alive, vitals)
    summary = summarize(tmp_path, window=2, tolerance=0.25, world="Seasons-v0", agent="random", seed=np.int64(3))
    _assert_plain_json(summary)
    assert summary["steps"] == 10
    assert (summary["world"], summary["agent"], summary["seed"]) == ("Seasons-v0", "random", 3)
    # 8 of 10 alive; one death (t = 4) -> 10_000/10 = 1000; lives 4 + 4 -> 8 / (1 + 1) = 4.0
    assert summary["survival"] == {
        "alive_fraction": 0.8,
        "deaths_per_10k": 1000.0,
        "mean_lifetime": 4.0,
    }
    # Shift at 4 (regime [4, 8), candidates 4-6): baseline mean(w[2:4]) = 1; m = 0, 0.25, 0.75: drop 1, deficit
    # mean(1, 0.75, 0.25) = 2/3 (area x 4 steps), back (>= 0.75) from 6: return 2; too short for a plateau.
    # Shift at 8 (regime [8, 10), candidate 8): baseline mean(w[4:8]) = 0.375 (4 W, clipped at the shift at 4);
    # m[8] = 0.75: no cost. Ten steps are too few for a noise estimate: 0.
    no_plateau = {"plateau": None, "adaptation_time": None, "adaptation_censored": False, "noise": 0.0}
    expected = [
        {"t": 4, "kind": "cyclic", "name": "winter", "baseline": 1.0, "drop": 1.0, "deficit": 2 / 3,
         "deficit_area": 8 / 3, **no_plateau, "sustained_return": 2, "return_censored": False, "observed_steps": 4,
         "observed": True,
         # Alive a = [1, 1, 1, 1, 0, 0, 1, 1, 1, 1]: baseline 1; m = 0, 0.5, 1: drop 1, deficit 0.5, return 2.
         "alive_baseline": 1.0, "alive_drop": 1.0, "alive_deficit": 0.5, "alive_deficit_area": 2.0,
         **{f"alive_{key}": value for key, value in no_plateau.items()}, "alive_sustained_return": 2,
         "alive_return_censored": False},
        {"t": 8, "kind": "cyclic", "name": "summer", "baseline": 0.375, "drop": -0.375, "deficit": 0.0,
         "deficit_area": 0.0, **no_plateau, "sustained_return": 0, "return_censored": False,
         "observed_steps": 2,  # = W: a full after-window, so scored
         # Alive over [4, 8): 0, 0, 1, 1 -> baseline 0.5; all alive after: drop -0.5.
         "observed": True, "alive_baseline": 0.5, "alive_drop": -0.5, "alive_deficit": 0.0, "alive_deficit_area": 0.0,
         **{f"alive_{key}": value for key, value in no_plateau.items()}, "alive_sustained_return": 0,
         "alive_return_censored": False},
    ]
    assert len(summary["shifts"]) == len(expected)
    for got, want in zip(summary["shifts"], expected, strict=True):
        assert got == pytest.approx(want, abs=1e-12)
    # summer: clocks 0-3 and 8-9, all alive; winter: clocks 4-7, alive at 6 and 7.
    assert summary["survival_by_regime"] == {"summer": {"steps": 6, "alive_fraction": 1.0},
                                             "winter": {"steps": 4, "alive_fraction": 0.5}}
    assert summary["alive_curve"] == {"bin": 1, "t": list(range(10)),
                                      "alive_fraction": [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]}
    # "summer" returns at 8: end of previous visit mean(w[2:4]) = 1.0, start mean(w[8:10]) = 0.75
    # -> forgetting = 1.0 - 0.75 = 0.25
    assert summary["forgetting"] == 0.25


def test_summary_dead_throughout_and_no_shifts_is_valid_json(tmp_path: Path) -> None:
    record(tmp_path, None, [False] * 5, np.zeros((5, 3)))
    summary = summarize(tmp_path, world="W-v0", agent="a", seed=0)
    _assert_plain_json(summary)
    assert summary["survival"] == {
        "alive_fraction": 0.0,
        "deaths_per_10k": 0.0,
        "mean_lifetime": 0.0,
    }
    assert summary["shifts"] == []
    assert summary["forgetting"] is None


def test_summary_with_censored_shift_is_valid_json(tmp_path: Path) -> None:
    # A return None and censored True must survive the JSON round-trip (as null / true).
    record(tmp_path, schedule("[{name: scarce, kind: abrupt, at: 2, set: {resources.berry.regrow: 0.001}}]"),
           [True] * 6, [[1.0], [1.0], [0.0], [0.0], [0.0], [0.0]])
    summary = summarize(tmp_path, window=2, world="W-v0", agent="a", seed=1)
    _assert_plain_json(summary)
    assert summary["shifts"][0]["sustained_return"] is None
    assert summary["shifts"][0]["return_censored"] is True
    assert '"sustained_return": null' in json.dumps(summary)


def test_summary_rejects_non_integer_seed(tmp_path: Path) -> None:
    record(tmp_path, None, [True], [[1.0]])
    with pytest.raises(TypeError, match="seed"):
        summarize(tmp_path, world="W", agent="a", seed=1.5)


def test_summary_reports_a_shift_at_the_end_as_unobserved(tmp_path: Path) -> None:
    # The blight at the last recorded clock (like `openworld run world=blight steps=20000`): one step seen.
    record(tmp_path, schedule("[{name: blight, kind: abrupt, at: 5, set: {resources.berry.regrow: 0.001}}]"),
           [True] * 6, [[1.0]] * 5 + [[0.5]])
    summary = summarize(tmp_path, window=2, world="W-v0", agent="a", seed=0)
    _assert_plain_json(summary)
    (blight,) = summary["shifts"]
    assert (blight["t"], blight["observed"], blight["observed_steps"]) == (5, False, 1)
    assert (blight["baseline"], blight["drop"], blight["deficit"], blight["sustained_return"],
            blight["return_censored"]) == (1.0, None, None, None, True)
    assert '"drop": null' in json.dumps(summary)


def test_summary_scores_the_mean_alive_fraction_of_several_bodies(tmp_path: Path) -> None:
    # Two bodies at clocks 0..7; body 1 dies at 4 and is back at 6.
    alive = np.array([[1, 1], [1, 1], [1, 1], [1, 1], [1, 0], [1, 0], [1, 1], [1, 1]], bool)
    ramp = schedule("[{name: drought, kind: gradual, start: 4, end: 6, set: {resources.berry.regrow: 0.001}}]")
    with Monitor(tmp_path, ramp, 2, vital_names=["v0"]) as recorder:
        for t in range(8):
            died = np.array([False, t == 4])
            recorder.record([t, t], alive[t], np.ones((2, 1)), died)
    summary = summarize(tmp_path, window=2, tolerance=0.0, world="W-v0", agent="a", seed=0)
    _assert_plain_json(summary)
    # Mean alive fraction a = [1, 1, 1, 1, 0.5, 0.5, 1, 1]; the drought's onset at 4 (segment [4, 8), eps = 0):
    # baseline mean(a[2:4]) = 1; m over the candidates 4-6: 0.5, 0.75, 1: drop 0.5, deficit mean(0.5, 0.25, 0)
    # = 0.25, back to 1 for good from 6: return 2.
    (drought,) = summary["shifts"]
    assert (drought["alive_baseline"], drought["alive_drop"], drought["alive_deficit"],
            drought["alive_sustained_return"], drought["alive_return_censored"]) == (1.0, 0.5, 0.25, 2, False)
    assert drought["ramp_end"] == 6  # the label is "drought~" over [4, 6), "drought" from 6
    assert summary["alive_curve"]["alive_fraction"] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 1.0]
    # base: clocks 0-3 all alive; drought~: 4-5 half alive; drought: 6-7 all alive.
    assert summary["survival_by_regime"] == {"base": {"steps": 4, "alive_fraction": 1.0},
                                             "drought~": {"steps": 2, "alive_fraction": 0.5},
                                             "drought": {"steps": 2, "alive_fraction": 1.0}}
    # Each body's own record: body 1's alive fraction in drought~ is 0.
    assert summary["bodies"][1]["survival_by_regime"]["drought~"] == {"steps": 2, "alive_fraction": 0.0}


def test_rescore_scores_again_and_keeps_what_the_summary_was_told(tmp_path: Path) -> None:
    record(tmp_path, schedule("[{name: scarce, kind: abrupt, at: 4, set: {resources.berry.regrow: 0.001}}]"),
           [True] * 8, [[1.0]] * 4 + [[0.5]] * 4)
    fresh = summarize(tmp_path, window=2, tolerance=0.25, world="W-v0", agent="a", seed=0, variant="dry",
                      lifetime_steps=8)
    # A summary written before the scores of issue 12: the old keys, and a runner's section scored then.
    old = {**fresh, "shifts": [{"t": 4, "kind": "abrupt", "name": "scarce", "baseline": 1.0, "drop": 0.5,
                                "recovery_time": None, "censored": True, "regret": 2.0}],
           "evaluation": [{"step": 8, "variant": "dry"}]}
    (tmp_path / "summary.json").write_text(json.dumps(old))
    rescored = rescore(tmp_path)
    assert rescored == {**fresh, "evaluation": [{"step": 8, "variant": "dry"}]}
    assert json.loads((tmp_path / "summary.json").read_text()) == rescored
    assert rescored["shifts"][0]["deficit"] == 0.5 and "recovery_time" not in rescored["shifts"][0]
    assert rescore(tmp_path, window=4)["window"] == 4  # the summary's own window unless told
    with pytest.raises(FileNotFoundError):
        rescore(tmp_path / "elsewhere")


# --------------------------------------------------------------------------- streamed scoring, checked chunks

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


@pytest.mark.parametrize("window", [1, 5])
def test_streamed_scoring_equals_scoring_the_whole_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             window: int) -> None:
    """Scoring a few bodies at a time (here one or two bodies a batch) gives the very summary of the old path,
    which read the whole recording at once (kept in benchmarks/scoring_memory.py as the reference)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import scoring_memory

    scoring_memory.record(tmp_path, bodies=3, steps=2_000, window=window, seed=1)
    whole = scoring_memory.old_summary(tmp_path, window=100, tolerance=0.05)
    assert whole["num_bodies"] == 3 and whole["shifts"]
    for batch_rows in (1, 2_500, 10**9):  # a body a batch, two, all at once
        assert summarize(tmp_path, window=100, write=False, batch_rows=batch_rows) == whole, batch_rows


def test_a_damaged_chunk_is_named_when_scoring(tmp_path: Path) -> None:
    from openworld.errors import RecordingError

    with Monitor(tmp_path, None, 1, chunk_rows=4, metadata={"world": "w", "agent": "a", "seed": 0}) as monitor:
        for t in range(1, 13):
            monitor.record([t], [True], np.full((1, 4), 0.5), [False])
    summarize(tmp_path, window=2, write=False)
    chunk = tmp_path / "stream" / "chunk-00000001.parquet"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF  # altered, same size
    chunk.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="chunk-00000001.parquet.*SHA-256"):
        summarize(tmp_path, window=2)
    chunk.write_bytes(bytes(data[:-5]))  # truncated
    with pytest.raises(RecordingError, match="chunk-00000001.parquet.*bytes"):
        summarize(tmp_path, window=2)
    assert not (tmp_path / "summary.json").exists()
    (tmp_path / "stream" / "manifest.json").unlink()  # a recording made before chunks were checksummed
    with pytest.raises(RecordingError, match="chunk-00000001.parquet.*truncated"):
        summarize(tmp_path, window=2)
