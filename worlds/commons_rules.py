"""The Commons rule: a resource regrows faster the more of it is left (``stock-regrowth-v0``).

Each step, in each world and for each resource kind ``k``, let ``stock_k`` be the fraction of the
world's cells holding kind ``k`` that are available right now (after this step's harvest). Every
depleted cell of kind ``k`` then regrows at the next step with probability::

    regrow_k * (floor + (1 - floor) * stock_k ** exponent)

where ``regrow_k`` is the kind's ``regrow`` in force and ``floor``, ``exponent`` are this rule's
parameters (tunable and shiftable as ``rules.stock-regrowth-v0.floor`` and ``.exponent``). With
``exponent = 1`` and ``floor = 0`` the stock grows logistically: the number of cells regrowing per
step is ``regrow * cells * stock * (1 - stock)``, largest at half stock, which is the harvest a
population can take forever (the maximum sustainable yield). Harvest faster and the stock falls,
regrowth with it, until only the ``floor`` trickle is left; with ``floor = 0`` a fully harvested
resource never comes back. ``floor = 1`` (or ``exponent = 0``) switches the dependence off: plain
regrowth at ``regrow``, the control condition.

How, given lazy regrowth: the engine draws a depleted cell's regrowth time once, when it is eaten
(``ready_at``, from the geometric distribution). The rule redraws the remaining waiting time of every
depleted cell each step, ``ready_at = clock + Geometric(p)``, with the probability ``p`` now in force.
The geometric distribution is memoryless, so this is exactly a per-step coin flip with a probability
that follows the stock (not an approximation). Cost: one pass over the grid and one uniform draw per
depleted cell per step, which is why this is a rule of the Commons world and not an engine phase; the
draws come from the world's ``regrowth`` generator, so runs stay deterministic and saveable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from openworld.engine import NEVER_READY, geometric_delay
from openworld.rules import register_rule

if TYPE_CHECKING:
    from openworld.engine import Engine
    from openworld.state import WorldState

RULE_ID = "stock-regrowth-v0"


def stock_fraction(engine: Engine, state: WorldState) -> np.ndarray:
    """``(B, R)``: fraction of each resource kind's cells that are available now (1 where a kind has
    no cells). For the rule, and for measuring a Commons world."""
    stock, _, _ = _stock(engine, state)
    return stock[:, 1:]


def _stock(engine: Engine, state: WorldState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stock per (world, resource code) ``(B, R + 1)`` (code 0, "no resource", included), and the
    world and flat cell of every depleted cell."""
    B, kinds = state.clock.shape[0], engine.num_resources + 1
    code = state.resource.reshape(B, -1)
    depleted = (state.ready_at.reshape(B, -1) > state.clock[:, None]) & (code > 0)
    world, cell = np.nonzero(depleted)
    offset = np.arange(B)[:, None] * kinds
    total = np.bincount((code + offset).reshape(-1), minlength=B * kinds).reshape(B, kinds)
    waiting = np.bincount(world * kinds + code[world, cell], minlength=B * kinds).reshape(B, kinds)
    stock = 1.0 - waiting / np.maximum(total, 1)
    return stock, world, cell


def stock_regrowth(engine: Engine, state: WorldState, params: Mapping[str, np.ndarray]) -> None:
    """Redraw every depleted cell's regrowth time with the stock-dependent probability (see module)."""
    stock, world, cell = _stock(engine, state)
    if world.size == 0:
        return
    floor, exponent = params["floor"], params["exponent"]  # (B, 1) each
    factor = floor + (1.0 - floor) * stock ** exponent  # (B, R + 1)
    probability = engine.params().regrow * factor
    B = state.clock.shape[0]
    kind = state.resource.reshape(B, -1)[world, cell]
    delay = geometric_delay(probability[world, kind], state.rngs["regrowth"].random(world.size))
    state.ready_at.reshape(B, -1)[world, cell] = np.minimum(state.clock[world] + delay, NEVER_READY)


register_rule(
    RULE_ID, stock_regrowth, {"floor": 0.01, "exponent": 1.0},
    summary="depleted cells regrow with probability regrow * (floor + (1 - floor) * stock**exponent), "
            "stock = fraction of the kind's cells available now (per world)",
)
