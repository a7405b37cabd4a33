"""The done-when of prior data: ``openworld collect ... dataset=smoke`` then ``openworld datasets`` lists it
(in process; num_envs=2 keeps it cheap, the forager's default is 256 worlds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.experiments.conftest import QUIET


def test_collect_then_datasets_lists_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from openworld.tools.cli import main

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.chdir(tmp_path)
    args = ["collect", "world=meadow", "agent=forager", "steps=2000", "dataset=smoke", "num_envs=2",
            "progress=off", *QUIET]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "openworld collect: openworld/meadow/smoke-v0: 2,000 steps" in out and "alive fraction" in out
    assert main(["datasets"]) == 0
    listing = capsys.readouterr().out
    assert "openworld/meadow/smoke-v0" in listing and "Meadow-v0" in listing and "forager" in listing
    assert main(args) == 2  # the same id again: refused, the dataset kept
    assert "already exists" in capsys.readouterr().err
    assert main(["datasets", "show", "openworld/meadow/smoke-v0"]) == 0
    assert '"steps": 2000' in capsys.readouterr().out
    assert sorted(path.name for path in tmp_path.iterdir()) == ["minari"]  # no run directory, no .hydra


@pytest.mark.parametrize(("preset", "agent", "epsilon", "learn", "snapshot"), [
    ("forager", "forager", 0.0, True, None),
    ("noisy-forager", "forager", 0.3, True, None),
    ("random", "random", 0.0, True, None),
    ("ppo-early", "ppo", 0.0, False, "runs/meadow/ppo/seed0/snapshots/agent-1000.ckpt"),
    ("ppo-mid", "ppo", 0.0, False, "runs/meadow/ppo/seed0/snapshots/agent-6000.ckpt"),
    ("ppo-late", "ppo", 0.0, False, "runs/meadow/ppo/seed0/snapshots/agent-12000.ckpt"),
])
def test_the_garbage_heaps_presets(preset: str, agent: str, epsilon: float, learn: bool, snapshot: str | None) -> None:
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from openworld.runner import register_config_groups

    register_config_groups()
    with initialize_config_module(config_module="openworld.experiments.conf", version_base="1.3"):
        cfg = compose(config_name="collect", overrides=[f"preset={preset}"])
    assert (cfg.dataset, cfg.agent.id.split("-v")[0], cfg.epsilon, cfg.learn, cfg.agent_snapshot) == (
        preset, agent, epsilon, learn, snapshot)
    if preset.startswith("ppo-"):  # the snapshots the ppo_snapshots experiment saves
        with initialize_config_module(config_module="openworld.experiments.conf", version_base="1.3"):
            run = compose(config_name="config", overrides=["experiment=ppo_snapshots"])
        assert f"agent-{snapshot.rsplit('-', 1)[1].split('.')[0]}.ckpt" in [
            f"agent-{step}.ckpt" for step in OmegaConf.to_container(run.snapshots)]
        assert run.num_envs == cfg.num_envs  # a PPO state holds its rollout buffers: the same number of worlds
