"""experiment=plasticity end to end with a tiny budget: the sweep puts each arm in a folder of its own, each run's
summary names its options (also when scored again by openworld score), and openworld report groups the arms apart
with their learner diagnostics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TINY = ["agent.channels=4", "agent.hidden_size=16", "agent.rollout_steps=16", "agent.num_minibatches=2",
        "agent.diagnostics_every=1", "num_envs=2", "steps=160", "log_every=32", "checkpoint_every=80",
        "progress=off", "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]


def test_the_plasticity_sweep_and_its_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openworld.tools.cli import main

    monkeypatch.chdir(tmp_path)
    sweep = tmp_path / "sweep"
    assert main(["run", "-m", "experiment=plasticity", "plasticity=none,layer_norm_weight_decay,cbp", "seed=0",
                 *TINY, f"hydra.sweep.dir={sweep}"]) == 0
    arms = {"none": None, "layer_norm_weight_decay": ["layer_norm", "weight_decay"], "cbp": ["cbp"]}
    for arm, options in arms.items():
        summary = json.loads((sweep / arm / "seed0" / "summary.json").read_text())
        assert summary.get("plasticity") == options and summary.get("variant") == "train_fast_year"
    (sweep / "cbp" / "seed0" / "summary.json").unlink()  # scored again from the recording and the recorded config
    assert main(["score", str(sweep / "cbp" / "seed0"), "--report", "off"]) == 0
    assert json.loads((sweep / "cbp" / "seed0" / "summary.json").read_text())["plasticity"] == ["cbp"]
    assert main(["report", str(sweep), "--out", str(tmp_path / "report"), "--no-plots", "--reps", "100"]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    for agent in ("ppo-v0", "ppo-v0+layer_norm+weight_decay", "ppo-v0+cbp"):
        assert f"| Seasons-v0 (train_fast_year) | {agent} | 1 |" in text  # survival table: one group per arm
        assert f"| Seasons-v0 (train_fast_year) | {agent} | dormant fraction | 1 |" in text  # and its diagnostics
