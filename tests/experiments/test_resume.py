"""Long runs: a run killed with SIGKILL and resumed from its last checkpoint ends exactly as an
uninterrupted run with the same seed (summary and recorded stream); a checkpoint that is corrupt or
belongs to another run is refused with a clear error, and nothing already recorded changes."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np

from openworld.runner.checkpoint import read_header
from openworld.scoring.monitor import read_recording

# Meadow, the forager (deterministic given its seed, CPU), 2,000 steps: a body dies at step 1,950, so the
# resumed part includes a death and a respawn.
RUN = ["world=meadow", "agent=forager", "steps=2000", "num_envs=2", "checkpoint_every=500", "log_every=250",
       "report=off", "progress=plain"]
KILL_AFTER = "step 750/2,000"  # a log line past the checkpoint at 500 (and before the next, at 1,000)


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path: Path, openworld_popen, openworld_run,
                                                         run_in_process, snapshot, capsys) -> None:
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    uninterrupted = openworld_popen([*RUN, f"hydra.run.dir={whole}"], cwd=tmp_path)
    victim = openworld_popen([*RUN, f"hydra.run.dir={killed}"], cwd=tmp_path)
    assert victim.stdout is not None
    seen = []
    for line in victim.stdout:
        seen.append(line)
        if KILL_AFTER in line:
            os.kill(victim.pid, signal.SIGKILL)
            break
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "".join(seen)[-3000:]
    assert read_header(killed / "checkpoints" / "last.ckpt")["step"] == 500
    assert not (killed / "summary.json").exists()

    # Refused resumptions change nothing: another world, another agent, another world parameter, a corrupt file.
    corrupt = tmp_path / "corrupt"
    shutil.copytree(killed, corrupt)
    checkpoint = bytearray((corrupt / "checkpoints" / "last.ckpt").read_bytes())
    checkpoint[-100] ^= 0xFF
    (corrupt / "checkpoints" / "last.ckpt").write_bytes(bytes(checkpoint))
    before, before_corrupt = snapshot(killed), snapshot(corrupt)
    refusals = {
        "world is 'Meadow-v0' there, 'Shiftlands-v0' here": [*RUN, "world=shiftlands", f"hydra.run.dir={killed}"],
        "agent is 'forager-v0' there, 'random-v0' here": [*RUN, "agent=random", f"hydra.run.dir={killed}"],
        "world.resources.berry.regrow is 0.01 there, 0.02 here": [*RUN, "world.resources.berry.regrow=0.02",
                                                                  f"hydra.run.dir={killed}"],
        "checksum mismatch": [*RUN, f"hydra.run.dir={corrupt}"],
    }
    capsys.readouterr()
    for message, args in refusals.items():  # in this process: the same code path as the command, faster
        assert run_in_process([*args, "resume=true"]) == 2, message
        error = capsys.readouterr().err
        assert "checkpoint" in error and message in error, error
    assert snapshot(killed) == before
    assert snapshot(corrupt) == before_corrupt

    resumed = openworld_run([*RUN, "resume=true", f"hydra.run.dir={killed}"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout and "at step 500" in resumed.stdout
    output, _ = uninterrupted.communicate(timeout=120)
    assert uninterrupted.returncode == 0, output[-3000:]

    assert json.loads((killed / "summary.json").read_text()) == json.loads((whole / "summary.json").read_text())
    first, second = read_recording(whole), read_recording(killed)
    assert first.closed and second.closed
    assert first.columns.keys() == second.columns.keys()
    for name, column in first.columns.items():
        np.testing.assert_array_equal(second.columns[name], column, err_msg=name)
    assert (first.regime_names, first.shift_labels) == (second.regime_names, second.shift_labels)
    assert second.columns["died"].any()  # the resumed part went through a death
    # Sacred: the killed invocation and the resumed one are two records of the same run.
    assert json.loads((killed / "sacred" / "2" / "info.json").read_text())["resumed_from_step"] == 500


def test_resume_needs_a_checkpoint(tmp_path: Path, run_in_process, capsys) -> None:
    assert run_in_process(["world=meadow", "agent=random", "steps=50", "resume=true", "hydra.run.dir=empty"]) == 2
    error = capsys.readouterr().err
    assert "nothing to resume" in error and "without resume=true" in error
    assert not (tmp_path / "empty" / "sacred").exists()


def test_resume_extends_a_finished_run_exactly(tmp_path: Path, run_in_process) -> None:
    """``resume=true steps=<more>`` continues a finished run from its final checkpoint; the result equals a
    run that was that long from the start. ``resume=auto`` starts a fresh run, skips a finished one of the same
    steps (writing nothing), refuses a finished one configured differently and extends a shorter one."""
    base = ["world=meadow", "agent=random", "num_envs=2", "checkpoint_every=150", "report=off", "progress=off"]
    assert run_in_process([*base, "steps=300", "resume=auto", "hydra.run.dir=grown"]) == 0
    written = {path: path.stat().st_mtime_ns for path in (tmp_path / "grown").rglob("*")}
    assert run_in_process([*base, "steps=300", "resume=auto", "hydra.run.dir=grown"]) == 0  # finished: skipped
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "grown").rglob("*")} == written
    assert run_in_process([*base, "steps=300", "seed=1", "resume=auto", "hydra.run.dir=grown"]) == 2  # another run
    assert run_in_process([*base, "steps=300", "resume=true", "hydra.run.dir=grown"]) == 2  # nothing left to do
    assert run_in_process([*base, "steps=600", "resume=auto", "hydra.run.dir=grown"]) == 0  # extended
    assert run_in_process([*base, "steps=600", "hydra.run.dir=direct"]) == 0
    grown = json.loads((tmp_path / "grown" / "summary.json").read_text())
    direct = json.loads((tmp_path / "direct" / "summary.json").read_text())
    assert grown == direct and grown["steps"] >= 600
    for name, column in read_recording(tmp_path / "direct").columns.items():
        np.testing.assert_array_equal(read_recording(tmp_path / "grown").columns[name], column, err_msg=name)


def test_atomic_checkpoint_leaves_no_temporary_file(tmp_path: Path, run_in_process) -> None:
    assert run_in_process(["world=meadow", "agent=random", "num_envs=2", "steps=100", "checkpoint_every=40",
                           "report=off", "progress=off", "hydra.run.dir=run"]) == 0
    files = sorted(path.name for path in (tmp_path / "run" / "checkpoints").iterdir())
    assert files == ["last.ckpt"]
    header = read_header(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert header["step"] == 100 and header["world"] == "Meadow-v0" and header["agent"] == "random-v0"
    assert header["config"]["world"]["resources"]["berry"]["regrow"] == 0.01  # what a resumption must match


TINY = ["world=meadow", "agent=random", "num_envs=2", "steps=100", "checkpoint_every=50", "monitor.chunk_rows=64",
        "report=off", "progress=off"]


def test_a_lifetime_whose_scoring_failed_or_was_killed_is_finished_by_resume(tmp_path: Path, run_in_process) -> None:
    """A lifetime whose scoring failed (here: a window that does not fit the recording's), or that was killed between
    its final checkpoint and ``summary.json``: ``resume=true`` and ``resume=auto`` score it as an uninterrupted run
    does, instead of saying there is nothing left to do."""
    windowed = [*TINY, "monitor.window=4"]
    assert run_in_process([*windowed, "metrics.window=20", "hydra.run.dir=direct"]) == 0
    expected = json.loads((tmp_path / "direct" / "summary.json").read_text())
    run = tmp_path / "run"
    assert run_in_process([*windowed, "metrics.window=30", "hydra.run.dir=run"]) != 0  # 30 is no multiple of 4
    assert not (run / "summary.json").exists()
    assert run_in_process([*windowed, "metrics.window=20", "resume=true", "hydra.run.dir=run"]) == 0
    assert json.loads((run / "summary.json").read_text()) == expected

    (run / "summary.json").unlink()  # as if killed before the monitor closed (partial windows unwritten)
    meta = json.loads((run / "monitor.json").read_text())
    (run / "monitor.json").write_text(json.dumps({**meta, "closed": False}))
    last = max((run / "stream").glob("chunk-*.parquet"))
    last.unlink()
    assert run_in_process([*windowed, "metrics.window=20", "resume=auto", "hydra.run.dir=run"]) == 0
    assert json.loads((run / "summary.json").read_text()) == expected
    assert json.loads((run / "monitor.json").read_text())["closed"]


def test_a_damaged_chunk_is_refused_before_a_resume_changes_anything(tmp_path: Path, run_in_process, snapshot,
                                                                    capsys) -> None:
    assert run_in_process([*TINY, "hydra.run.dir=run"]) == 0
    run = tmp_path / "run"
    chunk = run / "stream" / "chunk-00000001.parquet"
    chunk.write_bytes(chunk.read_bytes()[:-10])  # truncated
    before = snapshot(run)
    capsys.readouterr()
    assert run_in_process([*TINY, "steps=200", "resume=true", "hydra.run.dir=run"]) == 2
    error = capsys.readouterr().err
    assert "chunk-00000001.parquet" in error and "truncated" in error, error
    assert snapshot(run) == before  # summary.json, the checkpoint and the recording untouched


def test_a_resume_with_other_prior_experience_is_refused(tmp_path: Path, run_in_process, capsys) -> None:
    """An agent's ``experience`` (the prior file or dataset it learnt from, by content) is part of the run's
    identity: recorded in the checkpoint and Sacred, and a resume whose agent brings other experience is refused,
    even under the same path."""
    import hashlib

    from openworld.agents.random_agent import RandomAgent
    from openworld.registry import agent_ids, register_agent

    class Experienced(RandomAgent):
        def __init__(self, *args, experience_file: str = "", **kwargs) -> None:
            super().__init__(*args, **kwargs)
            digest = hashlib.sha256(Path(experience_file).read_bytes()).hexdigest()
            self.experience = {"prior": {"reference": experience_file, "sha256": digest}}

    if "experienced-test-v0" not in agent_ids():
        register_agent("experienced-test-v0", Experienced, "a random agent that names a file as its experience")
    (tmp_path / "prior.bin").write_bytes(b"first")
    base = ["world=meadow", "agent=random", "agent.id=experienced-test-v0", "+agent.experience_file=prior.bin",
            "num_envs=2", "checkpoint_every=150", "report=off", "progress=off", "hydra.run.dir=run"]
    assert run_in_process([*base, "steps=300"]) == 0
    header = read_header(tmp_path / "run" / "checkpoints" / "last.ckpt")
    first = hashlib.sha256(b"first").hexdigest()
    assert header["experience"] == {"prior": {"reference": "prior.bin", "sha256": first}}
    info = json.loads(next((tmp_path / "run" / "sacred").glob("*/info.json")).read_text())
    assert info["experience"]["prior"]["sha256"] == first
    (tmp_path / "prior.bin").write_bytes(b"second")
    capsys.readouterr()
    assert run_in_process([*base, "steps=600", "resume=true"]) == 2
    assert "learnt from other prior experience: prior.sha256" in capsys.readouterr().err
    (tmp_path / "prior.bin").write_bytes(b"first")
    assert run_in_process([*base, "steps=600", "resume=true"]) == 0
