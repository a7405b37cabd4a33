"""Tests of openworld.scoring.monitor: rows on disk equal the stream recorded, dead time is filled in, windows
add up by hand, chunks appear whole, a crash keeps every flushed chunk, resuming reproduces the
stream exactly, and the summary follows the contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import openworld  # noqa: F401  (registers the worlds)
from openworld.registry import load_world_spec
from openworld.scoring import metrics
from openworld.scoring.monitor import Monitor, RecordLifetime, RecordLifetimeVector, read_recording, summarize
from openworld.scoring.summary import SHIFT_KEYS
from openworld.world.shifts import ShiftSchedule
from openworld.world.spec import load_spec_text

REPO_ROOT = Path(__file__).resolve().parents[3]
# Dies of thirst five steps after each (re)spawn and stays away 7 world steps: many deaths, short runs.
DEADLY = {"body.water.decay": 2.0, "body.starvation_damage": 5.0, "body.respawn_delay": 7}
TOY_SCHEDULE = ShiftSchedule(load_spec_text(textwrap.dedent("""
    name: Toy
    resources: {berry: {regrow: 0.02}}
    shifts:
      - {name: scarce, kind: abrupt, at: 3, set: {resources.berry.regrow: 0.001}}
      - {name: dry, kind: gradual, start: 4, end: 6, set: {resources.berry.regrow: 0.002}}
    """)))


def vitals(*levels: float) -> np.ndarray:
    """One row of four equal vitals per level."""
    return np.repeat(np.array(levels, np.float32)[:, None], 4, axis=1)


# --------------------------------------------------------------------------- per-step records


def test_step_rows_fill_clock_jumps_with_dead_rows_per_body(tmp_path: Path) -> None:
    with Monitor(tmp_path, TOY_SCHEDULE, 2, chunk_rows=3) as recorder:
        recorder.record([1, 1], [True, True], [[0.5] * 4, [1.0, 1.0, 1.0, 0.25]], [False, False])
        recorder.record([2, 4], [False, True], vitals(0.0, 0.75), [True, False])  # body 1 jumped 1 -> 4
        recorder.record([5, 5], [True, True], vitals(1.0, 0.75), [False, False])  # body 0 jumped 2 -> 5
    recording = read_recording(tmp_path)
    assert recording.closed and recording.mode == "step"
    first, second = recording.body(0), recording.body(1)
    assert first["t"].tolist() == [1, 2, 3, 4, 5]
    assert first["alive"].tolist() == [True, False, False, False, True]
    assert first["died"].tolist() == [False, True, False, False, False]
    assert first["wellbeing"].tolist() == [0.5, 0.0, 0.0, 0.0, 1.0]
    assert second["t"].tolist() == [1, 2, 3, 4, 5]
    assert second["alive"].tolist() == [True, False, False, True, True]
    assert second["wellbeing"].tolist() == [0.25, 0.0, 0.0, 0.75, 0.75]  # the weakest vital
    assert second["vitals"][0].tolist() == [1.0, 1.0, 1.0, 0.25]
    assert second["vitals"][1:3].tolist() == [[0.0] * 4] * 2  # skipped clocks: dead, empty
    # Regimes from the schedule: base before 3, scarce at 3, the ramp from 4, its end at 6.
    assert [recording.regime_names[c] for c in first["regime"]] == ["base", "base", "scarce", "scarce+dry~",
                                                                    "scarce+dry~"]
    assert recording.shift_events(0) == [(2, 3, "abrupt", "scarce"), (3, 4, "gradual", "dry")]
    assert recording.shift_events(1) == recording.shift_events(0)  # filled rows get their labels too


def test_regime_and_shift_labels_match_the_schedule_at_every_clock(tmp_path: Path) -> None:
    schedule = ShiftSchedule(load_world_spec("Shiftlands-v0"))
    steps = 20_000
    recorder = Monitor(tmp_path, schedule, 1, chunk_rows=7_000)
    for t in range(1, steps + 1, 1000):  # 1000-step jumps exercise the filled rows' labels too
        recorder.record([t], [True], vitals(0.5), [False])
    recorder.record([steps + 1], [True], vitals(0.5), [False])
    recorder.close()
    recording = read_recording(tmp_path)
    rows = recording.body(0)
    assert rows["t"].tolist() == list(range(1, steps + 2))
    names = [recording.regime_names[c] for c in rows["regime"]]
    assert names == [schedule.regime_name(t) for t in range(1, steps + 2)]
    onsets = [(t, kind, name) for _, t, kind, name in recording.shift_events(0)]
    assert onsets == [(e.t, e.kind, e.name) for e in schedule.events(1, steps + 2)]


def test_bad_records_raise_with_the_reason(tmp_path: Path) -> None:
    recorder = Monitor(tmp_path, None, 2)
    recorder.record([3, 3], [True, True], vitals(1, 1), [False, False])
    with pytest.raises(ValueError, match="does not move forward"):
        recorder.record([4, 3], [True, True], vitals(1, 1), [False, False])
    with pytest.raises(ValueError, match="shape"):
        recorder.record([5], [True], vitals(1), [False])
    with pytest.raises(ValueError, match="finite"):
        recorder.record([6, 6], [True, True], [[np.nan] * 4, [1.0] * 4], [False, False])
    recorder.close()
    with pytest.raises(RuntimeError, match="closed"):
        recorder.record([7, 7], [True, True], vitals(1, 1), [False, False])
    with pytest.raises(FileExistsError, match="already holds a recording"):
        Monitor(tmp_path, None, 2)


# --------------------------------------------------------------------------- windows


def test_window_rows_add_up_by_hand_and_score_like_step_rows(tmp_path: Path) -> None:
    # Clocks 1-4 alive at 0.5, death at 5, back at 9 (6-8 skipped), alive at 1.0 at 9 and 10.
    stream = [(1, True, 0.5, False), (2, True, 0.5, False), (3, True, 0.5, False), (4, True, 0.5, False),
              (5, False, 0.0, True), (9, True, 1.0, False), (10, True, 1.0, False)]
    for window, directory in ((3, tmp_path / "w3"), (1, tmp_path / "w1")):
        with Monitor(directory, None, 1, window=window, metadata={"world": "Toy-v0", "agent": "a", "seed": 0}) as rec:
            for t, alive, level, died in stream:
                rec.record([t], [alive], vitals(level), [died])
    rows = read_recording(tmp_path / "w3").body(0)
    # Windows [0,3) [3,6) [6,9) [9,12), each row from its first covered clock.
    assert rows["t"].tolist() == [1, 3, 6, 9]
    assert rows["steps"].tolist() == [2, 3, 3, 2]
    assert rows["alive_steps"].tolist() == [2, 2, 0, 2]
    assert rows["deaths"].tolist() == [0, 1, 0, 0]
    assert rows["alive_last"].tolist() == [True, False, False, True]
    np.testing.assert_allclose(rows["wellbeing"], [0.5, 1 / 3, 0.0, 1.0])
    np.testing.assert_allclose(rows["vitals"][:, 0], [0.5, 0.5, 0.0, 1.0])  # mean over alive steps
    # Survival: alive 6 of 10 clocks, one death, lives 4 + 2 (the last censored): mean 3.
    expected = {"alive_fraction": 0.6, "deaths_per_10k": 1000.0, "mean_lifetime": 3.0}
    for directory in ("w1", "w3"):
        assert summarize(tmp_path / directory, window=3)["survival"] == pytest.approx(expected)


def test_partial_windows_stay_in_memory_until_close(tmp_path: Path) -> None:
    recorder = Monitor(tmp_path, None, 1, window=10, chunk_rows=1)
    for t in range(1, 26):
        recorder.record([t], [True], vitals(1.0), [False])
    assert read_recording(tmp_path).body(0)["t"].tolist() == [1, 10]  # [20, 30) is still open
    recorder.close()
    assert read_recording(tmp_path).body(0)["steps"].tolist() == [9, 10, 6]


# --------------------------------------------------------------------------- files, crashes, resume


def test_a_reader_sees_only_whole_chunks_while_the_run_goes_on(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Monitor(tmp_path, None, 1, chunk_rows=4)
    for t in range(1, 11):
        recorder.record([t], [True], vitals(0.5), [False])
    assert len(read_recording(tmp_path)) == 8  # two chunks written, two rows buffered
    assert not read_recording(tmp_path).closed

    def crash_midway(path: Path, data: bytes) -> None:
        path.write_bytes(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr("openworld.scoring.recorder.write_chunk_file", crash_midway)
    recorder.record([11], [True], vitals(0.5), [False])
    with pytest.raises(OSError, match="disk full"):
        recorder.record([12], [True], vitals(0.5), [False])  # the third chunk fills and fails halfway
    assert sorted(p.name for p in (tmp_path / "stream").iterdir()) == [
        ".chunk-00000002.parquet.tmp", "chunk-00000000.parquet", "chunk-00000001.parquet", "manifest.json"]
    assert read_recording(tmp_path).body(0)["t"].tolist() == list(range(1, 9))


CRASHING_RUN = """
import sys
import numpy as np
from openworld.scoring.monitor import Monitor
recorder = Monitor(sys.argv[1], None, 2, chunk_rows=100, flush_seconds=None)
for t in range(1, 100_000):  # bounded, should the parent fail to kill it
    recorder.record([t, t], [True, t % 7 != 0], np.full((2, 4), (t % 10) / 10, np.float32), [False, t % 7 == 0])
    if t % 50 == 0:  # a chunk (100 rows) was just written
        print(recorder.chunks_written, flush=True)
"""


def test_a_killed_run_leaves_every_flushed_chunk_readable(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", CRASHING_RUN, str(tmp_path)], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if int(line) >= 3:
                break
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
    recording = read_recording(tmp_path)
    assert not recording.closed
    assert len(recording) >= 300 and len(recording) % 100 == 0
    for body in (0, 1):
        rows = recording.body(body)
        clocks = np.arange(1, rows["t"].size + 1)
        assert rows["t"].tolist() == clocks.tolist()
        assert rows["wellbeing"] == pytest.approx(np.where((clocks % 7 != 0) | (body == 0), (clocks % 10) / 10, 0))


def synthetic_step(t: int) -> tuple[list[int], list[bool], np.ndarray, list[bool]]:
    """Step t of a deterministic two-body stream: body 1 dies every 9th step and skips 3 clocks."""
    clock = [t, t + 3 * ((t - 1) // 9)]
    dies = t % 9 == 0
    return clock, [True, not dies], vitals((t % 5) / 4, (t % 4) / 3), [False, dies]


@pytest.mark.parametrize("window", [1, 4])
def test_resuming_from_a_state_dict_reproduces_the_uninterrupted_stream(tmp_path: Path, window: int) -> None:
    with Monitor(tmp_path / "whole", TOY_SCHEDULE, 2, window=window, chunk_rows=5) as whole:
        for t in range(1, 61):
            whole.record(*synthetic_step(t))

    interrupted = Monitor(tmp_path / "resumed", TOY_SCHEDULE, 2, window=window, chunk_rows=5)
    for t in range(1, 31):
        interrupted.record(*synthetic_step(t))
    checkpoint = interrupted.state_dict()
    for t in range(31, 51):  # recorded after the checkpoint, then the run dies: these must go
        interrupted.record(*synthetic_step(t))
    written_after = interrupted.chunks_written
    del interrupted

    resumed = Monitor(tmp_path / "resumed", TOY_SCHEDULE, 2, window=window, chunk_rows=5, resume=True)
    with pytest.raises(RuntimeError, match="load_state_dict"):
        resumed.record(*synthetic_step(31))
    resumed.load_state_dict(checkpoint)
    assert resumed.chunks_written == checkpoint["chunks"] < written_after
    for t in range(31, 61):
        resumed.record(*synthetic_step(t))
    resumed.close()

    expected, got = read_recording(tmp_path / "whole"), read_recording(tmp_path / "resumed")
    assert got.columns.keys() == expected.columns.keys()
    for name in expected.columns:
        np.testing.assert_array_equal(got.columns[name], expected.columns[name], err_msg=name)
    assert got.regime_names == expected.regime_names and got.shift_labels == expected.shift_labels


def test_resuming_refuses_a_state_of_another_recording(tmp_path: Path) -> None:
    Monitor(tmp_path / "a", None, 2).close()
    with pytest.raises(ValueError, match="num_bodies"):
        Monitor(tmp_path / "a", None, 3, resume=True)
    recorder = Monitor(tmp_path / "b", None, 2, chunk_rows=1)
    recorder.record(*synthetic_step(1))
    recorder.record(*synthetic_step(2))
    state = recorder.state_dict()
    (tmp_path / "b" / "stream" / "chunk-00000000.parquet").unlink()
    with pytest.raises(ValueError, match="missing"):
        Monitor(tmp_path / "b", None, 2, chunk_rows=1, resume=True).load_state_dict(state)


# --------------------------------------------------------------------------- wrappers and envs


def test_vector_wrapper_rows_equal_the_env_stream_with_dead_time_filled(tmp_path: Path) -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=3, vectorization_mode="vector_entry_point", overrides=DEADLY)
    envs = RecordLifetimeVector(envs, tmp_path, chunk_rows=50)
    rng = np.random.default_rng(0)
    obs, info = envs.reset(seed=0)
    seen: list[dict[int, tuple[bool, bool, list[float]]]] = [{}, {}, {}]
    for _ in range(80):
        obs, _, terminated, _, info = envs.step(rng.integers(0, 7, 3))
        for body in range(3):
            seen[body][int(info["world_step"][body])] = (bool(info["alive"][body]),
                                                         bool(info["events"]["death"][body]),
                                                         obs["vitals"][body].tolist())
    envs.close()
    recording = read_recording(tmp_path)
    assert recording.metadata == {"world": "Meadow-v0"}
    last_clocks = []
    for body in range(3):
        rows = recording.body(body)
        last = max(seen[body])
        last_clocks.append(last)
        assert rows["t"].tolist() == list(range(1, last + 1))  # every world step, jumps filled
        for i, t in enumerate(rows["t"].tolist()):
            if t in seen[body]:
                alive, died, observed = seen[body][t]
                assert (rows["alive"][i], rows["died"][i], rows["vitals"][i].tolist()) == (alive, died, observed)
                expected = metrics.wellbeing([alive], [observed], np.ones(4))[0]
                assert rows["wellbeing"][i] == expected
            else:
                assert not rows["alive"][i] and not rows["died"][i] and rows["wellbeing"][i] == 0.0
        assert rows["died"].sum() >= 3  # the deadly world really killed it, and the delay was filled
    assert len(set(last_clocks)) > 1 or min(last_clocks) > 80  # clocks ran ahead of the 80 steps


def test_single_env_wrapper_records_the_respawn_delay_of_reset(tmp_path: Path) -> None:
    env = RecordLifetime(gym.make("openworld/Meadow-v0", overrides=DEADLY), tmp_path, metadata={"agent": "noop"})
    env.reset(seed=0)
    clocks, terminated = [], False
    while not terminated:
        _, _, terminated, _, info = env.step(0)
        clocks.append(info["world_step"])
    _, info = env.reset()  # the body waits out its delay (7 world steps), then respawns
    respawned_at = info["world_step"]
    _, _, _, _, info = env.step(0)
    env.close()
    rows = read_recording(tmp_path).body(0)
    death = clocks[-1]
    assert respawned_at == death + 7
    assert rows["t"].tolist() == list(range(1, info["world_step"] + 1))
    assert rows["alive"].tolist() == [True] * (death - 1) + [False] * 7 + [True, True]
    assert rows["died"].tolist() == [False] * (death - 1) + [True] + [False] * 8


# --------------------------------------------------------------------------- summaries


CONTRACT = {"steps": int, "world": str, "agent": str, "seed": int, "survival": dict, "shifts": list}
SHIFT_TYPES = {"t": int, "kind": str, "baseline": float, "return_censored": bool, "adaptation_censored": bool,
               "observed": bool, "observed_steps": int}
OBSERVED_TYPES = {"drop": float, "deficit": float, "alive_drop": float}  # None when the shift was unobserved


def check_contract(summary: dict[str, object]) -> None:
    for key, kind in CONTRACT.items():
        assert isinstance(summary[key], kind), key
    assert summary["forgetting"] is None or isinstance(summary["forgetting"], float)
    survival = summary["survival"]
    assert isinstance(survival, dict)
    assert {k: type(v) for k, v in survival.items()} == dict.fromkeys(
        ("alive_fraction", "deaths_per_10k", "mean_lifetime"), float)
    shifts = summary["shifts"]
    assert isinstance(shifts, list)
    for shift in shifts:
        for key, kind in SHIFT_TYPES.items():
            assert isinstance(shift[key], kind), key
        for key, kind in OBSERVED_TYPES.items():
            assert isinstance(shift[key], kind) if shift["observed"] else shift[key] is None, key
        for key in ("sustained_return", "adaptation_time"):
            assert shift[key] is None or isinstance(shift[key], int)
        assert shift["kind"] in ("abrupt", "gradual", "cyclic")
    json.dumps(summary, allow_nan=False)


def test_summary_of_one_body_is_the_metrics_of_its_stream_with_shift_times_as_clocks(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    steps = 40
    alive = rng.random(steps) > 0.2
    levels = rng.random((steps, 4)).astype(np.float32)
    died = np.r_[False, alive[:-1] & ~alive[1:]]
    with Monitor(tmp_path, TOY_SCHEDULE, 1, chunk_rows=16,
                 metadata={"world": "Toy-v0", "agent": "x", "seed": 7, "variant": "toy-a"}) as recorder:
        for t in range(steps):
            recorder.record([t + 1], [alive[t]], levels[t:t + 1], [died[t]])
    summary = summarize(tmp_path, window=2)
    check_contract(summary)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == summary
    stream = metrics.wellbeing(alive, levels, np.ones(4))
    regimes = [TOY_SCHEDULE.regime_name(t + 1) for t in range(steps)]
    expected = {"steps": steps, "survival": metrics.survival(alive, died),
                "shifts": metrics.shift_metrics(stream, [2, 3], ["abrupt", "gradual"], window=2),
                "alive_shifts": metrics.shift_metrics(alive.astype(float), [2, 3], ["abrupt", "gradual"], window=2),
                "forgetting": metrics.forgetting(stream, regimes, window=2)}
    assert summary["steps"] == expected["steps"] == steps
    assert summary["survival"] == expected["survival"]
    assert summary["forgetting"] == expected["forgetting"]
    shifts = zip(summary["shifts"], expected["shifts"], expected["alive_shifts"], [3, 4], ["scarce", "dry"],
                 strict=True)
    for got, want, alive_want, clock, name in shifts:
        alive_scores = {f"alive_{key}": alive_want[key] for key in SHIFT_KEYS}
        ramp = {"ramp_end": 6} if name == "dry" else {}  # "dry~" over clocks [4, 6)
        assert got == {**want, **alive_scores, **ramp, "t": clock, "name": name,
                       "observed_steps": (4 if clock == 3 else steps + 1) - clock}
    # The shift at clock 3 has one step before the next one at 4 (< W = 2): unobserved.
    assert [shift["observed"] for shift in summary["shifts"]] == [False, True]
    assert summary["survival_by_regime"] == metrics.survival_by_regime(alive, regimes)
    assert summary["variant"] == "toy-a" and summary["num_bodies"] == 1
    assert summary["bodies"][0]["survival"] == summary["survival"]


def test_summary_of_several_bodies_scores_the_mean_stream_over_common_clocks(tmp_path: Path) -> None:
    with Monitor(tmp_path, TOY_SCHEDULE, 2, metadata={"world": "Toy-v0", "agent": "x", "seed": 0}) as recorder:
        for t in range(1, 11):
            # Body 0 at 1.0 all along; body 1 at 0.5, and it runs 2 clocks ahead from its start.
            recorder.record([t, t + 2], [True, True], vitals(1.0, 0.5), [False, False])
    summary = summarize(tmp_path, window=2)
    check_contract(summary)
    # Body 1's first clock is 3: the common clocks are 3..10 (8 steps).
    assert summary["steps"] == 8 and summary["start"] == 3
    assert summary["mean_wellbeing"] == pytest.approx(0.75)
    assert [b["steps"] for b in summary["bodies"]] == [10, 10]
    assert [s["t"] for s in summary["shifts"]] == [3, 4]
    assert summary["shifts"][1]["baseline"] == pytest.approx(0.75)
    assert summary["wellbeing_curve"]["bin"] == 1
    assert summary["wellbeing_curve"]["wellbeing"] == [0.75] * 8


def test_summary_needs_the_run_identity(tmp_path: Path) -> None:
    with Monitor(tmp_path, None, 1) as recorder:
        recorder.record([1], [True], vitals(1.0), [False])
    with pytest.raises(ValueError, match="world"):
        summarize(tmp_path)
    assert summarize(tmp_path, world="W-v0", agent="a", seed=1, write=False)["seed"] == 1
    assert not (tmp_path / "summary.json").exists()


# --------------------------------------------------------------------------- the memory benchmark


def test_memory_benchmark_smoke() -> None:
    """benchmarks/monitor_memory.py runs and prints JSON lines (no assertion on memory or time)."""
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "monitor_memory.py"), "--quick"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert [r["name"] for r in records][-1] == "result"
    assert all({"rss_mb", "reference_mb", "disk_mb"} <= r.keys() for r in records if r["name"] == "sample")
    assert records[-1]["rows"] >= records[-1]["body_steps"]  # dead time adds rows
