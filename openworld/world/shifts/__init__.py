"""Shift schedules: how a world's tunable parameters and map change over its lifetime.

Each kind of shift is one class, registered by name (:func:`register_shift_kind`), holding only its own
keys of the world file and answering every question asked about it: :mod:`.abrupt` (a step at ``at``),
:mod:`.gradual` (a ramp from ``start`` to ``end``), :mod:`.cyclic` (regimes in turn, ``period`` steps
each). :class:`ShiftSchedule` (:mod:`.schedule`) compiles a spec's shifts and combines their answers;
:mod:`.base` holds what all kinds share and the flat world-file entry they are parsed from.

Example:
    >>> from openworld.world.spec import load_spec_text
    >>> spec = load_spec_text('''
    ... name: Demo
    ... resources: {berry: {regrow: 0.02}}
    ... shifts:
    ...   - {name: scarce, kind: abrupt, at: 100, set: {resources.berry.regrow: 0.001}}
    ... ''')
    >>> import numpy as np
    >>> schedule = ShiftSchedule(spec)
    >>> schedule.values(np.array([99, 100]))[:, schedule.index["resources.berry.regrow"]].tolist()
    [0.02, 0.001]
    >>> schedule.regime_name(150)
    'scarce'
    >>> spec.shifts[0].describe()
    'scarce (abrupt, at step 100): resources.berry.regrow=0.001'
"""

from __future__ import annotations

from openworld.world.shifts.abrupt import AbruptShift
from openworld.world.shifts.base import (
    NEVER,
    Assignment,
    MapEvent,
    RegimeSpec,
    ShiftEvent,
    ShiftSpec,
    Stretch,
    register_shift_kind,
    shift_keys,
    shift_kinds,
)
from openworld.world.shifts.cyclic import CyclicShift
from openworld.world.shifts.gradual import GradualShift
from openworld.world.shifts.schedule import ShiftSchedule, describe

# The built-in kinds, in the order the docs and error messages list them.
register_shift_kind(AbruptShift)
register_shift_kind(GradualShift)
register_shift_kind(CyclicShift)

SHIFT_KEYS = shift_keys()  # what a variant may patch, for the built-in kinds (shift_keys() sees later ones too)

__all__ = ["NEVER", "SHIFT_KEYS", "AbruptShift", "Assignment", "CyclicShift", "GradualShift", "MapEvent", "RegimeSpec",
           "ShiftEvent", "ShiftSchedule", "ShiftSpec", "Stretch", "describe", "register_shift_kind", "shift_keys",
           "shift_kinds"]
