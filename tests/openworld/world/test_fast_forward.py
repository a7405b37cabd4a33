"""Tests of openworld.world.fast_forward.run_without_bodies: worlds brought to a late clock without bodies
(held-out evaluation), with and without custom rules. The fast path itself is checked against full idle
steps in test_engine_rules.py."""

from __future__ import annotations

import numpy as np
import pytest

from openworld.variants import world_variants
from openworld.world.engine import Engine
from openworld.world.fast_forward import run_without_bodies


@pytest.mark.parametrize("world", ["Blight-v0", "Drought-v0"])  # without and with custom rules
def test_run_without_bodies_brings_fresh_bodies_at_the_clock(world: str) -> None:
    spec = world_variants(world)["quick"].world_spec()
    engine = Engine(spec, num_worlds=2, auto_respawn=True)
    engine.reset([0, 1], rng_seed=0)
    start_vitals = engine.state.vitals.copy()
    engine.step(np.zeros((2, 1), np.int64))
    run_without_bodies(engine, 1800)  # past the quick variant's shift
    assert engine.state.clock.tolist() == [1800, 1800]
    assert engine.state.alive.all()
    assert engine.params().theta is not None
    np.testing.assert_array_equal(engine.state.vitals, np.minimum(start_vitals, engine.params().vital_max))
    with pytest.raises(ValueError, match="not after 100"):
        run_without_bodies(engine, 100)
