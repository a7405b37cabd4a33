"""Shared pieces of the agent tests: the YAML configs in agents/ and tiny budgets for the checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import openworld.agents.ppo
import openworld.agents.rnd
import openworld.agents.sb3_adapter  # noqa: F401  (registers ppo-v0, ppo-rnd-v0, sb3-v0)

AGENTS_DIR = Path(__file__).resolve().parents[2] / "agents"

# Budgets small enough for a test: PPO updates every 8 steps, so a 40-step check sees several updates,
# one of them after the checkpoint (step 19, mid-rollout).
TINY_PPO = {"rollout_steps": 8, "num_epochs": 2, "num_minibatches": 2, "channels": 4, "hidden_size": 16}
TINY: dict[str, dict[str, Any]] = {
    "ppo-v0": TINY_PPO,
    "ppo-rnd-v0": {**TINY_PPO, "rnd_hidden_size": 16, "rnd_output_size": 8},
    "rlpd-v0": {"batch_size": 8, "learning_starts": 16, "buffer_capacity": 256, "ensemble_size": 3, "channels": 4,
                "hidden_size": 16, "critic_hidden_size": 16},
    "explore-v0": {"batch_size": 8, "learning_starts": 16, "buffer_capacity": 256, "ensemble_size": 3, "channels": 4,
                   "hidden_size": 16, "critic_hidden_size": 16, "reward_hidden_size": 8, "rnd_hidden_size": 16,
                   "rnd_output_size": 8},
    # Needs a dataset (NEEDS_A_FILE in test_agent_checks.py): checked in test_offline_online.py with one.
    "offline-online-v0": {"offline_steps": 4, "batch_size": 8, "learning_starts": 16, "buffer_capacity": 256,
                          "ensemble_size": 3, "channels": 4, "hidden_size": 16, "critic_hidden_size": 16},
}


def config_files() -> dict[str, Path]:
    """agent id -> its YAML config file in agents/."""
    return {yaml.safe_load(path.read_text())["id"]: path for path in sorted(AGENTS_DIR.glob("*.yaml"))}


def load_config(agent_id: str) -> dict[str, Any]:
    """The factory keyword arguments of an agent's YAML config (without ``id``)."""
    config = yaml.safe_load(config_files()[agent_id].read_text())
    config.pop("id")
    return dict(config)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny networks on a shared 2-core machine: a second intra-op thread only adds contention (measured:
    this folder's PPO tests take 10 s with one thread, over 2 minutes with two while other jobs run)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny() -> dict[str, dict[str, Any]]:
    return TINY


@pytest.fixture
def config_for() -> Callable[[str], dict[str, Any]]:
    """``config_for(agent_id)``: the agent's YAML config with the tiny budget on top."""
    return lambda agent_id: {**load_config(agent_id), **TINY.get(agent_id, {})}
