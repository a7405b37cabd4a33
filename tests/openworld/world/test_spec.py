"""Tests of openworld.world.spec: every catalogue world loads, and every kind of mistake in a world file is a
:class:`SpecError` that names the file, the key path and the problem (with the nearest valid name)."""

from __future__ import annotations

import dataclasses
import re

import pytest

import openworld
from openworld.enums import ResourceKind
from openworld.registry import load_world_spec, world_entries
from openworld.world.spec import SpecError, WorldSpec, load_spec, load_spec_text, spec_from_dict, to_dict

WORLD_IDS = openworld.world_ids()
SOURCE = "worlds/test-world.yaml"
GAMEPLAY_SECTIONS = ("map.", "resources.", "body.", "hazards.", "dynamics.", "observation.")


def spec_error(text: str) -> str:
    """The message of the SpecError that loading ``text`` raises (fails the test if none)."""
    with pytest.raises(SpecError) as info:
        load_spec_text(text, source=SOURCE)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: "), message
    return message


def test_catalogue_is_not_empty() -> None:
    assert {"Meadow-v0", "Shiftlands-v0"} <= set(WORLD_IDS)


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_every_catalogue_world_loads(world_id: str) -> None:
    spec = load_world_spec(world_id)
    assert isinstance(spec, WorldSpec)
    assert f"{spec.name}-v{spec.version}" == world_id
    assert spec.resources, "a catalogue world without resources cannot be survived"
    assert spec.observation.view % 2 == 1
    entry = {e.world_id: e for e in world_entries()}[world_id]
    assert spec.source == str(entry.spec_path)
    assert spec.tunables()


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_catalogue_world_round_trips_through_plain_data(world_id: str) -> None:
    spec = load_world_spec(world_id)
    assert spec_from_dict(to_dict(spec), source="again") == spec


def test_minimal_spec_takes_the_defaults() -> None:
    spec = load_spec_text("name: Tiny\nmap: {size: [12, 14]}")
    assert spec.name == "Tiny"
    assert spec.map.size == (12, 14)
    assert spec.resources == {}
    assert spec.shifts == ()
    assert spec.reward == "alive"


# ------------------------------------------------------------------------------ unknown keys
@pytest.mark.parametrize(("text", "path", "suggestion"), [
    ("name: T\nresources: {berry: {regorw: 0.1}}", "resources.berry.regorw", "regrow"),
    ("name: T\nmap: {sise: [12, 12]}", "map.sise", "size"),
    ("name: T\nbody: {food: {decy: 0.1}}", "body.food.decy", "decay"),
    ("name: T\nhazards: {predators: {count: 1}}", "hazards.predators", "predator"),
    ("name: T\nobservaton: {view: 5}", "observaton", "observation"),
    ("name: T\nresources: {berry: {effects: {fod: 1}}}", "resources.berry.effects.fod", "food"),
])
def test_unknown_key_names_file_path_and_nearest_key(text: str, path: str, suggestion: str) -> None:
    message = spec_error(text)
    assert f": {path}: " in message
    assert "unknown key" in message
    assert f"did you mean '{suggestion}'?" in message


def test_unknown_key_without_a_near_miss_lists_the_valid_keys() -> None:
    message = spec_error("name: T\nmap: {zzzzzz: 1}")
    assert "map.zzzzzz" in message
    for key in ("size", "water", "rock", "sand", "forest"):
        assert key in message


def test_missing_required_name() -> None:
    message = spec_error("map: {size: [12, 12]}")
    assert ": name: " in message and "missing" in message


# ------------------------------------------------------------------------------ wrong types
@pytest.mark.parametrize(("text", "path", "expected"), [
    ("name: T\nmap: {water: lots}", "map.water", "expected a finite number"),
    ("name: T\nmap: {water: '0.1'}", "map.water", "expected a finite number"),
    ("name: T\nmap: {water: true}", "map.water", "expected a finite number"),
    ("name: T\nmap: {size: [32.5, 32]}", "map.size[0]", "expected an integer"),
    ("name: T\nmap: {size: [32, '32']}", "map.size[1]", "expected an integer"),
    ("name: T\nmap: {size: 32}", "map.size", "expected a list"),
    ("name: T\nmap: {size: [32]}", "map.size", "expected a list of 2 items"),
    ("name: T\nbodies: true", "bodies", "expected an integer"),
    ("name: T\nobservation: {view: 7.5}", "observation.view", "expected an integer"),
    ("name: T\nhazards: {predator: {max_count: 2, count: 1.5}}", "hazards.predator.count", "expected an integer"),
    ("name: T\nresources: {berry: {density: .nan}}", "resources.berry.density", "expected a finite number"),
    ("name: T\nresources: {berry: {regrow: .inf}}", "resources.berry.regrow", "expected a finite number"),
    ("name: T\nresources: {berry: {grows_on: grass}}", "resources.berry.grows_on", "expected a list"),
    ("name: T\nresources: [berry]", "resources", "expected a mapping"),
    ("name: T\nmap: 5", "map", "expected a mapping"),
    ("name: 5", "name", "expected a string"),
    ("name: T\nreward: alve", "reward", "must be one of"),
])
def test_wrong_type_is_named(text: str, path: str, expected: str) -> None:
    message = spec_error(text)
    assert f": {path}: " in message, message
    assert expected in message


def test_literal_choice_suggests_nearest() -> None:
    assert "did you mean 'alive'?" in spec_error("name: T\nreward: alve")
    assert "did you mean 'abrupt'?" in spec_error("name: T\nshifts: [{name: a, kind: abrut}]")


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_non_finite_integer_is_a_spec_error(value: str) -> None:
    """BUG: spec.py `_convert` calls `int(value)` on a non-finite float for int fields, raising
    OverflowError / a bare ValueError instead of a SpecError naming the key."""
    message = spec_error(f"name: T\nbody: {{respawn_delay: {value}}}")
    assert ": body.respawn_delay: " in message


def test_an_integral_float_is_accepted_for_an_integer() -> None:
    spec = load_spec_text("name: T\nobservation: {view: 5.0}")
    assert spec.observation.view == 5 and isinstance(spec.observation.view, int)


# ------------------------------------------------------------------------------ out of range
@pytest.mark.parametrize(("text", "path", "expected"), [
    ("name: T\nresources: {berry: {density: -0.1}}", "resources.berry.density", "out of range"),
    ("name: T\nresources: {berry: {regrow: 1.5}}", "resources.berry.regrow", "out of range"),
    ("name: T\nresources: {berry: {color: [300, 0, 0]}}", "resources.berry.color[0]", "out of range"),
    ("name: T\nmap: {size: [4, 12]}", "map.size[0]", "out of range"),
    ("name: T\nmap: {water: 0.95}", "map.water", "out of range"),
    ("name: T\nbody: {food: {decay: -0.01}}", "body.food.decay", "out of range"),
    ("name: T\nbody: {comfort: 1.5}", "body.comfort", "out of range"),
    ("name: T\nbodies: 0", "bodies", "out of range"),
    ("name: T\nobservation: {view: 1}", "observation.view", "out of range"),
    ("name: T\nobservation: {view: 8}", "observation.view", "must be odd"),
    ("name: T\nhazards: {predator: {max_count: 1, count: 2}}", "hazards.predator.count", "exceeds max_count 1"),
    ("name: T\nbody: {food: {max: 5, start: 6}}", "body.food.start", "exceeds max"),
    ("name: T\nbody: {health: {max: 5}}", "body.health.start", "exceeds max"),
    ("name: T\nmap: {water: 0.5, rock: 0.3, sand: 0.2, forest: 0.1}", "map", "exceed 1"),
    ("name: T\ndynamics: {rotation: 4}", "dynamics.rotation", "out of range"),
])
def test_out_of_range_is_named(text: str, path: str, expected: str) -> None:
    message = spec_error(text)
    assert f": {path}: " in message, message
    assert expected in message


def test_fractions_summing_to_exactly_one_are_fine() -> None:
    spec = load_spec_text("name: T\nmap: {water: 0.25, rock: 0.25, sand: 0.25, forest: 0.25}")
    assert spec.map.water + spec.map.rock + spec.map.sand + spec.map.forest == 1.0


def test_unknown_terrain_in_grows_on() -> None:
    message = spec_error("name: T\nresources: {berry: {grows_on: [grass, frest]}}")
    assert ": resources.berry.grows_on[1]: " in message
    assert "unknown terrain 'frest'" in message
    assert "did you mean 'forest'?" in message


def test_unknown_terrain_without_near_miss_lists_terrains() -> None:
    message = spec_error("name: T\nresources: {berry: {grows_on: [lava]}}")
    for terrain in ("grass", "sand", "forest", "rock", "water"):
        assert terrain in message
    assert "void" not in message.split("valid:")[-1]


def test_void_is_not_a_terrain_anything_grows_on() -> None:
    assert "unknown terrain 'void'" in spec_error("name: T\nresources: {berry: {grows_on: [void]}}")


# ------------------------------------------------------------------------------ resource kinds
def test_resource_names_are_kinds_of_the_shared_catalogue() -> None:
    spec = load_spec_text("name: T\nresources: {apple: {}, water: {grows_on: [water]}, cactus: {grows_on: [sand]}}")
    assert spec.resource_kinds == (ResourceKind.APPLE, ResourceKind.WATER, ResourceKind.CACTUS)


def test_an_unknown_resource_kind_is_refused_with_the_nearest_kind_and_how_to_add_one() -> None:
    message = spec_error("name: T\nresources: {berry: {}, berri: {}}")
    assert ": resources.berri: unknown resource kind 'berri'" in message
    assert "did you mean 'berry'?" in message
    assert "append a kind to openworld.enums.ResourceKind" in message
    assert "keep the name 'berri' and declare the kind it is" in message


def test_a_resource_may_keep_its_own_name_and_declare_its_kind() -> None:
    spec = load_spec_text("name: T\nresources: {kelp: {kind: seaweed, grows_on: [water]}, berry: {}}")
    assert spec.resource_names == ("kelp", "berry")
    assert spec.resource_kinds == (ResourceKind.SEAWEED, ResourceKind.BERRY)


def test_a_declared_kind_outside_the_catalogue_is_refused_at_its_key() -> None:
    message = spec_error("name: T\nresources: {kelp: {kind: seawed}}")
    assert ": resources.kelp.kind: unknown resource kind 'seawed'" in message
    assert "did you mean 'seaweed'?" in message


def test_a_kind_appears_once_per_world() -> None:
    message = spec_error("name: T\nresources: {berry: {}, bilberry: {kind: berry}}")
    assert ": resources.bilberry: is kind 'berry', as resources.berry is already" in message


def test_an_unknown_resource_kind_without_near_miss_lists_the_kinds() -> None:
    message = spec_error("name: T\nresources: {plutonium: {}}")
    assert "did you mean" not in message
    for kind in ("berry", "mushroom", "water", "spring", "apple", "toadstool"):
        assert kind in message


def test_an_override_cannot_smuggle_in_an_unknown_kind() -> None:
    meadow = load_world_spec("Meadow-v0")
    data = to_dict(meadow)
    data["resources"]["truffle"] = data["resources"]["mushroom"]
    with pytest.raises(SpecError, match=r"resources\.truffle: unknown resource kind 'truffle'"):
        spec_from_dict(data, source="meadow.yaml")


# ------------------------------------------------------------------------------ malformed files
@pytest.mark.parametrize("text", ["name: T\nmap: {size: [32, 32\n", "name: [unclosed\n", "a: b: c\n"])
def test_malformed_yaml(text: str) -> None:
    assert "not valid YAML" in spec_error(text)


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("", "NoneType"), ("hello", "str"),
                                            ("42", "int")])
def test_non_mapping_root(text: str, kind: str) -> None:
    message = spec_error(text)
    assert "must be a mapping" in message and kind in message


def test_load_spec_names_the_file(tmp_path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: Broken\nresources:\n  berry: {regorw: 0.1}\n")
    with pytest.raises(SpecError, match=re.escape(f"{path}: resources.berry.regorw: unknown key")):
        load_spec(path)


def test_load_spec_missing_file(tmp_path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(SpecError, match=re.escape(str(path))):
        load_spec(path)


def test_spec_is_frozen() -> None:
    spec = load_world_spec("Meadow-v0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "Other"  # type: ignore[misc]


# ------------------------------------------------------------------------------ overrides
def test_with_overrides_applies_and_keeps_the_rest() -> None:
    spec = load_world_spec("Meadow-v0")
    changed = spec.with_overrides({"resources.berry.regrow": 0.02, "body.food.decay": 0.5, "reward": "none"})
    assert changed != spec
    assert changed.resources["berry"].regrow == 0.02
    assert changed.body.food.decay == 0.5
    assert changed.reward == "none"
    assert spec.resources["berry"].regrow != 0.02, "pick an override that changes something"
    assert spec.with_overrides({}).resources["berry"].regrow == spec.resources["berry"].regrow
    assert spec.body.food.decay != 0.5 and spec.reward != "none", "the original spec must not change"
    assert changed.resources["mushroom"] == spec.resources["mushroom"]
    assert changed.tunables()["resources.berry.regrow"] == 0.02


def test_load_spec_with_overrides(tmp_path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("name: W\nresources: {berry: {regrow: 0.1}}\n")
    assert load_spec(path, {"resources.berry.regrow": 0.3}).resources["berry"].regrow == 0.3
    assert load_world_spec("Meadow-v0", {"map.water": 0.0}).map.water == 0.0


@pytest.mark.parametrize(("overrides", "path", "expected"), [
    ({"resources.berry.regorw": 0.1}, "resources.berry.regorw", "did you mean 'regrow'?"),
    ({"resources.berrry.regrow": 0.1}, "resources.berrry", "did you mean 'berry'?"),
    ({"resources.berry.regrow": 2.0}, "resources.berry.regrow", "out of range"),
    ({"resources.berry.regrow": "fast"}, "resources.berry.regrow", "expected a finite number"),
    ({"observation.view": 6}, "observation.view", "must be odd"),
    ({"hazards.predator.count": 5}, "hazards.predator.count", "exceeds max_count"),
    ({"map.size": [7.5, 7]}, "map.size[0]", "expected an integer"),
])
def test_with_overrides_validates_and_names_the_path(overrides: dict, path: str, expected: str) -> None:
    spec = load_world_spec("Meadow-v0")
    with pytest.raises(SpecError) as info:
        spec.with_overrides(overrides)
    message = str(info.value)
    assert message.startswith(spec.source), message
    assert f": {path}: " in message, message
    assert expected in message


def test_override_of_a_static_shape_is_allowed_and_validated() -> None:
    spec = load_world_spec("Meadow-v0").with_overrides({"map.size": [16, 20], "observation.view": 5})
    assert spec.map.size == (16, 20) and spec.observation.view == 5


# ------------------------------------------------------------------------------ tunables
def test_tunables_exclude_static_fields() -> None:
    spec = load_world_spec("Shiftlands-v0")
    paths = set(spec.tunables())
    for static in ("map.size", "observation.view", "bodies", "hazards.predator.max_count", "body.respawn_delay"):
        assert not any(p == static or p.startswith(static + ".") or p.startswith(static + "[") for p in paths), static
    assert not any("color" in p for p in paths)
    assert not any(p.startswith("shifts") for p in paths)
    assert "source" not in paths and "name" not in paths


def test_tunables_include_every_gameplay_number() -> None:
    spec = load_world_spec("Meadow-v0")
    tunables = spec.tunables()
    for path in ("map.water", "resources.berry.regrow", "resources.berry.density", "resources.berry.effects.food",
                 "body.food.decay", "body.food.max", "body.move_cost", "body.comfort", "hazards.predator.count",
                 "hazards.predator.damage", "dynamics.slip", "dynamics.rotation", "observation.noise"):
        assert path in tunables, path
    assert tunables["resources.berry.effects.food"] == spec.resources["berry"].effects.food
    assert tunables["body.water.decay"] == spec.body.water.decay
    assert tunables["hazards.predator.count"] == spec.hazards.predator.count
    assert all(isinstance(v, float) for v in tunables.values())
    assert list(tunables) == list(spec.tunables()), "order must be fixed (the engine's parameter vector)"


def test_tunables_are_gameplay_numbers_only() -> None:
    """BUG: spec.py `WorldSpec.version` is a plain int field, so `tunables()` lists 'version' and a
    shift may `set: {version: 3}`; the version is an id, not a gameplay number."""
    paths = load_world_spec("Meadow-v0").tunables()
    stray = [p for p in paths if not p.startswith(GAMEPLAY_SECTIONS)]
    assert stray == []
