"""Tests of openworld.agent.lifetime.live: the loop drives agent and envs, carries on across calls, stops
when asked, and together with the monitor's state_dict resumes a lifetime into the exact recording
of an uninterrupted one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import openworld  # noqa: F401  (registers the worlds)
from openworld.agent.lifetime import LifetimeState, live
from openworld.agent.protocol import Agent, Transition, make_agent
from openworld.scoring.monitor import Monitor, read_recording
from openworld.world.shifts import ShiftSchedule

# Thirst kills five steps after each (re)spawn; the respawn delay is 7 world steps.
DEADLY = {"body.water.decay": 2.0, "body.starvation_damage": 5.0, "body.respawn_delay": 7}


def make(num_envs: int = 2, seed: int = 0, overrides: dict[str, Any] | None = None) -> tuple[Any, Agent]:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=num_envs, vectorization_mode="vector_entry_point",
                        overrides=overrides)
    agent = make_agent("random", envs.single_observation_space, envs.single_action_space, num_envs, seed=seed)
    return envs, agent


class Recorder:
    """An agent wrapper that remembers what it was shown."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.transitions: list[Transition] = []

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.agent.act(obs)

    def observe(self, transition: Transition) -> None:
        self.transitions.append(transition)
        self.agent.observe(transition)

    def state_dict(self) -> dict[str, Any]:
        return self.agent.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state)


def test_live_observes_every_step_and_counts_deaths() -> None:
    envs, agent = make(overrides=DEADLY)
    recorder = Recorder(agent)
    result = live(envs, recorder, 30, seed=0)
    assert result.steps == 30 and result.state.step == 30 and not result.stopped
    assert len(recorder.transitions) == 30
    last = recorder.transitions[-1]
    assert result.state.obs is last.next_obs
    deaths = sum(t.info["events"]["death"].astype(int) for t in recorder.transitions)
    assert result.deaths.tolist() == deaths.tolist() and deaths.min() >= 2  # the deadly world kills


def test_live_carries_on_from_its_state_like_one_long_call() -> None:
    envs, agent = make()
    whole = live(envs, agent, 40, seed=3)
    envs, agent = make()
    first = live(envs, agent, 25, seed=3)
    second = live(envs, agent, 15, state=first.state)
    assert second.state.step == 40
    for key in ("view", "vitals"):
        np.testing.assert_array_equal(second.state.obs[key], whole.state.obs[key])
    restored = LifetimeState.from_state_dict(first.state.state_dict())
    assert restored.step == 25 and np.array_equal(restored.obs["view"], first.state.obs["view"])
    with pytest.raises(ValueError, match="fresh start"):
        live(envs, agent, 1, seed=3, state=second.state)


def test_on_step_counts_lifetime_steps_and_can_stop_the_loop() -> None:
    envs, agent = make()
    first = live(envs, agent, 5, seed=0)
    seen: list[int] = []

    def on_step(step: int, transition: Transition) -> bool:
        seen.append(step)
        return step == 8

    result = live(envs, agent, 100, state=first.state, on_step=on_step)
    assert seen == [6, 7, 8]
    assert result.stopped and result.steps == 3 and result.state.step == 8


def test_monitor_records_every_body_and_world_step(tmp_path: Path) -> None:
    envs, agent = make(overrides=DEADLY)
    recorder = Recorder(agent)
    schedule = ShiftSchedule(envs.unwrapped.world_spec)
    with Monitor(tmp_path, schedule, 2) as monitor:
        live(envs, recorder, 50, seed=1, monitor=monitor)
    recording = read_recording(tmp_path)
    for body in range(2):
        rows = recording.body(body)
        clocks = [int(t.info["world_step"][body]) for t in recorder.transitions]
        assert rows["t"].tolist() == list(range(1, clocks[-1] + 1))  # the respawn jumps are filled in
        index = np.searchsorted(rows["t"], clocks)
        assert rows["alive"][index].tolist() == [bool(t.info["alive"][body]) for t in recorder.transitions]
        assert rows["vitals"][index].tolist() == [t.next_obs["vitals"][body].tolist() for t in recorder.transitions]
        assert int(rows["died"].sum()) == sum(int(t.info["events"]["death"][body]) for t in recorder.transitions)
        assert (~rows["alive"]).sum() > rows["died"].sum()  # dead time, not just the steps of dying


def test_resume_from_checkpoint_gives_the_uninterrupted_recording(tmp_path: Path) -> None:
    """A lifetime checkpointed at step 60, run on (writing chunks) and killed, then resumed from the
    checkpoint, records exactly what an uninterrupted lifetime records."""
    def fresh(directory: Path, resume: bool = False) -> tuple[Any, Agent, Monitor]:
        envs, agent = make(overrides=DEADLY, seed=5)
        monitor = Monitor(directory, ShiftSchedule(envs.unwrapped.world_spec), 2, chunk_rows=16, resume=resume)
        return envs, agent, monitor

    envs, agent, monitor = fresh(tmp_path / "whole")
    live(envs, agent, 120, seed=2, monitor=monitor)
    monitor.close()

    envs, agent, monitor = fresh(tmp_path / "resumed")
    checkpoint = live(envs, agent, 60, seed=2, monitor=monitor)
    saved = {"monitor": monitor.state_dict(), "agent": agent.state_dict(), "lifetime": checkpoint.state.state_dict()}
    live(envs, agent, 40, state=checkpoint.state, monitor=monitor)  # then the process dies: no close()
    del monitor

    # The restart: the worlds are rebuilt by replaying the first 60 steps without a monitor (what the
    # runner does by restoring its saved env state), the agent and the monitor from the checkpoint.
    envs, agent, _ = fresh(tmp_path / "replay")
    live(envs, agent, 60, seed=2)
    agent.load_state_dict(saved["agent"])
    monitor = Monitor(tmp_path / "resumed", ShiftSchedule(envs.unwrapped.world_spec), 2, chunk_rows=16, resume=True)
    monitor.load_state_dict(saved["monitor"])
    live(envs, agent, 60, state=LifetimeState.from_state_dict(saved["lifetime"]), monitor=monitor)
    monitor.close()

    expected, got = read_recording(tmp_path / "whole"), read_recording(tmp_path / "resumed")
    for name, column in expected.columns.items():
        np.testing.assert_array_equal(got.columns[name], column, err_msg=name)
