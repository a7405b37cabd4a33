"""Custom world rules: the small amount of Python a world needs when data cannot express a rule.

A rule is a function run once per step as the engine's ``rules`` phase (after ``hazards``, before
deaths are settled), over the whole batch of worlds. It is registered under an id with its numeric
parameters and their defaults; a world file switches it on under ``rules:`` and may set those
parameters. The parameters are ordinary tunable numbers (``rules.<id>.<param>``): overridable and
shiftable like any other.

Example:
    >>> import numpy as np
    >>> from openworld.world.rules import register_rule, RULES
    >>> def sunburn(engine, state, params):
    ...     # Bodies standing on sand lose health each step.
    ...     on_sand = state.terrain.reshape(-1)[state.body_cell + engine.world_base()] == 2
    ...     state.vitals[..., 0] -= params["damage"] * on_sand * state.alive
    >>> register_rule("sunburn-doc-v0", sunburn, {"damage": 0.05})
    >>> RULES["sunburn-doc-v0"].defaults
    {'damage': 0.05}
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from openworld.errors import SpecError
from openworld.plugins import ID_PATTERN, load_plugins

if TYPE_CHECKING:
    from openworld.world.engine import Engine
    from openworld.world.state import WorldState

RuleFunction = Callable[["Engine", "WorldState", Mapping[str, np.ndarray]], None]


@dataclass(frozen=True)
class Rule:
    """A registered rule: ``apply(engine, state, params)`` where ``params[name]`` is a ``(B, 1)`` array."""

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
