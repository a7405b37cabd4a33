"""MiniGridStream: Gymnasium's and openworld's checkers, the reset-free stream semantics, its schedule,
save/restore, vectorisation, and that it is livable while its shifts matter."""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from minigrid.core.world_object import Goal, Lava

import openworld
from openworld.agent.lifetime import live
from openworld.registry import world_ids
from openworld.scoring import metrics
from openworld.testing import check_world
from openworld.variants import UnknownVariantError, world_variants
from openworld.world.shifts import ShiftSchedule
from openworld.world.spec import SpecError
from openworld.worlds.minigrid_oracle import StreamOracle
from openworld.worlds.minigrid_stream import (
    ACTION_NAMES,
    FAMILIES,
    MiniGridStreamEnv,
    MiniGridStreamVectorEnv,
)

ID = "openworld/MiniGridStream-v0"
FORWARD, LEFT = ACTION_NAMES.index("forward"), ACTION_NAMES.index("left")
WINDOW = 300


def make(**kwargs: Any) -> MiniGridStreamEnv:
    env = gym.make(ID, **kwargs)
    assert isinstance(env.unwrapped, MiniGridStreamEnv)
    return env.unwrapped


def put_in_front(env: MiniGridStreamEnv, obj: Any) -> None:
    """Put an object on the cell the body faces (clearing the way)."""
    task = env.task
    assert task is not None
    x, y = task.front_pos
    task.grid.set(x, y, obj)


# ------------------------------------------------------------------------------------------ contract
def test_registered_as_a_world_with_its_own_env() -> None:
    assert "MiniGridStream-v0" in world_ids(engine_only=False)
    assert "MiniGridStream-v0" not in world_ids()  # engine-level tools take engine worlds only
    assert openworld.registry.resolve_world_id("minigridstream") == "MiniGridStream-v0"


def test_gymnasium_env_checker() -> None:
    check_env(gym.make(ID).unwrapped, skip_render_check=False)


def test_openworld_check_world() -> None:
    report = check_world(lambda **kwargs: gym.make(ID, **kwargs), steps=300)
    assert "save_restore" in report.checked and "render" in report.checked


def test_observation_contract() -> None:
    env = make()
    obs, info = env.reset(seed=3)
    assert obs["view"].shape == (7, 7, 3) and obs["view"].dtype == np.uint8
    assert obs["vitals"].dtype == np.float32 and obs["vitals"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert set(info) == {"world_step", "alive", "events"} and info["world_step"] == 0 and info["alive"]
    assert "task" in info["events"]
    assert env.observation_space.contains(obs)
    assert env.action_space == gym.spaces.Discrete(len(ACTION_NAMES))


def test_same_seed_same_stream() -> None:
    first, second = make(), make()
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 3, 200).tolist()
    for env in (first, second):
        env.reset(seed=11)
    for action in actions:
        a, b = first.step(action), second.step(action)
        assert np.array_equal(a[0]["view"], b[0]["view"]) and a[1:] == b[1:]
        if a[2]:
            first.reset(), second.reset()


def test_bad_actions_raise() -> None:
    env = make()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(7)
    with pytest.raises(ValueError, match="NaN"):
        env.step(float("nan"))
    with pytest.raises(TypeError):
        env.step(1.5)


# ------------------------------------------------------------------------------------------ the stream
def test_a_goal_refills_energy_and_starts_the_next_task_without_a_reset() -> None:
    env = make()
    env.reset(seed=0)
    for _ in range(20):
        env.step(LEFT)
    tasks = env.tasks_started
    assert env.energy < env.energy_max
    put_in_front(env, Goal())
    obs, reward, terminated, truncated, info = env.step(FORWARD)
    assert "goal" in info["events"] and "task" in info["events"] and not terminated and not truncated
    assert env.tasks_started == tasks + 1 and env.goals_reached == 1
    assert obs["vitals"][3] == 1.0 and info["world_step"] == 21


def test_lava_kills_and_reset_respawns_in_a_new_task_later() -> None:
    env = make()
    env.reset(seed=0)
    put_in_front(env, Lava())
    obs, reward, terminated, _, info = env.step(FORWARD)
    assert terminated and not info["alive"] and "damage:lava" in info["events"] and "death" in info["events"]
    assert obs["vitals"].tolist() == [0.0, 0.0, 0.0, 0.0] and reward == 0.0
    with pytest.raises(RuntimeError, match="reset"):
        env.step(FORWARD)
    tasks = env.tasks_started
    obs, info = env.reset()  # no seed: respawn, after the delay of world time, in a new task
    assert info["alive"] and "respawn" in info["events"] and env.tasks_started == tasks + 1
    assert info["world_step"] == 1 + env.respawn_delay


def test_running_out_of_energy_is_death() -> None:
    env = make(overrides={"body.energy.decay": 0.125})  # exact in binary: empty after 8 steps
    env.reset(seed=0)
    for step in range(1, 9):
        _, _, terminated, _, info = env.step(LEFT)
        assert terminated == (step == 8)
    assert "damage:starvation" in info["events"]


def test_on_death_respawn_keeps_stepping() -> None:
    env = make(on_death="respawn", overrides={"body.energy.decay": 0.5})
    env.reset(seed=0)
    alive, respawns = [], []
    for _ in range(2 + env.respawn_delay):
        _, reward, terminated, _, info = env.step(LEFT)
        assert not terminated and (reward == 0.0) != info["alive"]
        alive.append(info["alive"])
        respawns.append("respawn" in info["events"])
    # Dead at step 2; back at step 2 + delay, in a new task, full of energy.
    assert alive[:2] == [True, False] and not any(alive[2:-1]) and alive[-1] and respawns[-1]


def test_reset_without_seed_never_regenerates_a_living_stream() -> None:
    env = make()
    env.reset(seed=0)
    for _ in range(5):
        env.step(LEFT)
    grid = env.task.grid.encode().copy() if env.task else None
    obs, info = env.reset()
    assert info["world_step"] == 5 and "task" not in info["events"]
    assert env.task is not None and np.array_equal(env.task.grid.encode(), grid)


def test_save_and_restore_continue_exactly() -> None:
    env, copy = make(), make()
    env.reset(seed=5)
    oracle = StreamOracle()
    for _ in range(150):
        env.step(oracle.act(env))
    copy.reset(seed=99)
    copy.set_state(env.get_state())
    for _ in range(200):
        action = oracle.act(env)
        a, b = env.step(action), copy.step(action)
        assert np.array_equal(a[0]["view"], b[0]["view"]) and a[1:] == b[1:]
    with pytest.raises(ValueError, match="not a saved MiniGridStream state"):
        copy.set_state(b"nonsense")


def test_family_weights_follow_the_schedule() -> None:
    env = make(variant="quick", on_death="respawn")
    schedule = ShiftSchedule(env.world_spec)
    assert [(e.t, e.name) for e in schedule.events(0, 3000)] == [(1000, "lava"), (2000, "doors")]
    assert schedule.regime_name(2500) == "lava+doors"
    env.reset(seed=0)
    oracle = StreamOracle()
    families: dict[str, set[str]] = {"rooms": set(), "lava": set(), "doors": set()}
    for _ in range(3000):
        regime = "rooms" if env.clock < 1000 else "lava" if env.clock < 2000 else "doors"
        _, _, _, _, info = env.step(oracle.act(env))
        if "task" in info["events"] and info["world_step"] > 1 + {"rooms": 0, "lava": 1000, "doors": 2000}[regime]:
            families[regime].add(env.task_family)
    assert families["rooms"] <= {"empty", "maze"} and families["rooms"]
    assert families["lava"] <= {"maze", "lavagap", "crossing"} and families["lava"] & {"lavagap", "crossing"}
    assert families["doors"] <= {"lavagap", "doorkey", "multiroom"} and families["doors"] & {"doorkey", "multiroom"}


def test_every_family_generates_and_the_oracle_solves_it() -> None:
    for family in FAMILIES:
        weights = {f"rules.minigrid-stream-v0.{name}": float(name == family) for name in FAMILIES}
        env = make(overrides=weights, on_death="respawn")
        env.reset(seed=1)
        oracle = StreamOracle()
        goals = 0
        for _ in range(400):
            _, _, _, _, info = env.step(oracle.act(env))
            goals += "goal" in info["events"]
            assert info["alive"], f"the oracle died in {family}"
        assert goals >= 3, f"the oracle reached {goals} goals in 400 steps of {family}"


def test_bad_stream_specs_are_errors() -> None:
    with pytest.raises(SpecError, match="family weights"):
        make(overrides={"rules.minigrid-stream-v0.empty": 0.0, "rules.minigrid-stream-v0.maze": 0.0})
    with pytest.raises(SpecError, match="size"):
        make(overrides={"rules.minigrid-stream-v0.size": 40})
    with pytest.raises(UnknownVariantError, match="heldout_big"):
        make(variant="heldout_bigger")


def test_variants() -> None:
    variants = world_variants("minigridstream")
    assert variants.split("train").names and variants.split("heldout").names
    env = variants["heldout_interleaved"].make().unwrapped
    assert env.variant == "heldout_interleaved"
    assert [s.kind for s in env.world_spec.shifts] == ["cyclic"]


# ------------------------------------------------------------------------------------------ vector
@pytest.mark.parametrize("mode", ["vector_entry_point", "sync"])
def test_make_vec(mode: str) -> None:
    envs = gym.make_vec(ID, num_envs=3, vectorization_mode=mode, variant="quick")
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs, info = envs.reset(seed=4)
    assert obs["view"].shape == (3, 7, 7, 3) and info["world_step"].tolist() == [0, 0, 0]
    assert all(env.unwrapped.variant == "quick" for env in envs.unwrapped.envs)  # type: ignore[attr-defined]
    obs, rewards, terminated, truncated, info = envs.step(np.full(3, FORWARD))
    assert info["world_step"].tolist() == [1, 1, 1]
    envs.close()


def test_the_vector_env_speaks_openworlds_info_and_lives_with_the_lifetime_loop() -> None:
    envs = gym.make_vec(ID, num_envs=2, variant="quick", overrides={"body.energy.decay": 0.05})
    assert isinstance(envs.unwrapped, MiniGridStreamVectorEnv) and envs.unwrapped.variant == "quick"
    assert ShiftSchedule(envs.unwrapped.world_spec).events(0, 3000)  # the monitor's view of the schedule
    obs, info = envs.reset(seed=0)
    assert set(info["events"]) >= {"death", "respawn", "consumed", "damage"} and info["alive"].all()

    class Turner:  # never reaches a goal: starves every 20 steps
        def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
            return np.full(2, LEFT)

        def observe(self, transition: Any) -> None: ...

    result = live(envs, Turner(), 200, seed=0)  # type: ignore[arg-type]
    # A life lasts 20 steps; the autoreset step that follows a death runs the world through the respawn
    # delay (100 steps of world time) and returns the respawned body: a death every 21 agent steps.
    assert result.deaths.tolist() == [9, 9]
    assert [stream.unwrapped.clock for stream in envs.unwrapped.envs] == [200 + 9 * 99] * 2  # type: ignore[attr-defined]
    envs.close()


@pytest.mark.parametrize(("actions", "error", "match"), [
    ([FORWARD, FORWARD, 7], ValueError, r"action 7 of env 2 is outside the action space \[0, 6\]"),
    ([FORWARD, FORWARD, -1], ValueError, "env 2"),
    ([FORWARD, FORWARD, float("nan")], ValueError, r"NaN at env\(s\) \[2\]"),
    ([FORWARD, FORWARD, 1.5], TypeError, "integers"),
    ([FORWARD, FORWARD], ValueError, r"shape \(3,\)"),
])
def test_the_vector_env_refuses_a_bad_batch_before_stepping_any_stream(actions: list, error: type[Exception],
                                                                        match: str) -> None:
    """One bad action, last in the batch: the streams before it must not have stepped."""
    envs = MiniGridStreamVectorEnv(3, variant="quick")
    envs.reset(seed=0)
    streams: list[MiniGridStreamEnv] = [env.unwrapped for env in envs.envs]  # type: ignore[misc]
    before = [stream.get_state() for stream in streams]
    with pytest.raises(error, match=match):
        envs.step(np.array(actions))
    assert [stream.clock for stream in streams] == [0, 0, 0]
    assert [stream.get_state() for stream in streams] == before, "a refused batch changes no stream"
    _, _, _, _, info = envs.step(np.full(3, FORWARD))  # and the next good batch steps every stream once
    assert info["world_step"].tolist() == [1, 1, 1]
    envs.close()


# ------------------------------------------------------------------------------------------ livable, and shifts matter
@functools.cache
def live_quick(num_envs: int = 3, seed: int = 0) -> dict[str, Any]:
    """The quick variant lived by the oracle, and by a policy that has exactly the skills of the regimes
    before each shift for ``WINDOW`` steps after it (never lava before 'lava', never doors before 'doors')."""
    events = ShiftSchedule(make(variant="quick").world_spec).events(1, 3000)
    onset = {event.name: event.t for event in events}
    steps = max(onset.values()) + 700
    runs: dict[str, np.ndarray] = {}
    for policy in ("oracle", "fixed"):
        wellbeing, alive = np.zeros((steps, num_envs)), np.zeros((steps, num_envs), bool)
        for i in range(num_envs):
            env = make(variant="quick", on_death="respawn")
            env.reset(seed=seed + i)
            for t in range(steps):
                clock = t + 1
                if policy == "oracle":
                    oracle = StreamOracle()
                else:  # learns each new skill WINDOW steps after the shift that asks for it
                    oracle = StreamOracle(knows_lava=clock > onset["lava"] + WINDOW,
                                          knows_doors=clock > onset["doors"] + WINDOW)
                obs, _, _, _, info = env.step(oracle.act(env))
                alive[t, i] = info["alive"]
                wellbeing[t, i] = metrics.wellbeing([info["alive"]], obs["vitals"][None], np.ones(4))[0]
        runs[f"{policy}_alive"], runs[f"{policy}_wellbeing"] = alive, wellbeing
    runs["shift_steps"] = np.array([event.t - 1 for event in events])
    runs["steps"] = np.array(steps)
    return runs


def test_the_oracle_stays_alive_in_every_stretch() -> None:
    runs = live_quick()
    cuts = [0, *runs["shift_steps"].tolist(), int(runs["steps"])]
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        assert runs["oracle_alive"][a:b].mean() >= 0.8, f"the oracle is alive {runs['oracle_alive'][a:b].mean():.2f}"


def test_every_shift_costs_a_policy_without_the_new_skill() -> None:
    runs = live_quick()
    shift_steps = runs["shift_steps"].tolist()
    drops = [[s["drop"] for s in metrics.shift_metrics(runs["fixed_wellbeing"][:, i], shift_steps,
                                                        ["abrupt"] * len(shift_steps), window=WINDOW)]
             for i in range(runs["fixed_wellbeing"].shape[1])]
    mean = np.mean(drops, axis=0)
    assert (mean > 0.1).all(), f"mean drops {mean}"
