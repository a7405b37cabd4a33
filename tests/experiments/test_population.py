"""Several bodies per world in ``openworld run``: one independent agent per body, per-body and
population scores, and exact resume (``bodies=N``; openworld.envs.population)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from openworld.agent.protocol import Transition
from openworld.envs.population import BodiesAsEnvs, IndependentAgents
from openworld.scoring.monitor import read_recording

RUN = ["world=commons", "agent=forager", "bodies=3", "num_envs=2", "report=off", "progress=plain",
       "log_every=200"]


def test_each_body_has_its_own_agent_that_sees_only_its_body() -> None:
    envs = BodiesAsEnvs(num_worlds=2, bodies=3, world="Commons-v0")
    agents = IndependentAgents("forager", envs, bodies=3, seed=5)
    assert [agent.rng.bit_generator.state == agents.agents[0].rng.bit_generator.state  # type: ignore[attr-defined]
            for agent in agents.agents] == [True, False, False]  # seeded seed + n
    seen: list[np.ndarray] = []
    agents.agents[1].act = lambda obs: (seen.append(obs["view"]), np.zeros(2, dtype=np.int64))[1]  # type: ignore[method-assign]
    obs, info = envs.reset(seed=0)
    actions = agents.act(obs)
    assert actions.shape == (6,)
    np.testing.assert_array_equal(seen[0], obs["view"][[1, 4]])  # body 1 of world 0 and of world 1
    next_obs, rewards, terminated, truncated, info = envs.step(actions)
    agents.observe(Transition(obs, actions, rewards, next_obs, terminated, truncated, info))
    assert info["world_step"].tolist() == [1] * 6 and info["body"].tolist() == [0, 1, 2, 0, 1, 2]


def test_population_state_round_trip_continues_identically() -> None:
    def rollout(envs: BodiesAsEnvs, agents: IndependentAgents, obs: dict, steps: int) -> list[np.ndarray]:
        out = []
        for _ in range(steps):
            actions = agents.act(obs)
            next_obs, rewards, terminated, truncated, info = envs.step(actions)
            agents.observe(Transition(obs, actions, rewards, next_obs, terminated, truncated, info))
            obs = next_obs
            out.append(actions)
        return out

    envs = BodiesAsEnvs(1, 3, world="Commons-v0")
    agents = IndependentAgents("forager", envs, 3, seed=0)
    obs, _ = envs.reset(seed=1)
    rollout(envs, agents, obs, 50)
    saved_env, saved_agents = envs.get_state(), agents.state_dict()
    obs = envs._observations()
    first = rollout(envs, agents, obs, 100)
    envs2 = BodiesAsEnvs(1, 3, world="Commons-v0")
    envs2.reset(seed=99)
    envs2.set_state(saved_env)
    agents2 = IndependentAgents("forager", envs2, 3, seed=123)
    agents2.load_state_dict(saved_agents)
    second = rollout(envs2, agents2, envs2._observations(), 100)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_bad_population_input_is_refused() -> None:
    envs = BodiesAsEnvs(1, 2, world="Commons-v0")
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        envs.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"\[0, 6\]"):
        envs.step(np.array([0, 9]))


def test_run_with_several_bodies_scores_each_body_and_resumes_exactly(tmp_path: Path, openworld_run) -> None:
    whole, pieces = tmp_path / "whole", tmp_path / "pieces"
    done = openworld_run([*RUN, "steps=800", "checkpoint_every=400", f"hydra.run.dir={whole}"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((whole / "summary.json").read_text())
    assert summary["num_bodies"] == 6 and summary["bodies_per_world"] == 3
    assert [b["body"] for b in summary["bodies"]] == list(range(6))
    population = np.mean([b["survival"]["alive_fraction"] for b in summary["bodies"]])
    assert summary["survival"]["alive_fraction"] == pytest.approx(population)

    first = openworld_run([*RUN, "steps=400", "checkpoint_every=400", f"hydra.run.dir={pieces}"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = openworld_run([*RUN, "steps=800", "checkpoint_every=400", "resume=true", f"hydra.run.dir={pieces}"],
                           cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = json.loads((pieces / "summary.json").read_text())
    for key in ("survival", "shifts", "bodies"):
        assert resumed[key] == summary[key]
    a, b = read_recording(whole).columns, read_recording(pieces).columns
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
