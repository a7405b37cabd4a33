"""Sweeps beyond one process (Hydra multiruns with the joblib and Ray launchers), MongoDB tracking (with
mongomock: no MongoDB server installs here), and the zero-shot evaluation that never feeds learning."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from openworld.scoring.monitor import read_recording

SWEEP = ["world=meadow", "agent=random", "seed=0,1", "steps=100", "num_envs=1", "report=off"]


def _check_sweep(sweep: Path) -> None:
    assert (sweep / "multirun.yaml").is_file()
    summaries = [json.loads((sweep / "meadow" / "random" / f"seed{seed}" / "summary.json").read_text())
                 for seed in (0, 1)]
    assert [summary["seed"] for summary in summaries] == [0, 1]
    from openworld.tools.cli import main

    assert main(["report", str(sweep), "--out", str(sweep / "report"), "--no-plots", "--reps", "200"]) == 0
    table = (sweep / "report" / "report.md").read_text()  # the sweep's comparison table
    assert "| Meadow-v0 | random-v0 | 2 |" in table


def test_multirun_with_the_joblib_launcher(tmp_path: Path, openworld_run) -> None:
    result = openworld_run(["-m", "hydra/launcher=local", "hydra.launcher.n_jobs=2", *SWEEP,
                            f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    _check_sweep(tmp_path / "sweep")


def test_a_failed_job_fails_the_multirun(tmp_path: Path, openworld_run) -> None:
    result = openworld_run(["-m", "world=meadow", "agent=random", "seed=0", "num_envs=0",
                            f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path)
    assert result.returncode != 0
    assert "num_envs must be an integer from 1 to" in result.stderr


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None
                    or importlib.util.find_spec("ray") is None,
                    reason="the Ray launcher is an optional extra: pip install 'openworld[ray]'")
def test_multirun_with_the_ray_launcher_locally(tmp_path: Path, openworld_run) -> None:
    result = openworld_run(["-m", "hydra/launcher=ray_local", "hydra.launcher.ray.init.num_cpus=2", *SWEEP,
                            f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    _check_sweep(tmp_path / "sweep")


def test_mongo_observer_records_the_run(tmp_path: Path, run_in_process) -> None:
    pytest.importorskip("mongomock")
    pytest.importorskip("pymongo")
    import gridfs
    import mongomock
    import mongomock.gridfs

    mongomock.gridfs.enable_gridfs_integration()
    with mongomock.patch(servers=(("localhost", 27017),)):
        import pymongo

        assert run_in_process(["world=meadow", "agent=random", "num_envs=2", "steps=100", "log_every=50", "report=off",
                               "tracking.mongo_url=mongodb://localhost:27017", "tracking.mongo_db=tests",
                               "hydra.run.dir=run"]) == 0
        database = pymongo.MongoClient("mongodb://localhost:27017")["tests"]
        (run,) = list(database["runs"].find())
        assert run["status"] == "COMPLETED" and run["config"]["steps"] == 100
        assert run["host"]["hostname"] and run["info"]["versions"]["sacred"]
        assert run["result"]["world"] == "Meadow-v0"
        names = {metric["name"]: metric["steps"] for metric in database["metrics"].find()}
        assert names["charts/wellbeing"] == [50, 100] and "charts/alive_fraction" in names
        stored = {artifact["name"] for artifact in run["artifacts"]}
        assert {"run-summary.json", "run-monitor.json", "world.yaml"} <= stored
        assert gridfs.GridFS(database).exists(run["artifacts"][0]["file_id"])
    # The file observer records the same run next to it.
    assert json.loads((tmp_path / "run" / "sacred" / "1" / "run.json").read_text())["status"] == "COMPLETED"


def test_evaluation_on_held_out_variants_never_feeds_learning(tmp_path: Path, run_in_process) -> None:
    base = ["world=seasons", "agent=random", "steps=300", "num_envs=2", "report=off", "progress=off",
            "log_every=150", "metrics.window=50"]
    assert run_in_process([*base, "evaluation.every=150", "evaluation.before=100", "evaluation.after=100",
                           "hydra.run.dir=evaluated"]) == 0
    assert run_in_process([*base, "hydra.run.dir=plain"]) == 0
    evaluated = json.loads((tmp_path / "evaluated" / "summary.json").read_text())
    plain = json.loads((tmp_path / "plain" / "summary.json").read_text())
    scores = evaluated.pop("evaluation")
    assert evaluated.pop("generalization")["step"] == 300
    assert evaluated == plain  # the lifetime is the same with and without evaluations
    for name, column in read_recording(tmp_path / "plain").columns.items():
        np.testing.assert_array_equal(read_recording(tmp_path / "evaluated").columns[name], column, err_msg=name)
    from openworld.variants import world_variants

    evaluated_names = set(world_variants("seasons").split("heldout").names) | set(
        world_variants("seasons").split("train").names)
    assert {score["variant"] for score in scores} == evaluated_names
    assert {score["step"] for score in scores} == {150, 300}
    # Each variant's first winter is reached and scored (at 10,000; at 15,000 in the long year, 4,000 in the short).
    winters = {score["variant"]: [s["t"] for s in score["shifts"] if s["name"] == "winter"] for score in scores}
    assert winters["heldout_seeds"] == [10000] and winters["train_long_year"] == [15000]
    assert winters["heldout_short_year"] == [4000]
    metrics = json.loads((tmp_path / "evaluated" / "sacred" / "1" / "metrics.json").read_text())
    for name in evaluated_names:
        assert metrics[f"eval/{name}/alive_fraction"]["steps"] == [150, 300]
