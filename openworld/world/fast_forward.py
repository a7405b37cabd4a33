"""Dead time runs fast: advancing worlds whose bodies are all dead, e.g. while a body waits to respawn.

Such a world changes only through its predators (which wander: nobody is in sight), its clock and its
map events, since regrowth is lazy and parameters follow the clock. :func:`advance_bodiless` runs just
those parts, moving predators with the same function as a full step
(:func:`~openworld.world.hazards.move_predators`), so the result equals stepping the world idle.
Worlds with custom rules never come here: their rules may act on an empty world, so the engine runs
their full steps instead.

:func:`run_without_bodies` uses it to bring worlds to a late clock cheaply (held-out evaluation).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from openworld.world.grid import GridLayout
from openworld.world.hazards import move_predators
from openworld.world.maps import MapWriter
from openworld.world.params import ParameterTable
from openworld.world.shifts import ShiftSchedule
from openworld.world.state import WorldState

if TYPE_CHECKING:
    from openworld.world.engine import Engine

# How many uniforms the fast-forward draws at once (4 MiB of float64; at most two blocks are alive, as the
# last step's row keeps its block until the next is drawn): its memory stays bounded however long the
# wait. A world file may set ``respawn_delay`` to 100,000 steps: drawn at once for 16 worlds of 256
# predators, that wait took 6.5 GB.
DRAW_BLOCK_SIZE = 1 << 19


def advance_bodiless(s: WorldState, worlds: np.ndarray, steps: int, schedule: ShiftSchedule,
                     table: ParameterTable, grid: GridLayout, maps: MapWriter) -> None:
    """Advance these worlds (all of whose bodies are dead) by ``steps`` steps.

    Args:
        s: the whole state; only the rows of ``worlds`` change.
        worlds: world numbers.
        steps: how many steps.
        schedule: the spec's shift schedule.
        table: builds the parameters in force at any clocks.
        grid: the grids' layout.
        maps: carries out the map events that fall inside the stretch.
    """
    rng = s.rngs["hazards"]
    base = grid.world_base(s.clock.shape[0])[worlds]
    pred = s.pred_cell[worlds]
    clock = s.clock[worlds].copy()
    # Map events inside the fast-forward split it into stretches with an unchanging map.
    events = sorted((int(t - 1 - c), int(w), event) for w, c in zip(worlds, clock, strict=True)
                    for t, event in schedule.map_events_between(int(c), int(c) + steps)) \
        if schedule.has_map_events else []
    # The parameters hold for clocks below valid_until; they are rebuilt only at a breakpoint, and
    # only if one falls inside the fast-forward.
    earliest, latest = int(clock.min()), int(clock.max())
    valid_until = schedule.constant_until(earliest)
    shifting = latest + steps >= valid_until
    params = table.build(schedule.values(clock))
    # The same stream as one (2, B, P) draw per step of a full step's hazards; drawn for every step once
    # predators may move at all, used or not, so the generator ends where full steps would leave it.
    draws = step_draws(rng, steps, pred.shape, DRAW_BLOCK_SIZE) if params.any_predators or shifting else None
    for k in range(steps):
        if shifting and k and latest + k >= valid_until:
            params = table.build(schedule.values(clock + k))
            valid_until = schedule.constant_until(earliest + k)
        step_draw = next(draws) if draws is not None else None
        if params.any_predators and step_draw is not None:
            pred = move_predators(s, grid, pred, base, step_draw, params)
        while events and events[0][0] == k:  # events firing as this step ends
            _, w, event = events.pop(0)
            s.pred_cell[worlds] = pred
            at = int(s.clock[w]) + k + 1
            maps.apply_event(s, w, event, schedule.values(np.array([at]))[0])
    s.pred_cell[worlds] = pred
    s.clock[worlds] += steps


def step_draws(rng: np.random.Generator, steps: int, shape: tuple[int, ...],
               block_size: int = DRAW_BLOCK_SIZE) -> Iterator[np.ndarray]:
    """The ``(2,) + shape`` uniforms of each of ``steps`` steps, drawn a block of steps at a time.

    Consumes the stream exactly as one ``rng.random((steps, 2) + shape)`` would (float64 uniforms are
    drawn one after another, so blocks of steps give the same numbers in the same order), while holding
    at most about ``block_size`` numbers (at least one step's) at a time.

    Args:
        rng: the generator to draw from.
        steps: how many steps' draws.
        shape: each step's ``(B, P)``.
        block_size: how many numbers to draw at once.
    """
    per_step = 2 * int(np.prod(shape))
    block_steps = max(1, block_size // max(1, per_step))
    for start in range(0, steps, block_steps):
        yield from rng.random((min(block_steps, steps - start), 2) + shape)


def run_without_bodies(engine: Engine, clock: int) -> None:
    """Take every body out of the engine's worlds and let them run on their own until ``clock``, where the
    bodies come back, freshly spawned (start vitals, random cells).

    How held-out evaluation reaches a late shift cheaply: the world lives its clock (predators, map
    events, parameters, custom rules) with nobody eating, so at ``clock`` its resources are as regrowth
    left them, untouched by any body. Without custom rules this is the fast path above (a fraction of a
    second for 20,000 steps of 16 worlds); with them every step runs in full (Drought-v0: about 3,000
    steps a second).

    Raises:
        ValueError: if the worlds' clocks differ or ``clock`` is behind them.
    """
    s = engine.state
    if int(s.clock.min()) != int(s.clock.max()) or clock < int(s.clock[0]):
        raise ValueError(f"run_without_bodies needs the worlds at one clock not after {clock}, "
                         f"got clocks {sorted(set(s.clock.tolist()))}")
    s.alive[:] = False
    s.vitals[:] = 0.0
    s.respawn_at[:] = clock
    engine.advance_worlds(np.arange(engine.num_worlds), clock - int(s.clock[0]))
    engine.respawn_when_ready(np.ones_like(s.alive))
