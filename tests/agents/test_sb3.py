"""stable-baselines3 trains on openworld unchanged, and a saved model lives through the protocol (sb3-v0),
loaded only when the file is trusted (an SB3 .zip can run code), its state checkpointed as plain tensors."""

from __future__ import annotations

import base64
import json
import pickle
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import openworld  # noqa: F401
import openworld.agents.sb3_adapter  # noqa: F401  (registers sb3-v0)
from openworld.agent.protocol import make_agent
from openworld.errors import AgentError
from openworld.runner.checkpoint import load_checkpoint, save_checkpoint
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


TRUSTED = "an SB3 .zip can run code when loaded"


def test_the_adapter_passes_check_agent(saved_model: Path) -> None:
    with pytest.warns(UserWarning, match=TRUSTED):
        report = check_agent("sb3", "Meadow-v0", steps=30, config={"path": str(saved_model), "trust_file": True})
    assert "save_load" in report.checked


def test_the_adapter_acts_like_the_model(saved_model: Path) -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=3, vectorization_mode="vector_entry_point")
    with pytest.warns(UserWarning, match=f"{saved_model.name}' with agent.trust_file=true: {TRUSTED}"):
        agent = make_agent("sb3", envs.single_observation_space, envs.single_action_space, 3, seed=0,
                           path=str(saved_model), deterministic=True, trust_file=True)
    obs, _ = envs.reset(seed=0)
    greedy, _ = agent.model.predict(obs, deterministic=True)
    assert np.array_equal(agent.act(obs), greedy)


def test_the_adapter_refuses_what_it_cannot_use(saved_model: Path) -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    spaces = (envs.single_observation_space, envs.single_action_space, 2, 0)
    with pytest.raises(FileNotFoundError, match="no saved stable-baselines3 model"):
        make_agent("sb3", *spaces, path=str(saved_model.parent / "missing.zip"))
    with pytest.raises(ValueError, match="unknown stable-baselines3 algorithm"):
        make_agent("sb3", *spaces, path=str(saved_model), algorithm="PPOO", trust_file=True)
    other = gym.spaces.Dict({"view": gym.spaces.Box(0, 5, (5, 5, 3), np.uint8),
                             "vitals": gym.spaces.Box(0.0, 1.0, (4,), np.float32)})
    with pytest.raises(ValueError, match="was trained on observations"), pytest.warns(UserWarning, match=TRUSTED):
        make_agent("sb3", other, envs.single_action_space, 2, 0, path=str(saved_model), trust_file=True)


class CreatesAFile:
    """Unpickling this creates ``marker`` (``builtins.open`` stands for any call an attacker would make)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def booby_trapped(model: Path, marker: Path) -> Path:
    """A copy of ``model`` whose saved observation space unpickles into a call that creates ``marker``."""
    trapped = marker.parent / "shared_model.zip"
    with zipfile.ZipFile(model) as source, zipfile.ZipFile(trapped, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "data":
                data = json.loads(content)
                data["observation_space"][":serialized:"] = base64.b64encode(
                    pickle.dumps(CreatesAFile(marker))).decode()
                content = json.dumps(data).encode()
            target.writestr(item, content)
    return trapped


@pytest.mark.parametrize("trust_file", [False, None, "yes"])
def test_an_untrusted_model_file_is_refused_before_it_is_opened(saved_model: Path, tmp_path: Path,
                                                               trust_file: object) -> None:
    marker = tmp_path / "pwned"
    trapped = booby_trapped(saved_model, marker)
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    spaces = (envs.single_observation_space, envs.single_action_space, 2, 0)
    config = {} if trust_file is False else {"trust_file": trust_file}  # False: the default
    with pytest.raises(AgentError, match=f"not loading '{trapped}': {TRUSTED}.*agent.trust_file=true only for files "
                                         "you made or trust"):
        make_agent("sb3", *spaces, path=str(trapped), **config)
    assert not marker.exists()
    # The trap is real: SB3 runs it when the file is trusted.
    with pytest.warns(UserWarning), pytest.raises(Exception):  # noqa: B017  (SB3 then fails on the space)
        make_agent("sb3", *spaces, path=str(trapped), trust_file=True)
    assert marker.exists()


def test_the_adapters_state_is_checkpointed_as_plain_tensors(saved_model: Path, tmp_path: Path) -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=3, vectorization_mode="vector_entry_point")
    spaces = (envs.single_observation_space, envs.single_action_space, 3)
    with pytest.warns(UserWarning, match=TRUSTED):
        agent, other = (make_agent("sb3", *spaces, seed, path=str(saved_model), trust_file=True) for seed in (0, 1))
    obs, _ = envs.reset(seed=0)
    agent.act(obs)
    with torch.no_grad():
        next(agent.policy.parameters()).add_(0.5)  # weights that differ from the file's: the state carries them
    save_checkpoint(tmp_path / "last.ckpt", {"agent": agent.state_dict()}, {"agent": "sb3-v0", "step": 1})
    other.load_state_dict(load_checkpoint(tmp_path / "last.ckpt")[1]["agent"])  # weights_only: no pickle
    assert all(torch.equal(a, b) for a, b in zip(agent.policy.parameters(), other.policy.parameters(), strict=True))
    assert np.array_equal(agent.act(obs), other.act(obs))
