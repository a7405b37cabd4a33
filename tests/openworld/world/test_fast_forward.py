"""Tests of openworld.world.fast_forward: worlds brought to a late clock without bodies (held-out
evaluation), with and without custom rules, and the fast path's draws in bounded memory. The fast path
itself is checked against full idle steps in test_engine_rules.py."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from openworld.variants import world_variants
from openworld.world import fast_forward
from openworld.world.engine import Engine
from openworld.world.fast_forward import run_without_bodies, step_draws


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


@pytest.mark.parametrize(("steps", "shape", "block_size"), [
    (7, (2, 3), 1), (7, (2, 3), 12), (7, (2, 3), 13), (7, (2, 3), 10**6), (5, (1, 0), 4), (0, (1, 2), 4)])
def test_step_draws_in_blocks_are_the_numbers_of_one_draw(steps: int, shape: tuple, block_size: int) -> None:
    blocked, whole = np.random.default_rng(1), np.random.default_rng(1)
    draws = list(step_draws(blocked, steps, shape, block_size))
    expected = whole.random((steps, 2) + shape)
    assert len(draws) == steps
    assert all(np.array_equal(draw, row) for draw, row in zip(draws, expected, strict=True))
    assert blocked.random() == whole.random()  # the generator ends where one draw leaves it


def dead_worlds(world: str, variant: str, num_worlds: int) -> Engine:
    engine = Engine(world_variants(world)[variant].world_spec(), num_worlds=num_worlds)
    engine.reset(seeds=[3 + w for w in range(num_worlds)], rng_seed=3)
    engine.state.alive[:] = False
    engine.state.respawn_at[:] = 10**6
    return engine


def test_a_long_wait_in_blocks_leaves_the_world_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """Predators-v0 quick (the pack arrives and learns to hunt inside the wait), drawn 8 numbers per
    block, ends as the one-draw fast-forward left it (golden recorded before draws were blocked)."""
    monkeypatch.setattr(fast_forward, "DRAW_BLOCK_SIZE", 64)
    engine = dead_worlds("Predators-v0", "quick", num_worlds=2)
    engine.advance_worlds(np.array([0, 1]), 3000)
    assert engine.state.pred_cell.tolist() == [[205, 671, 983, 831], [921, 861, 282, 444]]
    assert engine.state.rngs["hazards"].integers(1 << 30) == 545329113


def test_a_long_wait_holds_a_bounded_number_of_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wait's draws are held a block at a time, not all at once (once, 2,000 steps of 16 worlds of 4
    predators held 2 MB; a 100,000-step respawn_delay with 256 predators, 6.5 GB)."""
    monkeypatch.setattr(fast_forward, "DRAW_BLOCK_SIZE", 1 << 12)  # 32 KiB
    engine = dead_worlds("Predators-v0", "quick", num_worlds=16)
    tracemalloc.start()
    try:
        engine.advance_worlds(np.arange(16), 2000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 * 1024, f"peak {peak} bytes"
