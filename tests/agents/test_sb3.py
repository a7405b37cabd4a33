"""stable-baselines3 trains on openworld unchanged, and a saved model lives through the protocol (sb3-v0)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import openworld  # noqa: F401
import openworld.agents.sb3_adapter  # noqa: F401  (registers sb3-v0)
from openworld.agent.protocol import make_agent
from openworld.testing.agent_checks import check_agent

sb3 = pytest.importorskip("stable_baselines3")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PPO model trained for a few hundred steps on gymnasium.make("openworld/Meadow-v0")."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        env = gym.make("openworld/Meadow-v0")
        model = sb3.PPO("MultiInputPolicy", env, n_steps=128, batch_size=64, n_epochs=2, seed=0, device="cpu")
        before = [p.detach().clone() for p in model.policy.parameters()]
        model.learn(total_timesteps=384)
        assert model.num_timesteps == 384
        assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))
        path = tmp_path_factory.mktemp("sb3") / "meadow_ppo.zip"
        model.save(path)
    finally:
        torch.set_num_threads(threads)
    return path


def test_sb3_env_checker_accepts_the_env() -> None:
    from stable_baselines3.common.env_checker import check_env

    check_env(gym.make("openworld/Meadow-v0").unwrapped, warn=False)


def test_sb3_lives_through_deaths_in_the_same_world() -> None:
    # DummyVecEnv calls reset() after a death: the body respawns in the same world, whose clock runs on.
    from stable_baselines3.common.env_util import make_vec_env

    envs = make_vec_env("openworld/Meadow-v0", n_envs=1, seed=0,
                        env_kwargs={"overrides": {"body.water.decay": 0.5, "body.starvation_damage": 2.0}})
    envs.reset()
    clocks, deaths = [], 0
    for _ in range(60):
        _, _, dones, infos = envs.step(np.array([0]))
        deaths += int(dones[0])
        clocks.append(infos[0]["world_step"])
    assert deaths >= 2
    assert all(b > a for a, b in zip(clocks, clocks[1:], strict=False))  # never wound back: no new world


def test_the_adapter_passes_check_agent(saved_model: Path) -> None:
    report = check_agent("sb3", "Meadow-v0", steps=30, config={"path": str(saved_model)})
    assert "save_load" in report.checked


def test_the_adapter_acts_like_the_model(saved_model: Path) -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=3, vectorization_mode="vector_entry_point")
    agent = make_agent("sb3", envs.single_observation_space, envs.single_action_space, 3, seed=0,
                       path=str(saved_model), deterministic=True)
    obs, _ = envs.reset(seed=0)
    greedy, _ = agent.model.predict(obs, deterministic=True)
    assert np.array_equal(agent.act(obs), greedy)


def test_the_adapter_refuses_what_it_cannot_use(saved_model: Path) -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    spaces = (envs.single_observation_space, envs.single_action_space, 2, 0)
    with pytest.raises(FileNotFoundError, match="no saved stable-baselines3 model"):
        make_agent("sb3", *spaces, path=str(saved_model.parent / "missing.zip"))
    with pytest.raises(ValueError, match="unknown stable-baselines3 algorithm"):
        make_agent("sb3", *spaces, path=str(saved_model), algorithm="PPOO")
    other = gym.spaces.Dict({"view": gym.spaces.Box(0, 5, (5, 5, 3), np.uint8),
                             "vitals": gym.spaces.Box(0.0, 1.0, (4,), np.float32)})
    with pytest.raises(ValueError, match="was trained on observations"):
        make_agent("sb3", other, envs.single_action_space, 2, 0, path=str(saved_model))
