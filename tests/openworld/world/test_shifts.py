"""Tests of openworld.world.shifts: parameter values at hand-picked clocks (hand-computed), schedule
validation, the evaluator's view (regime names, onsets), and shifts acting inside the engine at
exactly the declared step, with map events, deterministically, and invisibly to the agent."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from openworld.enums import Action, Vital
from openworld.envs.single import OpenWorldEnv
from openworld.registry import load_world_spec, world_ids
from openworld.world.engine import Engine
from openworld.world.shifts import (
    NEVER,
    SHIFT_KEYS,
    AbruptShift,
    CyclicShift,
    GradualShift,
    ShiftEvent,
    ShiftSchedule,
    Stretch,
    register_shift_kind,
    shift_kinds,
)
from openworld.world.spec import SpecError, load_spec_text, spec_from_dict, to_dict

SOURCE = "worlds/shifting.yaml"
BASE = """
name: Sched
resources:
  berry: {regrow: 0.1, effects: {food: 2.0}}
  water: {grows_on: [water], regrow: 0.2, effects: {water: 3.0}}
body:
  food: {max: 10, start: 8, decay: 0.02}
hazards:
  predator: {max_count: 4, count: 1, sight: 5}
"""
REGROW = "resources.berry.regrow"


def schedule(shifts: str) -> ShiftSchedule:
    return ShiftSchedule(load_spec_text(BASE + "shifts:\n" + shifts, source=SOURCE))


def value(sched: ShiftSchedule, path: str, clocks: list[int]) -> list[float]:
    return sched.values(np.array(clocks))[:, sched.index[path]].tolist()


def shift_error(shifts: str) -> str:
    with pytest.raises(SpecError) as info:
        schedule(shifts)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: "), message
    return message


# ================================================================== values
def test_no_shifts_gives_the_base_everywhere() -> None:
    spec = load_spec_text(BASE)
    sched = ShiftSchedule(spec)
    assert sched.paths == tuple(spec.tunables())
    theta = sched.values(np.array([0, 1, 10**9]))
    assert theta.shape == (3, len(sched.paths))
    assert np.array_equal(theta, np.broadcast_to(sched.base, theta.shape))
    assert sched.constant_until(0) == NEVER
    assert sched.regime_name(12345) == "base"
    assert sched.events(0, 10**6) == []


def test_abrupt() -> None:
    sched = schedule("  - {name: scarce, kind: abrupt, at: 10, set: {resources.berry.regrow: 0.5}}\n")
    assert value(sched, REGROW, [0, 9, 10, 11, 10**6]) == [0.1, 0.1, 0.5, 0.5, 0.5]
    # Other columns are untouched.
    other = sched.index["resources.water.regrow"]
    assert sched.values(np.array([0, 20]))[:, other].tolist() == [0.2, 0.2]


def test_gradual_is_linear_from_the_value_before() -> None:
    sched = schedule("  - {name: ramp, kind: gradual, start: 100, end: 110, set: {resources.berry.regrow: 0.6}}\n")
    got = value(sched, REGROW, [0, 99, 100, 102, 105, 109, 110, 111, 5000])
    expected = [0.1, 0.1, 0.1, 0.2, 0.35, 0.55, 0.6, 0.6, 0.6]
    assert got == pytest.approx(expected, abs=1e-12)
    assert value(sched, REGROW, [105])[0] == pytest.approx((0.1 + 0.6) / 2), "midpoint = average"


def test_gradual_integer_parameter_is_rounded() -> None:
    sched = schedule("  - {name: keen, kind: gradual, start: 100, end: 110, set: {hazards.predator.sight: 8}}\n")
    # 5 + 3 * frac: 5.3 -> 5, 5.9 -> 6, 7.4 -> 7, 8.
    assert value(sched, "hazards.predator.sight", [100, 101, 103, 108, 110]) == [5, 5, 6, 7, 8]
    ramp = value(sched, "hazards.predator.sight", list(range(95, 115)))
    assert all(v == int(v) for v in ramp)
    assert ramp == sorted(ramp), "a ramp up never goes down"


def test_gradual_down_then_holds() -> None:
    sched = schedule("  - {name: drought, kind: gradual, start: 0, end: 4, set: {resources.water.regrow: 0.0}}\n")
    assert value(sched, "resources.water.regrow", [0, 1, 2, 3, 4, 100]) == pytest.approx([0.2, 0.15, 0.1, 0.05, 0, 0])


def test_cyclic_regime_order_and_wrap() -> None:
    sched = schedule(
        "  - name: seasons\n    kind: cyclic\n    start: 5\n    period: 10\n    regimes:\n"
        "      - {name: spring, set: {resources.berry.regrow: 0.2}}\n"
        "      - {name: summer, set: {resources.berry.regrow: 0.3}}\n"
        "      - {name: autumn, set: {body.food.decay: 0.5}}\n")
    clocks = [0, 4, 5, 14, 15, 24, 25, 34, 35, 45, 55, 65]
    assert value(sched, REGROW, clocks) == [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.1, 0.1, 0.2, 0.3, 0.1, 0.2]
    # A regime that does not name a path leaves the value from before (the base) in force.
    assert value(sched, "body.food.decay", clocks) == [0.02] * 6 + [0.5, 0.5, 0.02, 0.02, 0.5, 0.02]
    names = [sched.regime_name(t) for t in clocks]
    assert names == ["base", "base", "spring", "spring", "summer", "summer", "autumn", "autumn", "spring",
                     "summer", "autumn", "spring"]


def test_shifts_apply_in_declaration_order() -> None:
    later_wins = schedule(
        "  - {name: first, kind: abrupt, at: 10, set: {resources.berry.regrow: 0.5}}\n"
        "  - {name: second, kind: abrupt, at: 5, set: {resources.berry.regrow: 0.2}}\n")
    assert value(later_wins, REGROW, [4, 5, 9, 10, 12]) == [0.1, 0.2, 0.2, 0.2, 0.2]
    swapped = schedule(
        "  - {name: second, kind: abrupt, at: 5, set: {resources.berry.regrow: 0.2}}\n"
        "  - {name: first, kind: abrupt, at: 10, set: {resources.berry.regrow: 0.5}}\n")
    assert value(swapped, REGROW, [4, 5, 9, 10, 12]) == [0.1, 0.2, 0.2, 0.5, 0.5]


def test_gradual_ramps_from_the_value_an_earlier_shift_set() -> None:
    sched = schedule(
        "  - {name: boost, kind: abrupt, at: 0, set: {resources.berry.regrow: 0.4}}\n"
        "  - {name: ramp, kind: gradual, start: 10, end: 20, set: {resources.berry.regrow: 0.8}}\n")
    assert value(sched, REGROW, [0, 10, 15, 20]) == pytest.approx([0.4, 0.4, 0.6, 0.8])


def test_values_are_vectorised_over_worlds() -> None:
    sched = schedule("  - {name: scarce, kind: abrupt, at: 10, set: {resources.berry.regrow: 0.5}}\n")
    clocks = np.array([12, 3, 10, 9])
    theta = sched.values(clocks)
    assert theta.shape == (4, len(sched.paths))
    for row, t in zip(theta, clocks, strict=True):
        assert np.array_equal(row, sched.values(np.array([t]))[0])


@pytest.mark.parametrize("world_id", world_ids())
def test_catalogue_schedules_follow_their_declarations(world_id: str) -> None:
    """Each catalogue shift's values hold from its onset (read from the spec, not hard-coded: the
    catalogue changes), and its onset is reported by ``events``."""
    spec = load_world_spec(world_id)
    sched = ShiftSchedule(spec)
    horizon = 1 + max([max(s.at, s.end, s.start + 3 * s.period) for s in spec.shifts], default=0)
    onsets = {(e.t, e.name) for e in sched.events(0, horizon)}
    for k, shift in enumerate(spec.shifts):
        later = {p for s in spec.shifts[k + 1:] for p in s.set} | {p for s in spec.shifts[k + 1:]
                                                                   for r in s.regimes for p in r.set}
        if shift.kind == "abrupt":
            onset, settings = shift.at, shift.set
        elif shift.kind == "gradual":
            onset, settings = shift.end, shift.set
        else:
            onset, settings = shift.start, shift.regimes[0].set
        theta = sched.values(np.array([onset]))[0]
        for path, target in settings.items():
            if path not in later:
                assert theta[sched.index[path]] == pytest.approx(target), (shift.name, path)
        if shift.kind != "gradual" and onset > 0:
            assert (onset, shift.name if shift.kind == "abrupt" else shift.regimes[0].name) in onsets


# ================================================================== validation
def test_unknown_path_suggests_the_nearest() -> None:
    message = shift_error("  - {name: a, kind: abrupt, at: 1, set: {resources.berry.regrw: 0.5}}\n")
    assert "shifts[0].set.resources.berry.regrw" in message
    assert "not a tunable parameter" in message
    assert "did you mean 'resources.berry.regrow'?" in message


@pytest.mark.parametrize("path", ["observation.view", "body.respawn_delay", "hazards.predator.max_count", "bodies"])
def test_static_path_is_rejected(path: str) -> None:
    message = shift_error(f"  - {{name: a, kind: abrupt, at: 1, set: {{{path}: 5}}}}\n")
    assert f"shifts[0].set.{path}" in message
    assert "static" in message


def test_non_numeric_path_is_rejected() -> None:
    message = shift_error("  - {name: a, kind: abrupt, at: 1, set: {resources.berry.grows_on: 1}}\n")
    assert "not a number that can shift" in message


@pytest.mark.parametrize(("shifts", "where"), [
    ("  - {name: a, kind: abrupt, at: 1, set: {resources.berry.regrow: 1.5}}\n",
     "shifts[0].set.resources.berry.regrow"),
    ("  - {name: a, kind: gradual, start: 1, end: 5, set: {body.food.decay: -1}}\n", "shifts[0].set.body.food.decay"),
    ("  - name: c\n    kind: cyclic\n    regimes:\n      - {name: x}\n      - {name: y, set: {dynamics.slip: 2}}\n",
     "shifts[0].regimes[1].set.dynamics.slip"),
])
def test_out_of_range_value(shifts: str, where: str) -> None:
    message = shift_error(shifts)
    assert where in message and "out of range" in message


def test_non_integer_value_for_an_integer_parameter() -> None:
    message = shift_error("  - {name: a, kind: abrupt, at: 1, set: {hazards.predator.sight: 2.5}}\n")
    assert "hazards.predator.sight" in message and "expected an integer" in message


def test_predator_count_above_max_count() -> None:
    message = shift_error("  - {name: a, kind: abrupt, at: 1, set: {hazards.predator.count: 5}}\n")
    assert "max_count" in message


@pytest.mark.parametrize(("start", "end"), [(10, 10), (10, 5)])
def test_gradual_needs_end_after_start(start: int, end: int) -> None:
    message = shift_error(f"  - {{name: a, kind: gradual, start: {start}, end: {end}, set: {{{REGROW}: 0.5}}}}\n")
    assert "shifts[0].end" in message and "end > start" in message


def test_cyclic_needs_regimes() -> None:
    message = shift_error("  - {name: a, kind: cyclic, start: 0, period: 5}\n")
    assert "shifts[0].regimes" in message and "at least one regime" in message


def test_cyclic_keeps_set_inside_regimes() -> None:
    message = shift_error(f"  - {{name: a, kind: cyclic, period: 5, set: {{{REGROW}: 0.5}}, regimes: [{{name: x}}]}}\n")
    assert "shifts[0]" in message and "regimes" in message


def test_only_cyclic_has_regimes() -> None:
    assert "only a cyclic shift" in shift_error("  - {name: a, kind: abrupt, at: 3, regimes: [{name: x}]}\n")


def test_gradual_has_no_map_events() -> None:
    message = shift_error("  - {name: a, kind: gradual, start: 1, end: 3, map: [{op: relocate, resource: berry}]}\n")
    assert "shifts[0].map" in message


@pytest.mark.parametrize("shifts", [
    "  - {name: a, kind: abrupt, at: 3, map: [{op: relocate, resource: bery}]}\n",
    "  - name: c\n    kind: cyclic\n    period: 4\n    regimes:\n"
    "      - {name: x, map: [{op: regenerate, resource: bery}]}\n",
])
def test_map_event_on_unknown_resource(shifts: str) -> None:
    message = shift_error(shifts)
    assert "unknown resource 'bery'" in message and "did you mean 'berry'?" in message


def test_duplicate_shift_names() -> None:
    message = shift_error(f"  - {{name: a, at: 1, set: {{{REGROW}: 0.5}}}}\n"
                          f"  - {{name: a, at: 2, set: {{{REGROW}: 0.3}}}}\n")
    assert "shifts[1].name" in message and "duplicate" in message


def test_bad_shift_timing_fields() -> None:
    assert "shifts[0].at" in shift_error("  - {name: a, at: -1}\n")
    assert "shifts[0].period" in shift_error("  - {name: a, kind: cyclic, period: 0, regimes: [{name: x}]}\n")


# ================================================================== breakpoints and the evaluator's view
def test_constant_until() -> None:
    assert schedule("  - {name: a, at: 10, set: {resources.berry.regrow: 0.5}}\n").constant_until(0) == 10
    abrupt = schedule("  - {name: a, at: 10, set: {resources.berry.regrow: 0.5}}\n")
    assert [abrupt.constant_until(t) for t in (0, 9, 10, 500)] == [10, 10, NEVER, NEVER]
    gradual = schedule(f"  - {{name: g, kind: gradual, start: 10, end: 20, set: {{{REGROW}: 0.5}}}}\n")
    assert [gradual.constant_until(t) for t in (0, 9, 10, 15, 19, 20, 99)] == [10, 10, 11, 16, 20, NEVER, NEVER]
    cyclic = schedule("  - {name: c, kind: cyclic, start: 5, period: 10, regimes: [{name: x}, {name: y}]}\n")
    assert [cyclic.constant_until(t) for t in (0, 4, 5, 14, 15, 1000)] == [5, 5, 15, 15, 25, 1005]
    both = schedule("  - {name: a, at: 12, set: {resources.berry.regrow: 0.5}}\n"
                    "  - {name: c, kind: cyclic, start: 5, period: 10, regimes: [{name: x}, {name: y}]}\n")
    assert [both.constant_until(t) for t in (0, 5, 12, 15)] == [5, 12, 15, 25]


def test_parameters_are_constant_between_breakpoints() -> None:
    sched = schedule("  - {name: a, at: 7, set: {resources.berry.regrow: 0.5}}\n"
                     f"  - {{name: g, kind: gradual, start: 20, end: 24, set: {{{REGROW}: 0.9}}}}\n"
                     "  - {name: c, kind: cyclic, start: 30, period: 6, regimes: [{name: x, set: {dynamics.slip: 0.1}},"
                     " {name: y}]}\n")
    theta = sched.values(np.arange(60))
    for t in range(59):
        nxt = sched.constant_until(t)
        for u in range(t + 1, min(nxt, 60)):
            assert np.array_equal(theta[u], theta[t]), (t, u)


def test_regime_name() -> None:
    sched = schedule("  - {name: blight, at: 10, set: {resources.berry.effects.health: -1}}\n"
                     f"  - {{name: drought, kind: gradual, start: 20, end: 30, set: {{{REGROW}: 0.0}}}}\n")
    assert [sched.regime_name(t) for t in (0, 9, 10, 19, 20, 29, 30, 1000)] == [
        "base", "base", "blight", "blight", "blight+drought~", "blight+drought~", "blight+drought", "blight+drought"]


def test_events() -> None:
    sched = schedule("  - {name: blight, at: 10, set: {resources.berry.effects.health: -1}}\n"
                     f"  - {{name: drought, kind: gradual, start: 20, end: 30, set: {{{REGROW}: 0.0}}}}\n"
                     "  - {name: seasons, kind: cyclic, start: 0, period: 7, regimes: [{name: wet}, {name: dry}]}\n")
    assert sched.events(0, 22) == [ShiftEvent(7, "cyclic", "dry"), ShiftEvent(10, "abrupt", "blight"),
                                   ShiftEvent(14, "cyclic", "wet"), ShiftEvent(20, "gradual", "drought"),
                                   ShiftEvent(21, "cyclic", "dry")]
    assert sched.events(10, 14) == [ShiftEvent(10, "abrupt", "blight")], "[t0, t1): t1 excluded"
    assert sched.events(0, 1) == [], "a cyclic schedule starting at 0 is the initial state, not a shift"
    assert sched.events(0, 7) == []
    assert sched.events(30, 30) == []
    assert [e.t for e in sched.events(0, 1000)] == sorted(e.t for e in sched.events(0, 1000))


def test_events_of_a_late_cyclic_schedule() -> None:
    sched = schedule("  - {name: c, kind: cyclic, start: 50, period: 10, regimes: [{name: x}, {name: y}, {name: z}]}\n")
    assert sched.events(0, 81) == [ShiftEvent(50, "cyclic", "x"), ShiftEvent(60, "cyclic", "y"),
                                   ShiftEvent(70, "cyclic", "z"), ShiftEvent(80, "cyclic", "x")]
    assert sched.events(55, 75) == [ShiftEvent(60, "cyclic", "y"), ShiftEvent(70, "cyclic", "z")]


def test_map_events_at() -> None:
    sched = schedule("  - {name: move, at: 10, map: [{op: relocate, resource: berry, fraction: 0.5}]}\n"
                     "  - name: c\n    kind: cyclic\n    start: 5\n    period: 3\n    regimes:\n"
                     "      - {name: x, map: [{op: regenerate, resource: all}]}\n      - {name: y}\n")
    assert sched.has_map_events
    assert [(e.op, e.resource, e.fraction) for e in sched.map_events_at(10)] == [("relocate", "berry", 0.5)]
    assert sched.map_events_at(9) == [] and sched.map_events_at(12) == []
    fired = [t for t in range(20) if sched.map_events_at(t)]
    assert fired == [5, 10, 11, 17]  # x begins at 5, 11, 17 (y, at 8 and 14, has no map events)
    assert not schedule(f"  - {{name: a, at: 1, set: {{{REGROW}: 0.5}}}}\n").has_map_events


# ================================================================== kinds: one class each, registered by name
def test_the_built_in_kinds_are_registered_once_each() -> None:
    assert list(shift_kinds()) == ["abrupt", "gradual", "cyclic"]
    assert shift_kinds()["cyclic"] is CyclicShift
    with pytest.raises(ValueError, match="'abrupt' is registered already"):
        register_shift_kind(AbruptShift)
    assert SHIFT_KEYS == ("kind", "at", "start", "end", "period", "set", "regimes", "map")


def test_a_shift_holds_its_own_keys_and_the_file_stays_flat() -> None:
    spec = load_spec_text(BASE + "shifts:\n"
                          "  - {name: a, at: 3, set: {resources.berry.regrow: 0.5}}\n"
                          "  - {name: g, kind: gradual, start: 1, end: 4, set: {resources.berry.regrow: 0.2}}\n"
                          "  - {name: c, kind: cyclic, period: 5, regimes: [{name: x}]}\n", source=SOURCE)
    assert [type(shift) for shift in spec.shifts] == [AbruptShift, GradualShift, CyclicShift]
    assert [f.name for f in dataclasses.fields(CyclicShift)] == ["name", "start", "period", "regimes"]
    cyclic = spec.shifts[2]
    assert (cyclic.at, cyclic.end, cyclic.set, cyclic.map) == (0, 0, {}, ())  # another kind's key: its default
    entries = to_dict(spec)["shifts"]
    assert [list(entry) for entry in entries] == [["name", *SHIFT_KEYS]] * 3
    assert entries[2] == {"name": "c", "kind": "cyclic", "at": 0, "start": 0, "end": 0, "period": 5, "set": {},
                          "regimes": [{"name": "x", "set": {}, "map": []}], "map": []}
    assert spec_from_dict(to_dict(spec), source=SOURCE) == spec


def test_another_kinds_key_is_an_error_unless_it_holds_the_format_default() -> None:
    # The flat entry to_dict writes holds every kind's keys at their defaults: those read back.
    sched = schedule("  - {name: c, kind: cyclic, at: 0, end: 0, period: 3, regimes: [{name: x}]}\n")
    assert sched.events(0, 10)[0] == ShiftEvent(3, "cyclic", "x")
    # Any other value would be dropped silently (an abrupt shift's 'start: 100' fired at t = 0).
    message = shift_error("  - {name: a, start: 100, set: {resources.berry.regrow: 0.1}}\n")
    assert "shifts[0].start: a abrupt shift has no 'start' (its timing keys: 'at')" in message
    message = shift_error("  - {name: c, kind: cyclic, at: 7, end: 9, period: 3, regimes: [{name: x}]}\n")
    assert "shifts[0].at: a cyclic shift has no 'at' (its timing keys: 'start', 'period')" in message
    assert "shifts[0].at" in shift_error("  - {name: c, kind: cyclic, at: -7, period: 3, regimes: [{name: x}]}\n")
    message = shift_error("  - {name: c, kind: cyclic, period: 3, map: [{op: regenerate}], regimes: [{name: x}]}\n")
    assert "shifts[0].map: a cyclic shift puts 'set' and 'map' inside its regimes" in message


def test_duplicate_regime_names_are_an_error() -> None:
    message = shift_error("  - {name: c, kind: cyclic, period: 3, regimes: [{name: x}, {name: x}]}\n")
    assert "shifts[0].regimes[1].name: duplicate regime name 'x'" in message


def test_each_kind_describes_and_draws_itself() -> None:
    sched = schedule(f"  - {{name: a, at: 10, set: {{{REGROW}: 0.5}}, map: [{{resource: berry, fraction: 0.5}}]}}\n"
                     f"  - {{name: g, kind: gradual, start: 20, end: 30, set: {{{REGROW}: 0.0}}}}\n"
                     "  - {name: c, kind: cyclic, start: 5, period: 40, regimes: [{name: x}, {name: y}]}\n")
    abrupt, gradual, cyclic = sched.shifts
    assert abrupt.describe() == "a (abrupt, at step 10): resources.berry.regrow=0.5, relocate berry (50%)"
    assert gradual.describe() == "g (gradual, ramping over steps 20-30): resources.berry.regrow->0"
    assert cyclic.describe() == "c (cyclic, every 40 steps from step 5): x / y"
    assert [shift.display_until() for shift in sched.shifts] == [10, 30, 165]
    assert [shift.value_times() for shift in sched.shifts] == [(10,), (20, 30), (5, 45)]
    assert gradual.timeline(100) == [Stretch(20, 30, level0=0.0, level1=1.0), Stretch(30, 100)]
    assert [(p.start, p.end, p.regime, p.label) for p in cyclic.timeline(100)] == [
        (5, 45, 0, "x"), (45, 85, 1, "y"), (85, 100, 0, "x")]
    assert sched.regime_changes(0, 50) == [5, 10, 20, 30, 45]


PULSE_KIND = '''
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar
import numpy as np
from openworld.world.parsing import number_field
from openworld.world.shifts import NEVER, ShiftEvent, ShiftSchedule, ShiftSpec, Stretch, register_shift_kind
from openworld.world.spec import load_spec_text, to_dict

@register_shift_kind
@dataclass(frozen=True)
class PulseShift(ShiftSpec):
    """A test kind: the ``set`` values hold for ``period`` steps from ``at``, then the old ones again."""
    kind: ClassVar[str] = "pulse"
    at: int = number_field(0, 0, 10**12)
    period: int = number_field(1, 1, 10**12)
    set: dict[str, float] = field(default_factory=dict)
    def value_sets(self): return (("set", self.set),)
    def apply(self, theta, clock, assignments):
        (a,) = assignments
        on = ((clock >= self.at) & (clock < self.at + self.period))[:, None]
        theta[:, a.columns] = np.where(on, a.values, theta[:, a.columns])
    def next_change(self, t):
        return self.at if t < self.at else (self.at + self.period if t < self.at + self.period else NEVER)
    def onsets(self, t0, t1): return [ShiftEvent(self.at, self.kind, self.name)] if t0 <= self.at < t1 else []
    def label(self, t): return self.name if self.at <= t < self.at + self.period else None
    def label_changes(self, t0, t1): return [t for t in (self.at, self.at + self.period) if t0 < t < t1]
    def value_times(self): return (self.at,)
    def timing(self): return f"steps {self.at}-{self.at + self.period}"
    def changes(self): return ", ".join(f"{k}={v:g}" for k, v in self.set.items())
    def display_until(self): return self.at + self.period
    def timeline(self, horizon): return [Stretch(self.at, self.at + self.period, onset=True)]

spec = load_spec_text("name: P\\nresources: {berry: {regrow: 0.1}}\\nshifts:\\n"
                      "  - {name: p, kind: pulse, at: 5, period: 3, set: {resources.berry.regrow: 0.5}}\\n")
sched = ShiftSchedule(spec)
col = sched.index["resources.berry.regrow"]
print(sched.values(np.arange(10))[:, col].tolist())
print([sched.constant_until(t) for t in (0, 5, 7, 8)] == [5, 8, 8, NEVER], sched.regime_name(6), sched.regime_name(8))
print(spec.shifts[0].describe(), list(to_dict(spec)["shifts"][0]))
'''


def test_a_new_kind_is_one_class() -> None:
    """A kind registered from outside (in a fresh process: the register is global) works everywhere."""
    done = subprocess.run([sys.executable, "-c", PULSE_KIND], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[0.1, 0.1, 0.1, 0.1, 0.1, 0.5, 0.5, 0.5, 0.1, 0.1]",
        "True p base",
        "p (pulse, steps 5-8): resources.berry.regrow=0.5 "
        "['name', 'kind', 'at', 'start', 'end', 'period', 'set', 'regimes', 'map']"]


# ================================================================== inside the engine
SHIFT_WORLD = """
name: ShiftWorld
map: {size: [9, 9], water: 0.0, rock: 0.0, sand: 0.0, forest: 0.0}
body:
  health: {max: 10, start: 10, decay: 0.0}
  food: {max: 100, start: 80, decay: 0.5}
  water: {max: 100, start: 80, decay: 0.0}
  energy: {max: 100, start: 80, decay: 0.0}
  starvation_damage: 0.0
  heal_rate: 0.0
observation: {view: 5}
shifts:
"""


def food_drops(shifts: str, steps: int) -> list[float]:
    """Food lost by an idle body during each step ``t -> t + 1``, for t = 0, 1, ..."""
    engine = Engine(load_spec_text(SHIFT_WORLD + shifts), num_worlds=1)
    engine.reset(seeds=[0], rng_seed=0)
    drops = []
    for t in range(steps):
        before = float(engine.state.vitals[0, 0, Vital.FOOD])
        assert engine.state.clock[0] == t
        engine.step(np.zeros((1, 1), np.int64))
        drops.append(before - float(engine.state.vitals[0, 0, Vital.FOOD]))
    return drops


def test_abrupt_shift_takes_effect_at_its_step() -> None:
    # The step that advances the clock from t to t + 1 uses the parameters in force at t.
    drops = food_drops("  - {name: hungry, kind: abrupt, at: 5, set: {body.food.decay: 1.0}}\n", 8)
    assert drops == pytest.approx([0.5] * 5 + [1.0] * 3)
    assert drops[4] == pytest.approx(0.5) and drops[5] == pytest.approx(1.0)  # 4->5 old, 5->6 new


def test_gradual_shift_in_the_engine() -> None:
    drops = food_drops("  - {name: ramp, kind: gradual, start: 2, end: 6, set: {body.food.decay: 2.5}}\n", 9)
    assert drops == pytest.approx([0.5, 0.5, 0.5, 1.0, 1.5, 2.0, 2.5, 2.5, 2.5])


def test_cyclic_shift_in_the_engine() -> None:
    drops = food_drops("  - name: c\n    kind: cyclic\n    start: 1\n    period: 2\n    regimes:\n"
                       "      - {name: fast, set: {body.food.decay: 2.0}}\n      - {name: slow}\n", 8)
    assert drops == pytest.approx([0.5, 2.0, 2.0, 0.5, 0.5, 2.0, 2.0, 0.5])


def test_engine_params_follow_the_clock_after_restore() -> None:
    spec = load_spec_text(SHIFT_WORLD + "  - {name: hungry, kind: abrupt, at: 5, set: {body.food.decay: 1.0}}\n")
    engine = Engine(spec, num_worlds=1)
    engine.reset(seeds=[0], rng_seed=0)
    saved = engine.state.copy()
    for _ in range(7):
        engine.step(np.zeros((1, 1), np.int64))
    col = engine.schedule.index["body.food.decay"]
    assert engine.params().theta[0, col] == 1.0
    engine.state = saved  # back to clock 0: the cached parameters must not leak
    assert engine.params().theta[0, col] == 0.5


MOVING = """
name: Moving
map: {size: [16, 16], water: 0.0, rock: 0.0, sand: 0.0, forest: 0.3}
resources:
  berry: {grows_on: [grass], density: 0.1, regrow: 0.5, effects: {food: 1.0}}
  mushroom: {grows_on: [forest], density: 0.2, regrow: 0.5, effects: {food: 1.0}}
body:
  food: {decay: 0.0}
  water: {decay: 0.0}
  energy: {decay: 0.0}
observation: {view: 5}
shifts:
"""


def run_idle(shifts: str, steps: int, seed: int = 0, rng_seed: int = 0,
             before_step=None) -> tuple[Engine, list[np.ndarray]]:
    """Step an idle body; return the engine and the resource grid after each step (index 0 = reset)."""
    engine = Engine(load_spec_text(MOVING + shifts), num_worlds=1)
    engine.reset(seeds=[seed], rng_seed=rng_seed)
    grids = [engine.state.resource[0].copy()]
    for t in range(steps):
        if before_step is not None:
            before_step(engine, t)
        engine.step(np.zeros((1, 1), np.int64))
        grids.append(engine.state.resource[0].copy())
    return engine, grids


RELOCATE = "  - {name: move, kind: abrupt, at: 3, map: [{op: relocate, resource: berry, fraction: 1.0}]}\n"


def test_relocate_moves_every_berry_and_keeps_the_count() -> None:
    _, grids = run_idle(RELOCATE, 5)
    before, after = grids[2] == 1, grids[3] == 1
    assert np.array_equal(grids[0], grids[1]) and np.array_equal(grids[1], grids[2]), "nothing before t=3"
    assert before.sum() > 5
    assert after.sum() == before.sum(), "relocation keeps the number of berry cells"
    assert not (before & after).any(), "fraction 1.0 moves every berry cell"
    assert np.array_equal(grids[2] == 2, grids[3] == 2), "mushrooms stay"
    assert np.array_equal(grids[3], grids[4]) and np.array_equal(grids[4], grids[5]), "fires once"


def test_relocated_berries_stay_on_their_terrain() -> None:
    engine, grids = run_idle(RELOCATE, 3)
    terrain = engine.state.terrain[0]
    assert (terrain[grids[3] == 1] == 1).all(), "berries grow on grass only"


def test_relocate_fraction_zero_moves_nothing() -> None:
    _, grids = run_idle("  - {name: m, kind: abrupt, at: 2, map: [{op: relocate, resource: all, fraction: 0.0}]}\n", 3)
    assert np.array_equal(grids[0], grids[3])


def test_relocate_is_deterministic_with_the_seed() -> None:
    a, grids_a = run_idle(RELOCATE, 4, seed=3, rng_seed=3)
    b, grids_b = run_idle(RELOCATE, 4, seed=3, rng_seed=3)
    assert a.state.equals(b.state)
    _, grids_c = run_idle(RELOCATE, 4, seed=3, rng_seed=4)
    assert np.array_equal(grids_a[2], grids_c[2]), "same map seed, same map"
    assert not np.array_equal(grids_a[3], grids_c[3]), "the relocation draws from the engine's generator"


def test_regenerate_re_places_one_resource_and_makes_it_available() -> None:
    def deplete_everything(engine: Engine, t: int) -> None:
        if t == 0:
            engine.state.ready_at[0][engine.state.resource[0] > 0] = 1000

    shifts = "  - {name: regen, kind: abrupt, at: 3, map: [{op: regenerate, resource: berry}]}\n"
    engine, grids = run_idle(shifts, 4, before_step=deplete_everything)
    s = engine.state
    assert not np.array_equal(grids[2] == 1, grids[3] == 1), "berries are re-placed"
    assert (grids[3] == 1).sum() > 0
    assert (s.ready_at[0][grids[3] == 1] == 0).all(), "regenerated berries are available"
    assert np.array_equal(grids[2] == 2, grids[3] == 2), "mushrooms stay"
    assert (s.ready_at[0][grids[3] == 2] == 1000).all(), "and stay depleted"
    again, _ = run_idle(shifts, 4, before_step=deplete_everything)
    assert again.state.equals(s)


def test_cyclic_map_events_fire_at_each_onset_of_their_regime() -> None:
    shifts = ("  - name: c\n    kind: cyclic\n    start: 2\n    period: 3\n    regimes:\n"
              "      - {name: x, map: [{op: relocate, resource: berry, fraction: 1.0}]}\n      - {name: y}\n")
    _, grids = run_idle(shifts, 9)
    changed = [t for t in range(1, 10) if not np.array_equal(grids[t - 1], grids[t])]
    assert changed == [2, 8]


def test_map_event_fires_in_every_world_of_a_batch() -> None:
    engine = Engine(load_spec_text(MOVING + RELOCATE), num_worlds=3)
    engine.reset(seeds=[0, 1, 2], rng_seed=0)
    for _ in range(2):
        engine.step(np.zeros((3, 1), np.int64))
    before = engine.state.resource.copy()
    engine.step(np.zeros((3, 1), np.int64))
    for b in range(3):
        assert ((before[b] == 1) & (engine.state.resource[b] == 1)).sum() == 0
        assert (before[b] == 1).sum() == (engine.state.resource[b] == 1).sum()


# ================================================================== hidden from the agent
def with_shifts(world_id: str, shifts: list[dict]) -> object:
    data = to_dict(load_world_spec(world_id))
    data["shifts"] = shifts
    return spec_from_dict(data, source="with-shifts")


def invisible_shift(kind: str, resources: list[str]) -> dict:
    """A shift of parameters that cannot act on a body that never eats (regrow rates, map fractions)."""
    if kind == "abrupt":
        return {"name": "slow", "kind": "abrupt", "at": 5, "set": {f"resources.{resources[0]}.regrow": 0.0001}}
    if kind == "gradual":
        return {"name": "wet", "kind": "gradual", "start": 3, "end": 9, "set": {"map.water": 0.3}}
    return {"name": "c", "kind": "cyclic", "start": 2, "period": 4,
            "regimes": [{"name": "a", "set": {f"resources.{resources[-1]}.regrow": 0.5}}, {"name": "b"}]}


@pytest.mark.parametrize("kind", ["abrupt", "gradual", "cyclic"])
def test_schedule_never_appears_in_observations(kind: str) -> None:
    spec = load_world_spec("Meadow-v0")
    plain = OpenWorldEnv(spec)
    shifting = OpenWorldEnv(with_shifts("Meadow-v0", [invisible_shift(kind, list(spec.resources))]))
    assert plain.observation_space == shifting.observation_space
    obs_a, info_a = plain.reset(seed=7)
    obs_b, info_b = shifting.reset(seed=7)
    assert set(obs_b) == {"view", "vitals"} and set(info_b) == {"world_step", "alive", "events"}
    rng = np.random.default_rng(0)
    for _ in range(30):
        # Moves and rests only: nothing is eaten, so a regrow rate has nothing to act on.
        action = int(rng.choice([Action.NOOP, Action.NORTH, Action.EAST, Action.SOUTH, Action.WEST, Action.REST]))
        obs_a, reward_a, term_a, trunc_a, info_a = plain.step(action)
        obs_b, reward_b, term_b, trunc_b, info_b = shifting.step(action)
        assert obs_a.keys() == obs_b.keys()
        for key in obs_a:
            assert np.array_equal(obs_a[key], obs_b[key]), key
        assert (reward_a, term_a, trunc_a, info_a) == (reward_b, term_b, trunc_b, info_b)


def test_observation_stays_in_space_when_a_shift_lowers_a_maximum() -> None:
    """BUG: engine.py `observe` divides vitals by the shifted maximum before `_metabolise` has clipped
    them to it, so for one step `obs["vitals"]` exceeds 1 (outside the observation space)."""
    text = SHIFT_WORLD.replace("decay: 0.5", "decay: 0.0") + \
        "  - {name: small, kind: abrupt, at: 3, set: {body.food.max: 50}}\n"
    env = OpenWorldEnv(load_spec_text(text))
    obs, _ = env.reset(seed=0)
    for _ in range(6):
        obs, _, _, _, info = env.step(int(Action.NOOP))
        assert env.observation_space.contains(obs), (info["world_step"], obs["vitals"])
