"""The adapter core behind the four env views: one seed -> world mapping, one events format and its
projections, and the population env's variant, render and regenerate (which it gets through the core)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import openworld
from openworld.enums import RESOURCE_CAPACITY, VIEW_CODES, ResourceKind, ViewChannel
from openworld.envs.core import EngineCore, observation_space
from openworld.envs.events import event_arrays, event_names, no_events
from openworld.envs.population import BodiesAsEnvs
from openworld.registry import load_world_spec, world_entry

HARSH = {"body.food.decay": 0.2, "body.starvation_damage": 1.0, "body.respawn_delay": 5}


def test_every_view_makes_world_b_from_seed_plus_b() -> None:
    single = gym.make("openworld/Meadow-v0").unwrapped
    single.reset(seed=7)
    vector = gym.make_vec("openworld/Meadow-v0", num_envs=3, vectorization_mode="vector_entry_point")
    vector.reset(seed=6)
    population = BodiesAsEnvs(3, 2, world="Meadow-v0")
    population.reset(seed=6)
    parallel = openworld.make_parallel("Meadow-v0", num_agents=2)
    parallel.reset(seed=7)
    terrain = single.engine.state.terrain[0]
    for view in (vector.unwrapped, population, parallel):
        assert np.array_equal(view.engine.state.terrain[1 if view is not parallel else 0], terrain)


def test_the_views_project_one_events_format() -> None:
    """The single env's event names and the vector env's arrays come from the same (B, N) arrays."""
    single = gym.make("openworld/Meadow-v0", overrides=HARSH).unwrapped
    vector = gym.make_vec("openworld/Meadow-v0", num_envs=1, vectorization_mode="vector_entry_point",
                          overrides=HARSH)
    single.reset(seed=3)
    vector.reset(seed=3)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(60):
        action = int(rng.integers(7))
        _, _, terminated, _, info = single.step(action)
        _, _, _, _, batch = vector.step(np.array([action]))
        names = info["events"]
        seen.update(names)
        assert ("death" in names) == bool(batch["events"]["death"][0])
        assert any(n.startswith(("eat:", "drink:")) for n in names) == (batch["events"]["consumed"][0] >= 0)
        if terminated:
            break
    assert "death" in seen


def test_projections_of_no_events() -> None:
    events = no_events(2, 3)
    assert event_names(events, ["eat:berry"], 1, 2) == []
    arrays = event_arrays(events)
    assert {k: v.shape for k, v in arrays.items()} == dict.fromkeys(("death", "respawn", "consumed", "damage"), (6,))
    assert (arrays["consumed"] == -1).all() and arrays["consumed"].dtype == np.int64


def test_core_reset_policy() -> None:
    core = EngineCore("Meadow-v0", num_worlds=2, bodies=1, auto_respawn=False, respawn_on_reset=True)
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['typo'\]; valid: \['regenerate'\]"):
        core.reset(seed=0, options={"typo": 1})
    with pytest.raises(ValueError, match="expected 2 seeds"):
        core.reset(seed=[1, 2, 3])
    core.reset(seed=[4, 9])
    terrain = core.engine.state.terrain.copy()
    assert not core.reset().respawned.any() and np.array_equal(core.engine.state.terrain, terrain)
    core.reset(options={"regenerate": True})
    assert not np.array_equal(core.engine.state.terrain, terrain)
    with pytest.warns(UserWarning, match="ignoring unknown reset option"):
        core.reset(options={"typo": 1}, unknown_options="warn")


def test_population_takes_a_variant_render_and_regenerate() -> None:
    envs = BodiesAsEnvs(2, 2, world="Commons-v0", variant="heldout_crowded", render_mode="ansi")
    assert envs.variant == "heldout_crowded" and envs.world_spec != BodiesAsEnvs(2, 2, world="Commons-v0").world_spec
    envs.reset(seed=0)
    for _ in range(3):
        envs.step(np.zeros(4, dtype=np.int64))
    assert isinstance(envs.render(), str)
    terrain = envs.engine.state.terrain.copy()
    obs, info = envs.reset(options={"regenerate": True})
    assert not np.array_equal(envs.engine.state.terrain, terrain)
    assert info["world_step"].tolist() == [3, 3, 3, 3], "a regenerate keeps the clock"
    with pytest.raises(ValueError, match="unknown reset option"):
        envs.reset(options={"typo": 1})
    frame = BodiesAsEnvs(1, 2, world="Commons-v0", render_mode="rgb_array")
    frame.reset(seed=1)
    assert frame.render().dtype == np.uint8


def test_the_registry_records_each_world_kind() -> None:
    assert world_entry("Meadow-v0").kind == "engine" and world_entry("meadow").engine_world
    stream = world_entry("openworld/MiniGridStream-v0")
    assert stream.kind == "own-env" and not stream.engine_world
    assert stream.entry_point.endswith(":MiniGridStreamEnv")


# ================================================================== one observation vocabulary
MEADOW_SPACE = observation_space(load_world_spec("Meadow-v0"))


def test_the_view_space_is_the_shared_code_space() -> None:
    view = MEADOW_SPACE["view"]
    assert isinstance(view, gym.spaces.Box) and view.dtype == np.uint8 and view.shape == (7, 7, 3)
    assert (view.high == np.array(VIEW_CODES) - 1).all() and (view.high == [15, 64, 15]).all()
    assert (view.low == 0).all()


@pytest.mark.parametrize("world_id", openworld.world_ids())  # the engine worlds
def test_every_engine_world_has_the_same_observation_space_in_every_view(world_id: str) -> None:
    single = gym.make(f"openworld/{world_id}")
    vector = gym.make_vec(f"openworld/{world_id}", num_envs=2, vectorization_mode="vector_entry_point")
    parallel = openworld.make_parallel(world_id, num_agents=2)
    population = BodiesAsEnvs(1, 2, world=world_id)
    assert single.observation_space == MEADOW_SPACE
    assert vector.single_observation_space == MEADOW_SPACE
    assert population.single_observation_space == MEADOW_SPACE
    assert all(parallel.observation_space(agent) == MEADOW_SPACE for agent in parallel.possible_agents)


def shown_code(world_id: str, kind: str, regrowing: bool = False) -> int:
    """The resource code a body sees for one ``kind`` of this world planted on the cell east of it."""
    env = gym.make(f"openworld/{world_id}").unwrapped
    env.reset(seed=0)
    state = env.engine.state
    east = int(state.body_cell[0, 0]) + 1
    state.resource.reshape(-1)[east] = 1 + env.world_spec.resource_names.index(kind)  # the engine's own index
    state.ready_at.reshape(-1)[east] = state.clock[0] + (1000 if regrowing else 0)
    view, _ = env.engine.observe()
    r = view.shape[2] // 2
    return int(view[0, 0, r, r + 1, ViewChannel.RESOURCE])


def test_a_kind_has_the_catalogue_code_in_every_world_wherever_the_file_lists_it() -> None:
    assert shown_code("Meadow-v0", "berry") == shown_code("Drought-v0", "berry") == ResourceKind.BERRY == 1
    assert shown_code("Drought-v0", "spring") == ResourceKind.SPRING == 4  # listed 4th in drought.yaml
    assert shown_code("Commons-v0", "apple") == ResourceKind.APPLE == 5  # listed 1st in commons.yaml
    assert shown_code("Commons-v0", "water") == shown_code("Meadow-v0", "water") == ResourceKind.WATER == 3
    assert shown_code("Commons-v0", "apple", regrowing=True) == 5 + RESOURCE_CAPACITY == 37
    assert shown_code("Drought-v0", "spring", regrowing=True) == 4 + RESOURCE_CAPACITY == 36


def test_a_lifetime_in_commons_shows_only_its_kinds_codes() -> None:
    envs = gym.make_vec("openworld/Commons-v0", num_envs=4, vectorization_mode="vector_entry_point")
    obs, _ = envs.reset(seed=0)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        seen |= set(np.unique(obs["view"][..., ViewChannel.RESOURCE]).tolist())
        obs, *_ = envs.step(rng.integers(0, 7, 4))
    apple, water = int(ResourceKind.APPLE), int(ResourceKind.WATER)
    assert {apple, water} <= seen <= {0, apple, water, apple + RESOURCE_CAPACITY, water + RESOURCE_CAPACITY}
