"""A world of one's own, written in a folder of its own (a YAML file and a rule module), through the command
line only: ``openworld run world=<path>`` (one run and a sweep whose jobs run in other processes),
``openworld show <path>``, ``openworld report <run dir>``; Sacred records the rule module; and
``num_envs: null`` becomes the agent's own default in the recorded config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORLD = """\
name: Kelpbed
version: 0
description: |
  A kelp bed whose current strengthens at step 100.
map: {size: [12, 12]}
resources:
  kelp: {kind: seaweed, grows_on: [grass, water], density: 0.3, regrow: 0.02, effects: {food: 3.0, water: 3.0}}
rule_modules: [current.py]
rules:
  kelpbed-current-v0: {strength: 0.0}
shifts:
  - {name: current, kind: abrupt, at: 100, set: {rules.kelpbed-current-v0.strength: 0.02}}
variants:
  train: {split: train, seeds: [0, 1]}
  heldout_early: {split: heldout, seeds: [100, 101], shifts: {current: {at: 50}}}
"""

RULE = """\
from openworld.world.rules import RuleEffect, register_rule


def current(engine, state, params):
    return RuleEffect(damage=params["strength"])  # the current tires every body alike


register_rule("kelpbed-current-v0", current, {"strength": 0.0})
"""

TINY = ["steps=200", "num_envs=2", "report=tables", "evaluation.every=0", "progress=off", "checkpoint_every=0"]


def openworld(args: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``openworld <args>`` as a subprocess (the real command line)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "openworld.tools.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with ``my_worlds/kelpbed.yaml`` and its rule module ``my_worlds/current.py``."""
    cwd = tmp_path_factory.mktemp("own_world")
    (cwd / "my_worlds").mkdir()
    (cwd / "my_worlds" / "kelpbed.yaml").write_text(WORLD)
    (cwd / "my_worlds" / "current.py").write_text(RULE)
    return cwd


def test_run_show_and_report_a_world_given_by_path(project: Path) -> None:
    run = openworld(["run", "world=my_worlds/kelpbed.yaml", "agent=forager", *TINY], project)
    assert run.returncode == 0, run.stderr[-3000:]
    run_dir = project / "runs" / "kelpbed" / "forager" / "seed0"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world"] == "Kelpbed-v0" and summary["steps"] >= 200
    assert [shift["t"] for shift in summary["shifts"]] == [100]
    config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert config["world"]["source"] == str(project / "my_worlds" / "kelpbed.yaml")  # what a sweep's job rebuilds
    # Sacred records the world file and the rule module its rule comes from.
    record = json.loads((run_dir / "sacred" / "1" / "run.json").read_text())
    assert "world.yaml" in record["artifacts"]
    sources = [Path(name).name for name, _ in record["experiment"]["sources"]]
    assert "current.py" in sources
    stored = [stored for name, stored in record["experiment"]["sources"] if name.endswith("current.py")][0]
    assert (run_dir / "sacred" / stored).read_text() == RULE

    show = openworld(["show", "my_worlds/kelpbed.yaml", "--out", "pictures", "--tile", "4"], project)
    assert show.returncode == 0, show.stderr[-3000:]
    assert (project / "pictures" / "Kelpbed-v0.png").stat().st_size > 0

    report = openworld(["report", str(run_dir), "--out", "kelp_report", "--no-plots"], project)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "Kelpbed-v0" in (project / "kelp_report" / "report.md").read_text()


def test_a_sweep_over_world_files_rebuilds_each_world_in_its_own_process(project: Path) -> None:
    (project / "my_worlds" / "calm.yaml").write_text(WORLD.replace("Kelpbed", "Calmbed"))
    sweep = openworld(["run", "-m", "world=my_worlds/kelpbed.yaml,my_worlds/calm.yaml", "hydra/launcher=local",
                       "hydra.launcher.n_jobs=2", "hydra.sweep.dir=sweep", "seed=1", *TINY], project, timeout=300)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    for choice, world_id in (("kelpbed", "Kelpbed-v0"), ("calmbed", "Calmbed-v0")):
        summary = json.loads((project / "sweep" / choice / "forager" / "seed1" / "summary.json").read_text())
        assert summary["world"] == world_id


def test_bad_world_paths_are_one_line_errors_naming_the_file(project: Path) -> None:
    missing = openworld(["run", "world=my_worlds/nope.yaml", *TINY], project)
    assert missing.returncode == 2 and "my_worlds/nope.yaml: no such world file" in missing.stderr
    assert "Traceback" not in missing.stderr
    (project / "broken").mkdir(exist_ok=True)
    (project / "broken" / "kelpbed.yaml").write_text(WORLD)  # its rule module is not next to it
    broken = openworld(["show", "broken/kelpbed.yaml"], project)
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert "kelpbed.yaml: rule_modules[0]: no rule module file" in broken.stderr and "current.py" in broken.stderr


def test_num_envs_null_is_the_agents_own_default_and_is_recorded(project: Path) -> None:
    run = openworld(["run", "world=my_worlds/kelpbed.yaml", "agent=random", "steps=3", "report=off", "progress=off",
                     "hydra.run.dir=random_run"], project)
    assert run.returncode == 0, run.stderr[-3000:]
    assert yaml.safe_load((project / "random_run" / ".hydra" / "config.yaml").read_text())["num_envs"] == 256
    assert json.loads((project / "random_run" / "sacred" / "1" / "config.json").read_text())["num_envs"] == 256
    assert json.loads((project / "random_run" / "summary.json").read_text())["num_bodies"] == 256
