"""The adapter core behind the four env views: one seed -> world mapping, one events format and its
projections, and the population env's variant, render and regenerate (which it gets through the core)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import openworld
from openworld.envs.core import EngineCore
from openworld.envs.events import event_arrays, event_names, no_events
from openworld.envs.population import BodiesAsEnvs
from openworld.registry import world_entry

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
