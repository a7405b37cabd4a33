"""How a variant changes a world file: overrides and shift-schedule patches, applied to plain data.

A variant (``variants.<name>`` of a world file) is a split, seeds, dotted-path ``overrides`` and a
``shifts`` patch. This module turns the world's data plus one variant into the data of the varied
world; :func:`openworld.world.spec.apply_variant` then validates it like any world file. Working on
plain data keeps this module below the spec (it never builds one). The catalogue-level view of variants
(task sets to split, filter and sample) is :mod:`openworld.variants`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from openworld.errors import SpecError, brief
from openworld.world.parsing import set_path
from openworld.world.shifts import shift_keys, shift_kinds

SPLITS = ("train", "heldout", "dev")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")  # usable as a Hydra value: world.variant=heldout_early
FIXED_KEYS = ("name", "version", "shifts", "variants")  # not overridable: they define the world's identity


def patched_world_data(data: dict[str, Any], variant: Any, where: str) -> dict[str, Any]:
    """The world's plain data (``to_dict`` of its spec) with one variant's overrides and shift patches
    applied; the result has no variants of its own. ``where`` prefixes error messages
    (``"<file>: variants.<name>"``)."""
    data = dict(data)
    data["variants"] = {}
    if not isinstance(variant.overrides, Mapping):
        raise SpecError(f"{where}.overrides: expected a mapping of dotted paths to values")
    for path, value in variant.overrides.items():
        parts = str(path).split(".")
        if parts[0] in FIXED_KEYS:
            hint = " (change the schedule in the variant's 'shifts')" if parts[0] == "shifts" else ""
            raise SpecError(f"{where}.overrides.{path}: '{parts[0]}' cannot be overridden by a variant{hint}")
        set_path(data, parts, value, f"{where}.overrides")
    if variant.shifts is not None:
        data["shifts"] = _patched_schedule(data["shifts"], variant.shifts, f"{where}.shifts")
    return data


def variant_world_seeds(declared: Sequence[int], seed: int, count: int) -> list[int]:
    """The maps of ``count`` worlds of a run of ``seed`` in a variant that declares ``declared``: world ``i`` from
    ``declared[(seed + i) % len(declared)]``, so the run's seed picks which when the variant lists more maps than
    the run has worlds. One rule for every command that lives in a variant (run, collect, online pretraining,
    zero-shot evaluation)."""
    return [int(declared[(seed + i) % len(declared)]) for i in range(count)]


def unknown_variant_message(name: str, known: list[str], world: str | None = None) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    owner = f" of {world}" if world else ""
    return f"unknown variant '{name}'{owner}.{hint} Variants: {', '.join(known) or 'none'}"


def _patched_schedule(shifts: list[dict[str, Any]], patch: Any, where: str) -> list[dict[str, Any]]:
    """The schedule (plain data) with a variant's ``shifts`` section applied."""
    if isinstance(patch, list):
        return patch  # a whole new schedule, validated by the caller like any other
    if not isinstance(patch, Mapping):
        raise SpecError(f"{where}: expected a mapping of shift name to patch, or a list of shifts, "
                        f"got {type(patch).__name__}")
    out = [dict(shift) for shift in shifts]
    names = [shift["name"] for shift in out]
    for name, change in patch.items():
        here = f"{where}.{name}"
        if name not in names:
            if not isinstance(change, Mapping) or "kind" not in change:
                close = difflib.get_close_matches(str(name), names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise SpecError(f"{here}: the world has no shift '{name}'{hint}; shifts: {', '.join(names) or 'none'}"
                                " (to add a shift, give its 'kind')")
            out.append({"name": name, **change})
            names.append(str(name))
            continue
        index = names.index(name)
        if change is None:
            del out[index], names[index]
            continue
        if not isinstance(change, Mapping):
            raise SpecError(f"{here}: expected a mapping (a patch of the shift) or null (remove it), "
                            f"got {brief(change)}")
        out[index] = _patched_shift(out[index], change, here)
    return out


def _patched_shift(shift: dict[str, Any], change: Mapping[str, Any], where: str) -> dict[str, Any]:
    shift = dict(shift)
    keys = shift_keys()
    if "kind" in change and change["kind"] != shift.get("kind") and change["kind"] in shift_kinds():
        # A new kind keeps what both kinds have ('set', say) and drops the old kind's timing ('at' of an
        # abrupt shift made gradual): the patch gives the new kind's.
        kept = {f.name for f in dataclasses.fields(shift_kinds()[change["kind"]])}
        shift = {key: value for key, value in shift.items() if key in kept}
    for key, value in change.items():
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (keys: {', '.join(keys)})"
            raise SpecError(f"{where}.{key}: unknown key{hint}")
        if key == "set" and isinstance(value, Mapping):
            shift["set"] = _merged(shift.get("set") or {}, value)
        elif key == "regimes" and isinstance(value, Mapping):
            regimes = [dict(r) for r in shift.get("regimes") or []]
            regime_names = [r["name"] for r in regimes]
            for regime_name, regime_change in value.items():
                here = f"{where}.regimes.{regime_name}"
                if regime_name not in regime_names:
                    close = difflib.get_close_matches(str(regime_name), regime_names, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    raise SpecError(f"{here}: the shift has no regime '{regime_name}'{hint}; regimes: "
                                    f"{', '.join(regime_names) or 'none'}")
                if not isinstance(regime_change, Mapping):
                    raise SpecError(f"{here}: expected a mapping with 'set' and/or 'map'")
                regime = regimes[regime_names.index(regime_name)]
                for regime_key, regime_value in regime_change.items():
                    if regime_key == "set" and isinstance(regime_value, Mapping):
                        regime["set"] = _merged(regime.get("set") or {}, regime_value)
                    elif regime_key == "map":
                        regime["map"] = regime_value
                    else:
                        raise SpecError(f"{here}.{regime_key}: a regime patch has 'set' and 'map'")
            shift["regimes"] = regimes
        else:
            shift[key] = value
    return shift


def _merged(values: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for path, value in change.items():
        if value is None:
            out.pop(path, None)
        else:
            out[path] = value
    return out
