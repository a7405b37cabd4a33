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
    # All the draws at once: the same stream as one (2, B, P) draw per step of a full step's hazards.
    draws = rng.random((steps, 2) + pred.shape) if params.any_predators or shifting else None
    for k in range(steps):
        if shifting and k and latest + k >= valid_until:
            params = table.build(schedule.values(clock + k))
            valid_until = schedule.constant_until(earliest + k)
        if params.any_predators and draws is not None:
            pred = move_predators(s, grid, pred, base, draws[k], params)
        while events and events[0][0] == k:  # events firing as this step ends
            _, w, event = events.pop(0)
            s.pred_cell[worlds] = pred
            at = int(s.clock[w]) + k + 1
            maps.apply_event(s, w, event, schedule.values(np.array([at]))[0])
    s.pred_cell[worlds] = pred
    s.clock[worlds] += steps


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
