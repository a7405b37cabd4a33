"""learner.jsonl: the agent's metrics (plasticity diagnostics included) at every log step, in the run directory;
a resumed run drops what was logged past its checkpoint, so it ends with the file of an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest

from openworld.scoring.learner_log import LEARNER_LOG, append_learner_metrics, read_learner_log

RUN = ["run", "world=meadow", "agent=ppo", "agent.channels=4", "agent.hidden_size=16", "agent.rollout_steps=16",
       "agent.num_minibatches=2", "agent.diagnostics_every=1", "num_envs=2", "log_every=32", "checkpoint_every=64",
       "report=off", "progress=off", "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]


def test_the_learner_log_holds_the_metrics_and_a_resumed_run_ends_as_an_uninterrupted_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openworld.tools.cli import main

    monkeypatch.chdir(tmp_path)
    assert main([*RUN, "steps=128", "hydra.run.dir=whole"]) == 0
    assert main([*RUN, "steps=64", "hydra.run.dir=cut"]) == 0
    append_learner_metrics(tmp_path / "cut", 96, {"losses/entropy": 9.0})  # as if logged past the checkpoint
    with (tmp_path / "cut" / LEARNER_LOG).open("a") as file:
        file.write('{"step": 12')  # and torn by the kill
    assert main([*RUN, "steps=128", "resume=true", "hydra.run.dir=cut"]) == 0
    whole, cut = read_learner_log(tmp_path / "whole"), read_learner_log(tmp_path / "cut")
    assert [row["step"] for row in whole] == [32, 64, 96, 128]
    assert cut == whole
    assert {"losses/entropy", "plasticity/dormant_fraction", "plasticity/stable_rank", "plasticity/weight_norm",
            "plasticity/gradient_norm"} <= whole[-1].keys()


def test_an_agent_without_metrics_writes_no_learner_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openworld.tools.cli import main

    monkeypatch.chdir(tmp_path)
    args = [a for a in RUN if not a.startswith("agent.")]
    assert main([*[a if a != "agent=ppo" else "agent=random" for a in args], "steps=64", "hydra.run.dir=r"]) == 0
    assert not (tmp_path / "r" / LEARNER_LOG).exists() and (tmp_path / "r" / "summary.json").exists()
