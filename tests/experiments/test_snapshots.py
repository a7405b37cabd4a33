"""``snapshots=[...]`` in a run, in this process with a tiny budget: the agent is saved at each listed step
with a header that says how to rebuild it, the run's results are those of a run without snapshots, a
resumed run keeps the snapshots it wrote and writes the later ones, and bad values are refused before the
run directory is written. The ``ppo_snapshots`` preset composes to a valid run."""

from __future__ import annotations

import json
from pathlib import Path

from openworld.runner.checkpoint import read_header
from openworld.runner.config import check_run_config, read_run_config
from openworld.runner.snapshots import list_snapshots, snapshot_path

# The forager in Meadow: deterministic, cheap; the agent does not matter to the loop.
RUN = ["world=meadow", "agent=forager", "num_envs=2", "checkpoint_every=50", "log_every=50", "report=off",
       "progress=off"]


def summary(run_dir: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((run_dir / "summary.json").read_text())
    return loaded


def test_snapshots_are_saved_at_their_steps_survive_resume_and_change_no_result(tmp_path: Path, run_in_process,
                                                                                capsys) -> None:
    plain, snapped = tmp_path / "plain", tmp_path / "snapped"
    assert run_in_process([*RUN, "steps=100", f"hydra.run.dir={plain}"]) == 0
    assert not (plain / "snapshots").exists()  # none asked for: nothing written
    # Up to 60 first (a run extended later), snapshot steps off the checkpoint and log boundaries.
    assert run_in_process([*RUN, "steps=60", "snapshots=[20,35]", f"hydra.run.dir={snapped}"]) == 0
    assert [step for step, _ in list_snapshots(snapped)] == [20, 35]
    header = read_header(snapshot_path(snapped, 35))
    assert {key: header[key] for key in ("kind", "world", "variant", "agent", "seed", "num_envs", "bodies", "step")} \
        == {"kind": "agent-snapshot", "world": "Meadow-v0", "variant": None, "agent": "forager-v0", "seed": 0,
            "num_envs": 2, "bodies": 1, "step": 35}
    assert header["agent_config"]["learning_rate"] == 0.5 and "id" not in header["agent_config"]

    kept = snapshot_path(snapped, 35).stat()
    snapshot_path(snapped, 20).unlink()  # passed before the checkpoint: reported, not written again
    capsys.readouterr()
    assert run_in_process([*RUN, "steps=100", "snapshots=[20,35,80]", "resume=true",
                           f"hydra.run.dir={snapped}"]) == 0
    assert "snapshots at steps [20] were passed before step 60" in capsys.readouterr().out
    assert [step for step, _ in list_snapshots(snapped)] == [35, 80]
    assert (snapshot_path(snapped, 35).stat().st_mtime_ns, snapshot_path(snapped, 35).stat().st_ino) \
        == (kept.st_mtime_ns, kept.st_ino)
    assert read_header(snapshot_path(snapped, 80))["step"] == 80
    assert summary(snapped) == summary(plain)


def test_bad_snapshots_are_refused_before_the_run_directory_is_written(tmp_path: Path, run_in_process,
                                                                       capsys) -> None:
    run_dir = tmp_path / "bad"
    capsys.readouterr()
    assert run_in_process([*RUN, "steps=100", "snapshots=[50,150]", f"hydra.run.dir={run_dir}"]) == 2
    assert "snapshots[1] must be a world step from 1 to steps (100), got 150" in capsys.readouterr().err
    assert not run_dir.exists()


def test_the_ppo_snapshots_preset_is_a_valid_run(compose) -> None:
    composed = read_run_config(compose(["experiment=ppo_snapshots"]))
    check_run_config(composed.typed)
    assert composed.plain["agent"]["id"] == "ppo-v0" and composed.typed.world["id"] == "Meadow-v0"
    assert composed.typed.snapshots == [1000, 6000, 12000] and composed.typed.steps == 12000
