"""Agent snapshots: where they are and how they are listed, a loaded snapshot acting as the saved agent did,
and files that are not a snapshot of this agent refused, naming the file, before the agent is touched; the
``snapshots`` key's bad values refused with the key and the value."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from openworld.agent.lifetime import live
from openworld.agent.protocol import make_agent
from openworld.envs.vector import OpenWorldVectorEnv
from openworld.errors import CheckpointError, RunError
from openworld.runner.checkpoint import save_checkpoint
from openworld.runner.config import check_snapshot_steps
from openworld.runner.snapshots import (
    list_snapshots,
    load_agent_snapshot,
    save_agent_snapshot,
    snapshot_path,
    snapshot_sha256,
)

IDENTITY = {"world": "Meadow-v0", "variant": None, "agent": "ppo-v0", "agent_config": {"rollout_steps": 16},
            "seed": 0, "num_envs": 2, "bodies": 1}


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny networks on a shared 2-core machine: a second intra-op thread only adds contention (as
    tests/agents/conftest.py measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ppo(envs: OpenWorldVectorEnv, seed: int, num_envs: int = 2) -> Any:
    return make_agent("ppo", envs.single_observation_space, envs.single_action_space, num_envs, seed, rollout_steps=16)


def actions_from(envs: OpenWorldVectorEnv, agent: Any, state: Any, envs_state: Any, steps: int) -> np.ndarray:
    """The actions ``agent`` takes living ``steps`` steps from ``state`` (the envs put back to ``envs_state``)."""
    envs.set_state(envs_state)
    taken: list[np.ndarray] = []
    live(envs, agent, steps, state=state, on_step=lambda done, transition: taken.append(transition.action.copy()))
    return np.stack(taken)


def test_a_loaded_snapshot_acts_as_the_saved_agent_did(tmp_path: Path) -> None:
    envs = OpenWorldVectorEnv(2, world="Meadow-v0")
    agent = ppo(envs, seed=0)
    state = live(envs, agent, 40, seed=0).state  # past two PPO updates (rollout_steps=16)
    save_agent_snapshot(tmp_path, 40, agent, IDENTITY)
    envs_state = envs.get_state()
    original = actions_from(envs, agent, state, envs_state, 24)

    fresh = ppo(envs, seed=1)  # another seed: acts otherwise until it is loaded
    assert not np.array_equal(actions_from(envs, ppo(envs, seed=1), state, envs_state, 24), original)
    header = load_agent_snapshot(snapshot_path(tmp_path, 40), fresh, "ppo")
    assert {key: header[key] for key in (*IDENTITY, "kind", "step")} == {**IDENTITY, "kind": "agent-snapshot",
                                                                          "step": 40}
    np.testing.assert_array_equal(actions_from(envs, fresh, state, envs_state, 24), original)  # learning included


def test_snapshots_are_listed_by_step_and_temporary_files_are_not(tmp_path: Path) -> None:
    assert list_snapshots(tmp_path) == []
    envs = OpenWorldVectorEnv(2, world="Meadow-v0")
    agent = make_agent("random", envs.single_observation_space, envs.single_action_space, 2, 0)
    for step in (1000, 200, 30):
        save_agent_snapshot(tmp_path, step, agent, {**IDENTITY, "agent": "random-v0"})
    (tmp_path / "snapshots" / ".agent-5000.ckpt.tmp").write_bytes(b"half")  # a write cut short
    (tmp_path / "snapshots" / "notes.txt").write_text("x")
    assert list_snapshots(tmp_path) == [(step, snapshot_path(tmp_path, step)) for step in (30, 200, 1000)]
    assert snapshot_path(tmp_path, 200) == tmp_path / "snapshots" / "agent-200.ckpt"
    path = snapshot_path(tmp_path, 200)
    assert snapshot_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert snapshot_sha256(path) != snapshot_sha256(snapshot_path(tmp_path, 30))


@pytest.fixture
def saved_ppo(tmp_path: Path) -> tuple[Path, OpenWorldVectorEnv]:
    envs = OpenWorldVectorEnv(2, world="Meadow-v0")
    return save_agent_snapshot(tmp_path, 40, ppo(envs, seed=0), IDENTITY), envs


def refused(path: Path, agent: Any, agent_id: str) -> str:
    """The message of loading ``path`` into ``agent``, checking the agent's state did not change."""
    before = agent.state_dict()
    with pytest.raises(CheckpointError) as caught:
        load_agent_snapshot(path, agent, agent_id)
    after = agent.state_dict()
    for key in ("model", "generator", "position", "updates"):
        assert str(after[key]) == str(before[key]), key
    return str(caught.value)


def test_a_snapshot_of_another_agent_is_refused(saved_ppo: tuple[Path, OpenWorldVectorEnv]) -> None:
    path, envs = saved_ppo
    message = refused(path, ppo(envs, seed=1), "ppo-rnd")
    assert str(path) in message and "agent snapshot of 'ppo-v0', not of 'ppo-rnd-v0'" in message


def test_a_file_that_is_not_a_snapshot_is_refused(saved_ppo: tuple[Path, OpenWorldVectorEnv], tmp_path: Path) -> None:
    _, envs = saved_ppo
    run_checkpoint = tmp_path / "checkpoints" / "last.ckpt"  # a run's checkpoint: right agent, wrong kind
    save_checkpoint(run_checkpoint, {"agent": ppo(envs, seed=0).state_dict()}, {**IDENTITY, "step": 40})
    message = refused(run_checkpoint, ppo(envs, seed=1), "ppo")
    assert str(run_checkpoint) in message and "not an agent snapshot" in message and "None" in message


def test_a_corrupt_snapshot_is_refused(saved_ppo: tuple[Path, OpenWorldVectorEnv]) -> None:
    path, envs = saved_ppo
    data = bytearray(path.read_bytes())
    data[-50] ^= 0xFF
    path.write_bytes(bytes(data))
    message = refused(path, ppo(envs, seed=1), "ppo")
    assert str(path) in message and "checksum mismatch" in message


def test_a_snapshot_of_another_shape_is_refused(saved_ppo: tuple[Path, OpenWorldVectorEnv]) -> None:
    path, envs = saved_ppo  # saved with num_envs=2
    message = refused(path, ppo(OpenWorldVectorEnv(3, world="Meadow-v0"), seed=1, num_envs=3), "ppo")
    assert str(path) in message and "does not fit this ppo-v0 agent" in message and "num_envs=2" in message


@pytest.mark.parametrize(("snapshots", "message"), [
    ([0], "snapshots[0] must be a world step from 1 to steps (300), got 0"),
    ([100, 301], "snapshots[1] must be a world step from 1 to steps (300), got 301"),
    ([200, 100], "snapshots must be strictly increasing: snapshots[1] is 100 after 200"),
    ([100, 100], "snapshots must be strictly increasing: snapshots[1] is 100 after 100"),
    ([True], "snapshots[0] must be a world step from 1 to steps (300), got True"),
    (100, "snapshots must be a list of world steps"),
])
def test_bad_snapshot_steps_are_refused_naming_the_value(snapshots: Any, message: str) -> None:
    with pytest.raises(RunError) as caught:
        check_snapshot_steps(snapshots, 300)
    assert message in str(caught.value)


def test_good_snapshot_steps_pass() -> None:
    check_snapshot_steps([], 300)
    check_snapshot_steps([1, 150, 300], 300)
