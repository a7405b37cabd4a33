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

Where rules come from: a catalogue package imports its rule modules itself (``worlds/__init__.py``); a
world file of one's own names its modules under ``rule_modules:`` and :func:`import_rule_modules`
imports them before the file's ``rules:`` are checked. An entry ending in ``.py`` is a file, relative to
the world file's folder (imported on its own, once per file); any other entry is an importable module
name (``mypackage.tide_rules``). Every rule's defining module, :func:`rule_source_file`, is what Sacred
records with a run.

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
import hashlib
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from openworld.enums import Vital
from openworld.errors import SpecError, brief
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
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # every parameter's [lo, hi]


RULES: dict[str, Rule] = {}
# A parameter's range when its rule declares none: the bound of the spec's other unbounded numbers, so that
# a file's 1e308 is refused rather than overflowing the engine's arrays.
DEFAULT_PARAMETER_RANGE = (-1e6, 1e6)


def register_rule(rule_id: str, apply: RuleFunction, defaults: Mapping[str, float] | None = None,
                  summary: str = "", ranges: Mapping[str, tuple[float, float]] | None = None) -> None:
    """Register a rule under a versioned id (``Name-v0``); registering an id twice is an error.

    Args:
        rule_id: the id world files switch the rule on by.
        apply: the rule's phase (see the module docstring).
        defaults: parameter name -> default value.
        summary: one line, for ``openworld show``.
        ranges: parameter name -> inclusive ``(lo, hi)`` a world file's value, override or shift must
            respect; a parameter without one gets :data:`DEFAULT_PARAMETER_RANGE`.
    """
    if not ID_PATTERN.match(rule_id):
        raise ValueError(f"rule id '{rule_id}' must look like 'name-v0'")
    if rule_id in RULES:
        raise ValueError(f"rule id '{rule_id}' is already registered")
    defaults = {k: float(v) for k, v in (defaults or {}).items()}
    unknown = sorted(set(ranges or {}) - set(defaults))
    if unknown:
        raise ValueError(f"rule '{rule_id}': ranges for parameters it does not have: {', '.join(unknown)}")
    bounds = {name: tuple(map(float, (ranges or {}).get(name, DEFAULT_PARAMETER_RANGE))) for name in defaults}
    for name, (lo, hi) in bounds.items():
        if not lo <= defaults[name] <= hi:
            raise ValueError(f"rule '{rule_id}': default {name}={defaults[name]} is outside its range [{lo}, {hi}]")
    RULES[rule_id] = Rule(rule_id, apply, defaults, summary, bounds)  # type: ignore[arg-type]


def parameter_range(rule_id: str, name: str) -> tuple[float, float]:
    """The inclusive range of a registered rule's parameter."""
    return RULES[rule_id].ranges.get(name, DEFAULT_PARAMETER_RANGE)


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


# Rule modules imported so far (a file by its resolved path, else the module name) -> the rule ids their
# import registered.
_IMPORTED: dict[str, tuple[str, ...]] = {}
FILE_MODULE_PREFIX = "openworld_rule_file_"  # sys.modules names of rule module files (plus stem and path hash)


def import_rule_modules(modules: Sequence[str], source: str) -> dict[str, tuple[str, ...]]:
    """Import the rule modules a world file names under ``rule_modules`` (each once per process).

    Args:
        modules: entries ending in ``.py`` are files (absolute here: :func:`openworld.world.spec.load_spec`
            resolves them against the world file's folder); others are importable module names.
        source: the world file, named in errors.

    Returns:
        entry -> the rule ids that importing it registered.

    Raises:
        SpecError: naming the world file and the entry: a missing file, a module that cannot be found,
            or an error raised while importing it (with the file and line where it was raised).
    """
    registered: dict[str, tuple[str, ...]] = {}
    for index, entry in enumerate(modules):
        where = f"{source}: rule_modules[{index}]"
        key = str(Path(entry).resolve()) if entry.endswith(".py") else entry
        if key not in _IMPORTED:
            before = set(RULES)
            if entry.endswith(".py"):
                _import_file(Path(key), where)
            else:
                _import_module(entry, where)
            _IMPORTED[key] = tuple(sorted(set(RULES) - before))
        registered[entry] = _IMPORTED[key]
    return registered


def _import_module(name: str, where: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as err:
        raise SpecError(f"{where}: cannot import rule module '{name}': {err} (an entry without .py is an "
                        "importable module name; a file next to the world file is named with .py)") from err
    except Exception as err:
        raise SpecError(f"{where}: importing rule module '{name}' failed: {_describe(err)}") from err


def _import_file(path: Path, where: str) -> None:
    """Import one rule module file under a name of its own (its stem and a hash of its path)."""
    if not path.is_file():
        raise SpecError(f"{where}: no rule module file {path} (a .py entry is a file next to the world file, or a "
                        "path relative to its folder)")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"{FILE_MODULE_PREFIX}{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SpecError(f"{where}: {path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise SpecError(f"{where}: importing {path} failed: {_describe(err)}") from err


def _describe(err: BaseException) -> str:
    """An exception and the innermost file and line it came from."""
    frames = traceback.extract_tb(err.__traceback__)
    place = f" (at {frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
    return f"{type(err).__name__}: {err}{place}"


def rule_source_file(rule_id: str) -> str | None:
    """The Python file that defines a registered rule's function (None for one defined interactively)."""
    module = sys.modules.get(getattr(RULES[rule_id].apply, "__module__", "") or "")
    filename = getattr(module, "__file__", None)
    return str(filename) if filename else None


def complete_rule_params(rules: Mapping[str, Mapping[str, float]], source: str,
                         modules: Mapping[str, Sequence[str]] | None = None) -> dict[str, dict[str, float]]:
    """Check a spec's ``rules`` section and fill in defaults; raise ``SpecError`` naming the problem.

    Args:
        rules: rule id -> the parameters the world file sets.
        source: the world file, named in errors.
        modules: the world's ``rule_modules`` entries and the rules each registered, named in the error
            for an unknown rule.
    """
    known = rule_ids()
    out: dict[str, dict[str, float]] = {}
    for rule_id, params in rules.items():
        if rule_id not in RULES:
            close = difflib.get_close_matches(rule_id, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            imported = "".join(f"; {entry} registered {', '.join(ids) or 'no rule'}"
                               for entry, ids in (modules or {}).items())
            raise SpecError(f"{source}: rules.{rule_id}: unknown rule{hint}{imported}; registered rules: "
                            f"{', '.join(known) or 'none'} (register one with openworld.world.rules.register_rule "
                            "in a module the world file names under rule_modules)")
        defaults = RULES[rule_id].defaults
        for name in params:
            if name not in defaults:
                close = difflib.get_close_matches(name, list(defaults), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (parameters: {', '.join(defaults) or 'none'})"
                raise SpecError(f"{source}: rules.{rule_id}.{name}: unknown rule parameter{hint}")
            lo, hi = parameter_range(rule_id, name)
            if not lo <= params[name] <= hi:
                raise SpecError(f"{source}: rules.{rule_id}.{name}: {brief(params[name])} is out of range "
                                f"[{lo:g}, {hi:g}]")
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
