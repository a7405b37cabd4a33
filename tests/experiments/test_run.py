"""``openworld run`` end to end, as a subprocess with tiny budgets: the run directory (summary, report,
checkpoint, Hydra's config), Sacred's record, the progress output, and refusing to clobber a run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from openworld.runner.checkpoint import read_header
from openworld.scoring.monitor import read_recording

SMOKE = ["world=meadow", "agent=forager", "steps=400", "num_envs=2", "checkpoint_every=200", "log_every=100",
         "world.resources.berry.regrow=0.02", "progress=plain"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One finished smoke run in ``<cwd>/runs/meadow/forager/seed0`` (where Hydra puts it), and its stdout."""
    import subprocess
    import sys

    cwd = tmp_path_factory.mktemp("smoke")
    result = subprocess.run([sys.executable, "-m", "openworld.tools.cli", "run", *SMOKE], cwd=cwd, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd / "runs" / "meadow" / "forager" / "seed0", result.stdout


def test_run_directory_holds_summary_report_checkpoint_and_config(finished_run: tuple[Path, str]) -> None:
    run_dir, stdout = finished_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["world"], summary["agent"], summary["seed"]) == ("Meadow-v0", "forager-v0", 0)
    assert summary["steps"] >= 400 and summary["num_bodies"] == 2
    assert 0.0 <= summary["survival"]["alive_fraction"] <= 1.0
    assert (run_dir / "report" / "report.md").is_file()
    assert read_header(run_dir / "checkpoints" / "last.ckpt")["step"] == 400
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "regrow: 0.02" in config  # the command-line override of a world key
    assert "world.resources.berry.regrow=0.02" in (run_dir / ".hydra" / "overrides.yaml").read_text()
    # Plain progress lines (not a terminal), then the short table and where the report is.
    assert "step 100/400" in stdout and "step 400/400" in stdout and "steps/s" in stdout
    assert "alive fraction" in stdout and f"report: {run_dir.resolve() / 'report' / 'report.md'}" in stdout


def test_sacred_records_config_metrics_artifacts_host_and_versions(finished_run: tuple[Path, str]) -> None:
    run_dir, _ = finished_run
    record = run_dir / "sacred" / "1"
    config = json.loads((record / "config.json").read_text())
    assert config["world"]["resources"]["berry"]["regrow"] == 0.02 and config["steps"] == 400
    run = json.loads((record / "run.json").read_text())
    assert run["status"] == "COMPLETED"
    assert run["host"]["hostname"] and run["host"]["python_version"]
    assert any(source[0].endswith("runner.py") for source in run["experiment"]["sources"])
    artifacts = set(run["artifacts"])
    assert {"run-summary.json", "run-monitor.json", "world.yaml", "report-report.md"} <= artifacts
    assert any(name.startswith("stream-chunk-") for name in artifacts)
    assert json.loads((record / "run-summary.json").read_text()) == json.loads((run_dir / "summary.json").read_text())
    info = json.loads((record / "info.json").read_text())
    assert info["versions"]["sacred"] and info["versions"]["torch"]
    metrics = json.loads((record / "metrics.json").read_text())
    for name in ("charts/alive_fraction", "charts/wellbeing", "charts/steps_per_second", "charts/body_steps_per_second",
                 "charts/deaths"):
        assert metrics[name]["steps"] == [100, 200, 300, 400], name
    # charts/wellbeing is the mean of min(vitals) * alive over each interval: the recording's wellbeing
    # column averaged over the interval's clocks (no body died in this run, so clocks are steps).
    recording = read_recording(run_dir)
    t, wellbeing = recording.columns["t"], recording.columns["wellbeing"].astype(float)
    expected = [wellbeing[(t > end - 100) & (t <= end)].mean() for end in (100, 200, 300, 400)]
    np.testing.assert_allclose(metrics["charts/wellbeing"]["values"], expected, rtol=1e-5)
    assert metrics["charts/alive_fraction"]["values"] == [1.0] * 4


def test_a_finished_run_is_not_overwritten_without_overwrite(finished_run: tuple[Path, str], tmp_path: Path,
                                                              run_in_process, snapshot, capsys) -> None:
    run_dir, _ = finished_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    before = snapshot(copy)
    assert run_in_process([*SMOKE, f"hydra.run.dir={copy}"]) == 2
    error = capsys.readouterr().err
    assert "already holds a finished run" in error and "overwrite=true" in error
    assert "hydra.run.dir=" in error  # says exactly what to do
    assert snapshot(copy) == before

    # overwrite=true replaces it (here with a shorter run and the rich progress bar).
    assert run_in_process([*SMOKE, "steps=200", "progress=bar", "report=off", "overwrite=true",
                           f"hydra.run.dir={copy}"]) == 0
    output = capsys.readouterr().out
    assert "\x1b[" in output and "steps/s" in output and "alive 1.000" in output  # the bar was drawn
    assert json.loads((copy / "summary.json").read_text())["steps"] == 200
    assert sorted(p.name for p in (copy / "sacred").iterdir() if p.name != "_sources") == ["1"]
    assert not (copy / "report").exists()


def test_a_shift_at_the_end_of_the_run_is_reported_unobserved(tmp_path: Path) -> None:
    """`openworld run world=blight steps=20000` with the onset arithmetic made cheap: the quick variant's blight
    at 1,500 and a lifetime of 1,500 steps. A world whose body never died ends at clock 1,500, so the scores
    over the clocks every body recorded see at most a few steps of the blight: unobserved, never drop or 0."""
    import subprocess
    import sys

    args = ["world=blight", "world.variant=quick", "agent=forager", "steps=1500", "num_envs=2", "report=off",
            "checkpoint_every=1500", "log_every=1500", "progress=plain"]
    result = subprocess.run([sys.executable, "-m", "openworld.tools.cli", "run", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = [path.parent for path in (tmp_path / "runs").rglob("summary.json")]
    summary = json.loads((run_dir / "summary.json").read_text())
    (blight,) = [shift for shift in summary["shifts"] if shift["name"] == "blight"]
    assert blight["t"] == 1500 and blight["observed"] is False and blight["observed_steps"] < summary["window"]
    assert (blight["drop"], blight["deficit"], blight["sustained_return"], blight["return_censored"]) == (
        None, None, None, True)
    assert (blight["alive_drop"], blight["alive_deficit"], blight["alive_sustained_return"]) == (None, None, None)
    line = next(line for line in result.stdout.splitlines() if "abrupt:blight" in line)
    assert "unobserved" in line and "+" not in line.split("abrupt:blight")[1]  # no signed drop printed
    # World clocks past the lifetime's steps (a death wait) are explained; clocks that stayed are not.
    last_clocks = [body["start"] + body["steps"] - 1 for body in summary["bodies"]]
    assert summary["lifetime_steps"] == 1500
    assert ("world clocks reached" in result.stdout) == (max(last_clocks) > 1500)


def test_a_variant_is_lived_on_its_own_maps(tmp_path: Path) -> None:
    """A continual lifetime in a variant lives on the variant's declared seeds, so a held-out variant's worlds
    are its unseen maps. Random agents of one seed live identically on the same maps: ``heldout_seeds`` and
    ``heldout_early`` (the same held-out seeds, shifts alike before step 5,000) agree step for step, while
    ``heldout_seeds`` and ``train`` (seeds 0-15) differ from the first steps. Before this, world ``i`` came from
    ``seed + i`` whatever the variant: every held-out lifetime lived on training maps."""
    import subprocess
    import sys

    args = ["-m", "world=blight", "world.variant=train,heldout_seeds,heldout_early", "agent=random", "seed=3",
            "steps=300", "num_envs=2", "report=off", "progress=off", "metrics.window=50",
            "hydra.sweep.dir=sweep", "hydra.sweep.subdir=${world.variant}"]
    result = subprocess.run([sys.executable, "-m", "openworld.tools.cli", "run", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = {name: json.loads((tmp_path / "sweep" / name / "summary.json").read_text())
                 for name in ("train", "heldout_seeds", "heldout_early")}
    assert summaries["train"]["world_seeds"] == [3, 4]
    assert summaries["heldout_seeds"]["world_seeds"] == summaries["heldout_early"]["world_seeds"] == [1003, 1004]
    curves = {name: summary["wellbeing_curve"] for name, summary in summaries.items()}
    assert curves["heldout_seeds"] == curves["heldout_early"]
    assert curves["heldout_seeds"] != curves["train"]
