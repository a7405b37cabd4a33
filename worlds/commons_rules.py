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

How, given lazy regrowth (exactly, by thinning): when a cell is eaten the engine draws the step at
which it regrows (``ready_at``) from the geometric distribution with probability ``regrow``, i.e. the
first success of a per-step coin. The rule treats that step as a *candidate*: each step it looks only
at the cells whose candidate is the next step and accepts each with probability
``floor + (1 - floor) * stock ** exponent`` (the stock now); a rejected cell draws a fresh candidate
from the same geometric distribution. A cell thus regrows at each step with probability ``regrow``
times the factor in force at that step, and the per-step work is one comparison over the grid, plus a
count of the stock on the (few) steps that have candidates. Draws come from the rule's own generator
(``state.rngs["stock-regrowth-v0"]``), so runs stay deterministic and saveable. (A shift of ``regrow``
acts on candidates drawn after it, as everywhere else in the engine. The rule also runs while the
engine fast-forwards worlds whose bodies are all dead, so candidates there are thinned as always.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from openworld.world.regrowth import NEVER_READY, geometric_delay
from openworld.world.rules import register_rule

if TYPE_CHECKING:
    from openworld.world.engine import Engine
    from openworld.world.state import WorldState

RULE_ID = "stock-regrowth-v0"


def stock_fraction(engine: Engine, state: WorldState) -> np.ndarray:
    """``(B, R)``: fraction of each resource kind's cells that are available now (1 where a kind has
    no cells). Used by the rule, and handy for measuring a Commons world."""
    return _stock(engine, state)[:, 1:]


def _stock(engine: Engine, state: WorldState) -> np.ndarray:
    """Stock per (world, resource code) ``(B, R + 1)``; code 0 ("no resource") included for indexing."""
    B, kinds = state.clock.shape[0], engine.num_resources + 1
    code = state.resource.reshape(B, -1).astype(np.int64) + np.arange(B)[:, None] * kinds
    depleted = state.ready_at.reshape(B, -1) > state.clock[:, None]
    total = np.bincount(code.reshape(-1), minlength=B * kinds)
    waiting = np.bincount(code[depleted], minlength=B * kinds)
    return (1.0 - waiting / np.maximum(total, 1)).reshape(B, kinds)


def stock_regrowth(engine: Engine, state: WorldState, params: Mapping[str, np.ndarray]) -> None:
    """Accept or postpone the regrowth candidates of the next step by the stock now (see module)."""
    ready_at, resource = state.ready_at.reshape(-1), state.resource.reshape(-1)
    due = np.flatnonzero(state.ready_at == (state.clock + 1)[:, None, None])
    if due.size == 0:
        return
    due = due[resource[due] > 0]
    world, kind = due // engine.grid.cells_per_world, resource[due].astype(np.int64)
    floor, exponent = params["floor"][world, 0], params["exponent"][world, 0]
    accept = floor + (1.0 - floor) * _stock(engine, state)[world, kind] ** exponent
    rng = state.rngs[RULE_ID]
    postponed = rng.random(due.size) >= accept
    if postponed.any():
        world, kind, cells = world[postponed], kind[postponed], due[postponed]
        delay = geometric_delay(engine.params().regrow[world, kind], rng.random(cells.size))
        ready_at[cells] = np.minimum(state.clock[world] + 1 + delay, NEVER_READY)


register_rule(
    RULE_ID, stock_regrowth, {"floor": 0.01, "exponent": 1.0},
    summary="depleted cells regrow with probability regrow * (floor + (1 - floor) * stock**exponent), "
            "stock = fraction of the kind's cells available now (per world)",
)
