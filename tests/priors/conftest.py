"""Shared fixtures of the prior tests: private Minari and prior stores, and small collected datasets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import openworld  # noqa: F401  (registers the worlds)


@pytest.fixture(autouse=True)
def stores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Datasets and priors of this test only; one torch thread (as runs use)."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setenv("OPENWORLD_PRIORS_PATH", str(tmp_path / "priors"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path
    torch.set_num_threads(threads)


def collect_dataset(name: str, agent_id: str = "forager", *, world_id: str = "Meadow-v0", steps: int = 500,
                    num_envs: int = 4, seed: int = 0, segment_steps: int = 100, epsilon: float = 0.0,
                    agent_config: dict[str, Any] | None = None, learn: bool = True) -> str:
    """Collect a small dataset (as ``openworld collect`` does); returns its id."""
    from openworld.data.collect import CollectRequest, collect
    from openworld.registry import world_entry
    from openworld.runner.build import world_spec_from_config
    from openworld.world.spec import to_dict

    world = world_spec_from_config({"id": world_id, "variant": None, **to_dict(world_entry(world_id).spec)})
    result = collect(CollectRequest(world=world, agent_id=agent_id, agent_config=agent_config or {}, steps=steps,
                                    seed=seed, dataset=name, num_envs=num_envs, segment_steps=segment_steps,
                                    epsilon=epsilon, learn=learn))
    return str(result.dataset_ids[0])


@pytest.fixture
def make_dataset() -> Callable[..., str]:
    """``make_dataset(name, agent_id, steps=..., num_envs=...)``: collect one into this test's store."""
    return collect_dataset
