"""The single-body Gymnasium contract of every registered world: Gymnasium's own checker, seeding,
reset-free semantics (the world persists and its clock keeps running), death and respawn, rewards,
and bit-identical determinism."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import openworld
from openworld.enums import Action, Vital
from openworld.envs.core import drive
from openworld.envs.single import OpenWorldEnv
from openworld.registry import load_world_spec
from openworld.world.spec import WorldSpec, load_spec_text, spec_from_dict, to_dict

WORLD_IDS = openworld.world_ids()


def compressed(world_id: str, factor: int = 20) -> WorldSpec:
    """The world with every shift time divided by ``factor``: its whole schedule within ~1,000 steps."""
    data = to_dict(load_world_spec(world_id))
    for shift in data["shifts"]:
        for key in ("at", "start", "end"):
            shift[key] //= factor
        shift["period"] = max(1, shift["period"] // factor)
        if shift["kind"] == "gradual" and shift["end"] <= shift["start"]:
            shift["end"] = shift["start"] + 1
    return spec_from_dict(data, source=f"{world_id} (times / {factor})")


WORLDS: list[Any] = [*WORLD_IDS, pytest.param(compressed("Shiftlands-v0"), id="Shiftlands-compressed")]


def make(world: str | WorldSpec, **kwargs: Any) -> OpenWorldEnv:
    if isinstance(world, str):
        env = gym.make(f"openworld/{world}", **kwargs)
        assert isinstance(env.unwrapped, OpenWorldEnv)
        return env  # type: ignore[return-value]
    return OpenWorldEnv(world, **kwargs)


def kill(env: Any) -> None:
    """Empty every vital: the next step kills the body (health <= 0 once the step is over)."""
    env.unwrapped.engine.state.vitals[0, 0] = [0.0, 0.0, 0.0, 0.0]


def terrain(env: Any) -> np.ndarray:
    return env.unwrapped.engine.state.terrain[0].copy()


def respawn_delay(env: Any) -> int:
    return env.unwrapped.world_spec.body.respawn_delay


def random_actions(count: int, seed: int) -> list[int]:
    return np.random.default_rng(seed).integers(0, len(Action), count).tolist()


# ================================================================== Gymnasium's checker
@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_gymnasium_env_checker(world_id: str) -> None:
    env = gym.make(f"openworld/{world_id}")
    check_env(env.unwrapped)


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_spaces(world_id: str) -> None:
    env = make(world_id)
    spec = env.unwrapped.world_spec
    assert env.action_space == gym.spaces.Discrete(len(Action))
    view = env.observation_space["view"]
    assert view.shape == (spec.observation.view, spec.observation.view, 3) and view.dtype == np.uint8
    assert env.observation_space["vitals"].shape == (len(Vital),)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert set(info) == {"world_step", "alive", "events"}
    assert info["world_step"] == 0 and info["alive"] is True and info["events"] == []


# ================================================================== seeding and reset-free semantics
@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_same_seed_same_observation(world_id: str) -> None:
    env = make(world_id)
    obs_a, info_a = env.reset(seed=11)
    for action in random_actions(20, 0):
        env.step(action)
    obs_b, info_b = env.reset(seed=11)
    assert np.array_equal(obs_a["view"], obs_b["view"]) and np.array_equal(obs_a["vitals"], obs_b["vitals"])
    assert info_a == info_b


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_different_seeds_different_maps(world_id: str) -> None:
    env = make(world_id)
    maps = []
    for seed in range(4):
        env.reset(seed=seed)
        maps.append(terrain(env))
    assert all(not np.array_equal(maps[i], maps[j]) for i in range(4) for j in range(i + 1, 4))


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_reset_without_seed_keeps_the_world_and_its_clock(world_id: str) -> None:
    env = make(world_id)
    env.reset(seed=3)
    world = terrain(env)
    last_step = 0
    for round_ in range(5):
        for action in random_actions(15, round_):
            _, _, terminated, _, info = env.step(action)
            assert info["world_step"] == last_step + 1
            last_step = info["world_step"]
            if terminated:
                break
        state_before = env.unwrapped.engine.state.copy()
        _, info = env.reset()
        assert info["world_step"] >= last_step, "the clock never goes back"
        if state_before.alive[0, 0]:
            assert info["world_step"] == last_step, "a living body just carries on"
            assert env.unwrapped.engine.state.equals(state_before), "a reset is never a free heal"
        last_step = info["world_step"]
        assert np.array_equal(terrain(env), world), "reset() without a seed never regenerates"


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_regenerate_option_changes_the_map_and_keeps_the_clock(world_id: str) -> None:
    env = make(world_id)
    env.reset(seed=3)
    for action in random_actions(10, 0):
        env.step(action)
    env.unwrapped.engine.state.vitals[0, 0] = [7.0, 7.0, 7.0, 7.0]  # make sure it is alive and stays so
    before = terrain(env)
    obs, info = env.reset(options={"regenerate": True})
    assert info["world_step"] == 10
    assert not np.array_equal(terrain(env), before)
    assert info["alive"]
    assert env.observation_space.contains(obs)
    # The living body keeps its vitals through a regeneration (only its place changes).
    assert env.unwrapped.engine.state.vitals[0, 0].tolist() == [7.0, 7.0, 7.0, 7.0]


def test_regenerate_after_a_death_respawns_and_says_so() -> None:
    """BUG: env.py `reset` with `options={"regenerate": True}` respawns a dead body (after the delay)
    but, unlike a plain `reset()`, does not put "respawn" in `info["events"]`."""
    env = make("Meadow-v0")
    env.reset(seed=3)
    kill(env)
    assert env.step(int(Action.NOOP))[2]
    before = terrain(env)
    _, info = env.reset(options={"regenerate": True})
    assert info["alive"] and info["world_step"] == 1 + respawn_delay(env)
    assert not np.array_equal(terrain(env), before)
    assert "respawn" in info["events"]


# ================================================================== death
@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_death_with_terminate(world_id: str) -> None:
    env = make(world_id)
    env.reset(seed=5)
    for action in random_actions(7, 0):
        env.step(action)
    kill(env)
    obs, reward, terminated, truncated, info = env.step(int(Action.NOOP))
    assert terminated and not truncated
    assert "death" in info["events"] and info["alive"] is False
    assert reward == 0.0
    assert obs["vitals"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert env.observation_space.contains(obs)
    died_at = info["world_step"]
    assert died_at == 8
    with pytest.raises(RuntimeError, match="reset"):
        env.step(int(Action.NOOP))
    world = terrain(env)
    obs, info = env.reset()
    assert info["world_step"] - died_at == respawn_delay(env)
    assert info["alive"] and "respawn" in info["events"]
    assert np.array_equal(terrain(env), world), "the body comes back in the same world"
    start = env.unwrapped.world_spec.body
    assert obs["vitals"].tolist() == pytest.approx([start.health.start / start.health.max,
                                                    start.food.start / start.food.max,
                                                    start.water.start / start.water.max,
                                                    start.energy.start / start.energy.max])
    _, _, terminated, _, info = env.step(int(Action.NOOP))
    assert not terminated and info["world_step"] == died_at + respawn_delay(env) + 1
    assert env.unwrapped.engine.state.deaths[0, 0] == 1


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_death_with_respawn(world_id: str) -> None:
    env = make(world_id, on_death="respawn")
    env.reset(seed=5)
    delay = respawn_delay(env)
    assert delay >= 1, "this test assumes the body stays away at least one step"
    kill(env)
    obs, reward, terminated, _, info = env.step(int(Action.NOOP))
    assert not terminated and "death" in info["events"] and reward == 0.0
    died_at = info["world_step"]
    for action in random_actions(delay - 1, 0):  # the steps spent dead: actions are ignored
        obs, reward, terminated, truncated, info = env.step(action)
        assert not terminated and not truncated
        assert reward == 0.0 and info["alive"] is False
        assert obs["vitals"].tolist() == [0.0, 0.0, 0.0, 0.0]
        assert "respawn" not in info["events"]
    obs, reward, terminated, _, info = env.step(int(Action.NOOP))
    assert info["world_step"] == died_at + delay
    assert "respawn" in info["events"] and info["alive"] is True
    if env.unwrapped.world_spec.reward == "alive":
        assert reward == 1.0
    assert obs["vitals"][Vital.HEALTH] > 0
    assert env.observation_space.contains(obs)


def test_respawn_mode_never_terminates() -> None:
    env = make("Meadow-v0", on_death="respawn")
    env.reset(seed=0)
    deaths = 0
    for step in range(300):
        if step % 60 == 0:
            kill(env)
        _, _, terminated, truncated, info = env.step(int(Action.NOOP))
        assert not terminated and not truncated
        deaths += "death" in info["events"]
    assert deaths >= 2


# ================================================================== long runs
@pytest.mark.parametrize("world", WORLDS)
def test_long_random_run(world: str | WorldSpec) -> None:
    env = make(world)
    obs, info = env.reset(seed=1)
    last_step = info["world_step"]
    terminations = 0
    for action in random_actions(2000, 1):
        obs, reward, terminated, truncated, info = env.step(action)
        assert truncated is False, "the world never truncates"
        assert isinstance(reward, float) and isinstance(terminated, bool)
        assert info["world_step"] == last_step + 1
        assert env.observation_space.contains(obs)
        assert set(info["events"]) <= {"death", "respawn", "damage:predator", "damage:starvation"} | {
            f"{verb}:{name}" for verb in ("eat", "drink") for name in env.unwrapped.world_spec.resources}
        last_step = info["world_step"]
        if terminated:
            terminations += 1
            obs, info = env.reset()
            assert info["world_step"] == last_step + respawn_delay(env)
            last_step = info["world_step"]


def trajectory(world: str | WorldSpec, seed: int, steps: int) -> list[Any]:
    env = make(world)
    out: list[Any] = [env.reset(seed=seed)]
    for action in random_actions(steps, seed):
        result = env.step(action)
        out.append(result)
        if result[2]:
            out.append(env.reset())
    out.append(env.unwrapped.get_state())
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return isinstance(b, tuple | list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("world", WORLDS)
def test_same_seed_and_actions_give_identical_trajectories(world: str | WorldSpec) -> None:
    first, second = trajectory(world, 7, 1000), trajectory(world, 7, 1000)
    assert same(first, second)
    assert not same(first, trajectory(world, 8, 1000))


def test_the_compressed_schedule_really_shifts() -> None:
    spec = compressed("Shiftlands-v0")
    assert spec.shifts and max(max(s.at, s.end, s.start) for s in spec.shifts) < 1000


# ================================================================== rewards
def rewards_run(reward: str, steps: int = 300) -> list[tuple[float, dict, dict, dict]]:
    env = make("Meadow-v0", overrides={"reward": reward})
    env.reset(seed=2)
    out = []
    for i, action in enumerate(random_actions(steps, 2)):
        if i == steps // 2:
            kill(env)
        before = env.unwrapped.engine.state.vitals[0, 0] / env.unwrapped.engine.params().vital_max[0, 0]
        new_obs, reward, terminated, _, info = env.step(action)
        out.append((reward, {"vitals": before}, new_obs, info))
        if terminated:
            env.reset()
    return out


def test_reward_alive() -> None:
    for reward, _, _, info in rewards_run("alive"):
        assert reward == (1.0 if info["alive"] else 0.0)


def test_reward_none() -> None:
    assert all(reward == 0.0 for reward, _, _, _ in rewards_run("none"))


def test_reward_homeostatic_is_the_drop_in_drive() -> None:
    run = rewards_run("homeostatic")
    assert any(r != 0.0 for r, _, _, _ in run)
    for reward, before, obs, info in run:
        if not info["alive"]:
            assert reward == 0.0
            continue
        expected = float(np.sqrt(((1 - before["vitals"]) ** 2).sum()) - np.sqrt(((1 - obs["vitals"]) ** 2).sum()))
        assert reward == pytest.approx(expected, abs=1e-5)
        assert reward == pytest.approx(float(drive(before["vitals"]) - drive(obs["vitals"].astype(np.float64))),
                                       abs=1e-6)


def test_homeostatic_reward_is_positive_for_eating_when_hungry() -> None:
    text = """
name: Snack
map: {size: [7, 7], water: 0.0, rock: 0.0, sand: 0.0, forest: 0.0}
reward: homeostatic
resources:
  berry: {grows_on: [grass], density: 0.0, regrow: 1.0, effects: {food: 3.0}}
observation: {view: 5}
"""
    env = OpenWorldEnv(load_spec_text(text))
    env.reset(seed=0)
    engine = env.engine
    r, width = engine.radius, engine.padded_shape[1]
    engine.state.body_cell[0, 0] = (r + 3) * width + r + 3
    engine.state.body_dir[0, 0] = 1  # east
    engine.state.resource[0, r + 3, r + 4] = 1
    engine.state.vitals[0, 0, Vital.FOOD] = 2.0
    _, reward, _, _, info = env.step(int(Action.INTERACT))
    assert info["events"] == ["eat:berry"]
    assert reward > 0
    _, reward, _, _, _ = env.step(int(Action.NOOP))
    assert reward < 0, "decay raises the drive"


# ================================================================== state
@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_get_state_set_state_round_trip(world_id: str) -> None:
    env = make(world_id, on_death="respawn")
    env.reset(seed=4)
    for action in random_actions(30, 0):
        env.step(action)
    saved = env.unwrapped.get_state()
    after_a = [env.step(a) for a in random_actions(200, 1)]
    other = make(world_id, on_death="respawn")
    other.reset(seed=99)
    other.unwrapped.set_state(saved)
    after_b = [other.step(a) for a in random_actions(200, 1)]
    assert same(after_a, after_b)
    assert env.unwrapped.get_state() == other.unwrapped.get_state()


# ================================================================== shifted maxima stay in the space
LOW_MAX = """
name: LowMax
map: {size: [7, 7], water: 0.0, rock: 0.0, sand: 0.0, forest: 0.0}
body:
  food: {max: 10, start: 8, decay: 0.0}
  respawn_delay: 2
observation: {view: 5}
shifts:
  - {name: small, kind: abrupt, at: 0, set: {body.food.max: 5}}
"""


def test_observation_in_space_at_reset_when_a_shift_lowers_a_maximum_below_the_start() -> None:
    """BUG: engine.py `_spawn_bodies` gives a (re)spawned body the spec's `start` values even when a
    shift has lowered that vital's `max` below them, so `obs["vitals"]` exceeds 1 (here 8/5 = 1.6)
    until the next `_metabolise` clips it."""
    env = OpenWorldEnv(load_spec_text(LOW_MAX))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs), obs["vitals"]


@pytest.mark.parametrize("on_death", ["respawn", "terminate"])
def test_observation_in_space_at_respawn_when_a_shift_lowers_a_maximum_below_the_start(on_death: str) -> None:
    """BUG: as above, for a body respawned after the shift (inside `step`, or by `reset()`)."""
    env = OpenWorldEnv(load_spec_text(LOW_MAX), on_death=on_death)  # type: ignore[arg-type]
    env.reset(seed=0)
    env.step(int(Action.NOOP))  # metabolise clips food to the new max
    kill(env)
    _, _, terminated, _, _ = env.step(int(Action.NOOP))
    if terminated:
        obs, info = env.reset()
        assert env.observation_space.contains(obs), (info, obs["vitals"])
        return
    for _ in range(3):
        obs, _, _, _, info = env.step(int(Action.NOOP))
        assert env.observation_space.contains(obs), (info, obs["vitals"])
