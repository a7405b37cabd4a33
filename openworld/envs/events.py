"""Events: what happened to each body, in one format and its two projections.

The one format is the engine's :class:`~openworld.world.engine.StepOutcome`: named ``(B, N)`` arrays
(``died``, ``respawned``, ``consumed``, ``damage``, ``predator_damage``). The envs put it in
``info["events"]`` in the shape of their API:

* :func:`event_names`: one body's events as a list of names (the single and PettingZoo envs):
  ``eat:<resource>`` / ``drink:<resource>``, ``damage:predator``, ``damage:starvation``,
  ``damage:<rule id>`` and ``<rule id>.<event>`` for what a world's custom rules reported, ``death``,
  ``respawn``, in that order (so a death a rule caused shows its cause);
* :func:`event_arrays`: a dict of arrays over all bodies, flattened world by world (the vector and
  population envs): ``death``, ``respawn`` (bool), ``consumed`` (int64 resource index, -1 for none) and
  ``damage`` (float64 health lost to predators and starvation).
"""

from __future__ import annotations

import numpy as np

from openworld.world.engine import StepOutcome
from openworld.world.spec import WorldSpec


def no_events(num_worlds: int, bodies: int) -> StepOutcome:
    """Nothing happened to any body (e.g. a reset that makes new worlds)."""
    shape = (num_worlds, bodies)
    return StepOutcome(died=np.zeros(shape, bool), respawned=np.zeros(shape, bool),
                       consumed=np.full(shape, -1, np.int64), damage=np.zeros(shape),
                       predator_damage=np.zeros(shape))


def consume_event_names(spec: WorldSpec) -> list[str]:
    """``drink:<resource>`` for resources that mostly quench thirst, ``eat:<resource>`` otherwise."""
    return [f"{'drink' if r.effects.water > r.effects.food else 'eat'}:{name}"
            for name, r in spec.resources.items()]


def event_names(events: StepOutcome, consume_names: list[str], world: int, body: int) -> list[str]:
    """One body's events as names (``consume_names`` from :func:`consume_event_names`)."""
    names = []
    if events.consumed[world, body] >= 0:
        names.append(consume_names[events.consumed[world, body]])
    if events.predator_damage[world, body] > 0:
        names.append("damage:predator")
    if events.damage[world, body] > events.predator_damage[world, body]:
        names.append("damage:starvation")
    for cause, dealt in events.damage_by_cause.items():
        if cause not in ("starvation", "predator") and dealt[world, body] > 0:
            names.append(f"damage:{cause}")
    names.extend(name for name, raised in events.events.items() if raised[world, body])
    if events.died[world, body]:
        names.append("death")
    if events.respawned[world, body]:
        names.append("respawn")
    return names


def event_arrays(events: StepOutcome) -> dict[str, np.ndarray]:
    """Every body's events as a dict of flat arrays, bodies flattened world by world."""
    return {"death": events.died.reshape(-1).copy(), "respawn": events.respawned.reshape(-1).copy(),
            "consumed": events.consumed.reshape(-1).copy(), "damage": events.damage.reshape(-1).copy()}
