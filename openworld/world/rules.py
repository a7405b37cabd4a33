"""Custom world rules: the small amount of Python a world needs when data cannot express a rule.

A rule is a function run once per step as the engine's ``rules`` phase (after ``hazards``, before
deaths are settled), over the whole batch of worlds, including while the engine fast-forwards worlds
whose bodies are all dead. It is registered under an id with its numeric parameters and their
defaults; a world file switches it on under ``rules:`` and may set those parameters. The parameters
are ordinary tunable numbers (``rules.<id>.<param>``): overridable and shiftable like any other.

What a rule gets, ``apply(engine, state, params)``:

* ``engine``: read its public view of the grids, ``engine.grid`` (a
  :class:`~openworld.world.grid.GridLayout`: flat cells ``row * Wp + col`` in padded coordinates, plus
  ``engine.world_base()`` to index a flattened ``(B, Hp, Wp)`` grid), and the parameters in force,
  ``engine.params()`` (e.g. ``.regrow``);
* ``state``: the :class:`~openworld.world.state.WorldState` to act on; the rule's own random generator
  is ``state.rngs[rule_id]``, derived from the engine's seed and the rule's id, so a rule's draws never
  shift another phase's;
* ``params``: the rule's parameters in force, ``name -> (B, 1)`` array.

A rule that hurts bodies or wants something recorded returns a :class:`RuleEffect`: the engine
applies the damage and reports it, and the event flags, by cause in the step's
:class:`~openworld.world.engine.StepOutcome` (``damage_by_cause[rule_id]``, ``events["<rule_id>.<name>"]``).
A rule that only changes the map returns ``None``.

Example:
    >>> import numpy as np
    >>> from openworld.world.rules import RuleEffect, register_rule, RULES
    >>> def sunburn(engine, state, params):
    ...     # Bodies standing on sand lose health each step.
    ...     on_sand = state.terrain.reshape(-1)[state.body_cell + engine.world_base()] == 2
    ...     return RuleEffect(damage=params["damage"] * on_sand, events={"burnt": on_sand})
    >>> register_rule("sunburn-doc-v0", sunburn, {"damage": 0.05})
    >>> RULES["sunburn-doc-v0"].defaults
    {'damage': 0.05}
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from openworld.enums import Vital
from openworld.errors import SpecError
from openworld.plugins import ID_PATTERN, load_plugins

if TYPE_CHECKING:
    from openworld.world.engine import Engine
    from openworld.world.state import WorldState

HEALTH = int(Vital.HEALTH)


@dataclass(frozen=True)
class RuleEffect:
    """What a rule did to the bodies in one step, for the engine to apply and report by cause.

    Attributes:
        damage: ``(B, N)`` (or broadcastable) health to take from each body, or ``None``. The engine
            takes it from living bodies only, never below zero, and reports it as
            ``outcome.damage_by_cause[rule_id]``; deaths it causes are settled with all the others.
        events: ``name -> (B, N)`` bool flags, reported as ``outcome.events["<rule_id>.<name>"]``.
    """

    damage: np.ndarray | None = None
    events: Mapping[str, np.ndarray] = field(default_factory=dict)


RuleFunction = Callable[["Engine", "WorldState", Mapping[str, np.ndarray]], "RuleEffect | None"]


@dataclass(frozen=True)
class Rule:
    """A registered rule: ``apply(engine, state, params) -> RuleEffect | None`` where ``params[name]`` is a
    ``(B, 1)`` array (see the module docstring)."""

    rule_id: str
    apply: RuleFunction
    defaults: dict[str, float]
    summary: str


RULES: dict[str, Rule] = {}


def register_rule(rule_id: str, apply: RuleFunction, defaults: Mapping[str, float] | None = None,
                  summary: str = "") -> None:
    """Register a rule under a versioned id (``Name-v0``); registering an id twice is an error."""
    if not ID_PATTERN.match(rule_id):
        raise ValueError(f"rule id '{rule_id}' must look like 'name-v0'")
    if rule_id in RULES:
        raise ValueError(f"rule id '{rule_id}' is already registered")
    RULES[rule_id] = Rule(rule_id, apply, {k: float(v) for k, v in (defaults or {}).items()}, summary)


def register_parameters(rule_id: str, defaults: Mapping[str, float], summary: str = "") -> None:
    """Register tunable parameters under ``rules.<rule_id>`` with no engine phase.

    For a world that brings its own env class (registry kind ``own-env``, e.g. MiniGridStream): its world
    file sets them under ``rules:``, overrides and shifts reach them as ``rules.<rule_id>.<param>``, and
    its env reads them from the world's shift schedule. The engine runs nothing for them.
    """
    register_rule(rule_id, no_engine_phase, defaults, summary)


def no_engine_phase(engine: Engine, state: WorldState, params: Mapping[str, np.ndarray]) -> None:
    """The engine phase of :func:`register_parameters`' rules: none."""


def rule_ids() -> list[str]:
    load_plugins("openworld.worlds")  # catalogues register their rules before their worlds
    return sorted(RULES)


def complete_rule_params(rules: Mapping[str, Mapping[str, float]], source: str) -> dict[str, dict[str, float]]:
    """Check a spec's ``rules`` section and fill in defaults; raise ``SpecError`` naming the problem."""
    known = rule_ids()
    out: dict[str, dict[str, float]] = {}
    for rule_id, params in rules.items():
        if rule_id not in RULES:
            close = difflib.get_close_matches(rule_id, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SpecError(f"{source}: rules.{rule_id}: unknown rule{hint}; registered rules: "
                            f"{', '.join(known) or 'none'} (register one with openworld.world.rules.register_rule)")
        defaults = RULES[rule_id].defaults
        for name in params:
            if name not in defaults:
                close = difflib.get_close_matches(name, list(defaults), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (parameters: {', '.join(defaults) or 'none'})"
                raise SpecError(f"{source}: rules.{rule_id}.{name}: unknown rule parameter{hint}")
        out[rule_id] = {**defaults, **{k: float(v) for k, v in params.items()}}
    return out


def describe_rules() -> list[dict[str, Any]]:
    return [{"id": r.rule_id, "parameters": r.defaults, "summary": r.summary} for r in RULES.values()]


def run_rules(rules: Sequence[Rule], engine: Engine, state: WorldState,
              params: Mapping[str, Mapping[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The engine's ``rules`` phase: apply each rule in order and the damage it reports.

    Returns:
        ``(damage, events)``: rule id -> ``(B, N)`` health taken from living bodies, for the rules that
        reported damage; ``"<rule_id>.<name>"`` -> ``(B, N)`` bool, for every event flag reported.
    """
    damage: dict[str, np.ndarray] = {}
    events: dict[str, np.ndarray] = {}
    for rule in rules:
        effect = rule.apply(engine, state, params[rule.rule_id])
        if effect is None:
            continue
        if effect.damage is not None:
            dealt = np.broadcast_to(effect.damage, state.alive.shape) * state.alive
            health = state.vitals[..., HEALTH]
            health -= dealt
            np.maximum(health, 0.0, out=health)
            damage[rule.rule_id] = dealt
        for name, flags in effect.events.items():
            events[f"{rule.rule_id}.{name}"] = np.broadcast_to(np.asarray(flags, dtype=bool), state.alive.shape).copy()
    return damage, events
