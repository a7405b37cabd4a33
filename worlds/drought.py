"""The Drought rule: standing water evaporates (``evaporation-v0``).

Data can lower how fast a lake refills (``resources.water.regrow``), but a lake that nobody drinks
from stays full forever, because only a consumed cell waits to regrow. Drying needs the reverse of
regrowth: each step, every *available* resource on a lake cell (terrain ``water``) evaporates with
probability ``rate`` and then refills like a consumed one, after a geometric wait with its kind's
``regrow`` in force. With evaporation ``e`` and refill ``r`` a lake cell holds water a fraction
``r / (r + e)`` of the time. Resources on land (the Drought's springs) never evaporate.

``rate`` is an ordinary tunable number, ``rules.evaporation-v0.rate``: the Drought ramps it up with a
gradual shift.

Cost: rather than a pass over every cell, each step draws ``k = ceil(max rate * cells)`` random cells
per world and dries a sampled lake cell with probability ``rate * cells / k``: the same per-cell rate
in expectation, at ``O(B * k)`` work (``k`` is 1 while the rate is below one cell per step). Draws come
from the rule's own generator (``state.rngs["evaporation-v0"]``), so runs stay deterministic and
saveable. Like every rule it also runs while the engine fast-forwards worlds whose bodies are all dead
(a vector env with ``on_death="terminate"``): lakes go on drying while the body waits to respawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from openworld.enums import Terrain
from openworld.world.regrowth import NEVER_READY, geometric_delay
from openworld.world.rules import register_rule

if TYPE_CHECKING:
    from openworld.world.engine import Engine
    from openworld.world.state import WorldState

RULE_ID = "evaporation-v0"


def evaporate(engine: Engine, state: WorldState, params: Mapping[str, np.ndarray]) -> None:
    """Dry a random sample of lake cells (see the module docstring)."""
    rate = params["rate"][:, 0]  # (B,)
    top = float(rate.max())
    if top <= 0.0:
        return
    grid = engine.grid
    cells = grid.height * grid.width
    k = min(cells, int(np.ceil(top * cells)))
    rng = state.rngs[RULE_ID]
    B = rate.shape[0]
    rows = rng.integers(0, grid.height, (B, k))
    cols = rng.integers(0, grid.width, (B, k))
    flat = grid.cell(rows, cols) + grid.world_base(B)
    hit = rng.random((B, k)) < (rate * cells / k)[:, None]
    resource, ready = state.resource.reshape(-1), state.ready_at.reshape(-1)
    dry = hit & (state.terrain.reshape(-1)[flat] == Terrain.WATER) & (resource[flat] > 0) & \
        (ready[flat] <= state.clock[:, None])
    if not dry.any():
        return
    world = np.nonzero(dry)[0]
    flat = flat[dry]
    kind = resource[flat].astype(np.int64)
    delay = geometric_delay(engine.params().regrow[world, kind], rng.random(flat.shape))
    ready[flat] = np.minimum(state.clock[world] + delay, NEVER_READY)


register_rule(RULE_ID, evaporate, {"rate": 0.0},
              "available resources on lake cells dry up with probability `rate` per step, then refill")
