"""Variants and held-out splits: every world has them, they reach every constructor, and every mistake in
a variant is an error that names the file, the variant and the key."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import openworld
from openworld.envs.single import OpenWorldEnv
from openworld.envs.vector import OpenWorldVectorEnv
from openworld.registry import UnknownIdError, load_world_spec, world_ids
from openworld.variants import (
    SPLITS,
    UnknownVariantError,
    VariantSet,
    apply_variant,
    catalogue_variants,
    get_variant,
    variant_of,
    world_variants,
)
from openworld.world.shifts import ShiftSchedule
from openworld.world.spec import SpecError, WorldSpec, load_spec_text, to_dict

ALL_WORLDS = world_ids(engine_only=False)
CATALOGUE = [w for w in ALL_WORLDS if w != "Commons-v0"]  # Commons (multi-agent) varies by group size instead
SOURCE = "worlds/tiny.yaml"
TINY = """
name: Tiny
map: {size: [10, 10]}
resources:
  berry: {grows_on: [grass], density: 0.1, regrow: 0.01, effects: {food: 3.0}}
shifts:
  - {name: blight, kind: abrupt, at: 100, set: {resources.berry.effects.health: -2.0}}
  - name: seasons
    kind: cyclic
    start: 50
    period: 40
    regimes:
      - {name: summer, set: {resources.berry.regrow: 0.02}}
      - {name: winter, set: {resources.berry.regrow: 0.001}}
variants:
"""


def tiny(variants: str) -> WorldSpec:
    return load_spec_text(TINY + variants, source=SOURCE)


def schedule_summary(spec: WorldSpec) -> list[tuple[Any, ...]]:
    return [(s.name, s.kind, s.at, s.start, s.end, s.period, s.set) for s in spec.shifts]


# ------------------------------------------------------------------------------------------ the catalogue
@pytest.mark.parametrize("world_id", CATALOGUE)
def test_every_world_has_training_heldout_and_quick_variants(world_id: str) -> None:
    variants = world_variants(world_id)
    assert variants.split("train").names, f"{world_id} has no training variant"
    assert variants.split("heldout").names, f"{world_id} has no held-out variant"
    assert variants["quick"].split == "dev"
    for variant in variants:
        assert variant.description, f"{variant.key} has no description"
        assert variant.seeds, f"{variant.key} has no seeds"
        assert variant.world_spec().variants == {}


@pytest.mark.parametrize("world_id", CATALOGUE)
def test_a_heldout_variant_changes_the_kind_size_or_timing_of_a_shift(world_id: str) -> None:
    """At least one held-out split holds out a shift that training never shows (not only new maps)."""
    base = load_world_spec(world_id)
    trained = [schedule_summary(v.world_spec()) for v in world_variants(world_id).split("train")]
    heldout = [schedule_summary(v.world_spec()) for v in world_variants(world_id).split("heldout")]
    if not base.shifts:  # the stationary control holds out a level (regrowth) never trained on instead
        assert any(v.world_spec().tunables() != base.tunables() for v in world_variants(world_id).split("heldout"))
        return
    assert any(schedule not in trained for schedule in heldout), f"{world_id}: every held-out schedule is trained on"


def test_heldout_seeds_are_never_training_seeds() -> None:
    for world_id in CATALOGUE:
        variants = world_variants(world_id)
        train = {seed for v in variants.split("train") for seed in v.seeds}
        heldout = {seed for v in variants.split("heldout") for seed in v.seeds}
        assert not train & heldout, world_id


def test_catalogue_variants_span_every_world() -> None:
    everything = catalogue_variants()
    assert set(everything.worlds) == set(ALL_WORLDS)
    assert "Seasons-v0:heldout_short_year" in everything.names
    assert everything["Seasons-v0:heldout_short_year"].name == "heldout_short_year"
    with pytest.raises(KeyError, match="ambiguous"):
        everything["quick"]


# ------------------------------------------------------------------------------------------ constructors
def test_env_records_and_applies_the_variant() -> None:
    env = OpenWorldEnv("seasons", variant="heldout_short_year")
    assert env.variant == "heldout_short_year" and env.world_spec.shifts[0].period == 4000
    assert OpenWorldEnv("seasons").variant is None
    made = gym.make("openworld/Seasons-v0", variant="quick")
    assert made.unwrapped.variant == "quick" and variant_of(made) == "quick"  # type: ignore[attr-defined]
    assert made.unwrapped.world_spec.shifts[0].period == 1500  # type: ignore[attr-defined]


def test_vector_env_records_and_applies_the_variant() -> None:
    envs = gym.make_vec("openworld/Blight-v0", num_envs=2, vectorization_mode="vector_entry_point",
                        variant="heldout_early")
    assert isinstance(envs.unwrapped, OpenWorldVectorEnv)
    assert envs.unwrapped.variant == "heldout_early" and envs.unwrapped.world_spec.shifts[0].at == 5000
    envs.close()


def test_overrides_apply_on_top_of_the_variant() -> None:
    env = OpenWorldEnv("blight", variant="heldout_severe", overrides={"resources.berry.regrow": 0.02})
    assert env.world_spec.resources["berry"].regrow == 0.02
    assert env.world_spec.shifts[0].set["resources.berry.effects.health"] == -8.0
    with pytest.raises(SpecError, match="variants.heldout_severe: resources.bery: unknown key in override"):
        OpenWorldEnv("blight", variant="heldout_severe", overrides={"resources.bery.regrow": 0.02})


def test_unknown_variant_lists_the_variants() -> None:
    with pytest.raises(UnknownVariantError) as info:
        OpenWorldEnv("seasons", variant="heldout_erly")
    message = str(info.value)
    assert "unknown variant 'heldout_erly' of Seasons-v0" in message and "heldout_short_year" in message
    assert isinstance(info.value, UnknownIdError)  # the CLI reports it like an unknown world
    with pytest.raises(UnknownVariantError, match="Did you mean 'quick'"):
        gym.make("openworld/Blight-v0", variant="quik")


def test_variant_values() -> None:
    variants = world_variants("blight")
    assert isinstance(variants, VariantSet) and len(variants) == len(variants.names)
    early = get_variant("blight", "heldout_early")
    assert early.key == "Blight-v0:heldout_early" and early.world == "Blight-v0"
    assert variants.filter(lambda v: 5000 in [s.at for s in v.world_spec().shifts]).names == ("heldout_early",)
    rng = np.random.default_rng(0)
    assert variants.split("heldout").sample(rng).split == "heldout"
    tasks = variants.split("heldout").sample_tasks(rng, 5)
    assert len({(v.name, seed) for v, seed in tasks}) == 5
    assert all(seed in v.seeds for v, seed in tasks)
    assert len(variants.split("train").tasks()) == sum(len(v.seeds) for v in variants.split("train"))
    with pytest.raises(ValueError, match="unknown split"):
        variants.split("test")
    assert set(SPLITS) == {"train", "heldout", "dev"}
    env = early.make()
    assert env.unwrapped.variant == "heldout_early"
    vec = early.make_vec(2)
    assert vec.unwrapped.variant == "heldout_early"
    vec.close()


# ------------------------------------------------------------------------------------------ patch semantics
def test_patch_timing_size_and_kind() -> None:
    spec = tiny("""
  early: {split: train, shifts: {blight: {at: 20}}}
  severe: {split: train, shifts: {blight: {set: {resources.berry.effects.health: -9.0, resources.berry.regrow: 0.0}}}}
  creeping: {split: train, shifts: {blight: {kind: gradual, start: 100, end: 300}}}
  no_blight: {split: train, shifts: {blight: null}}
  plus_drought: {split: train, shifts: {drought: {kind: abrupt, at: 70, set: {resources.berry.density: 0.01}}}}
  harsh_winter: {split: train, shifts: {seasons: {regimes: {winter: {set: {resources.berry.regrow: 0.0}}}}}}
  other_schedule:
    split: train
    shifts: [{name: only, kind: abrupt, at: 5, set: {body.food.decay: 0.1}}]
""")
    def shifts(name: str) -> dict[str, Any]:
        return {s.name: s for s in apply_variant(spec, name).shifts}
    assert shifts("early")["blight"].at == 20
    assert shifts("severe")["blight"].set == {"resources.berry.effects.health": -9.0, "resources.berry.regrow": 0.0}
    creeping = shifts("creeping")["blight"]
    assert (creeping.kind, creeping.start, creeping.end) == ("gradual", 100, 300)
    assert ShiftSchedule(apply_variant(spec, "creeping")).regime_name(200) == "blight~+winter"
    assert list(shifts("no_blight")) == ["seasons"]
    assert list(shifts("plus_drought")) == ["blight", "seasons", "drought"]
    assert shifts("harsh_winter")["seasons"].regimes[1].set == {"resources.berry.regrow": 0.0}
    assert shifts("harsh_winter")["seasons"].regimes[0].set == {"resources.berry.regrow": 0.02}
    assert list(shifts("other_schedule")) == ["only"]
    assert apply_variant(spec, "early").source == f"{SOURCE}: variants.early"


def test_a_set_path_can_be_dropped_with_null() -> None:
    spec = tiny("  v: {split: train, shifts: {blight: {set: {resources.berry.effects.health: null, "
                "resources.berry.regrow: 0.5}}}}\n")
    assert apply_variant(spec, "v").shifts[0].set == {"resources.berry.regrow": 0.5}


def test_variants_round_trip_through_plain_data() -> None:
    spec = load_world_spec("seasons")
    from openworld.world.spec import spec_from_dict

    again = spec_from_dict(to_dict(spec), source="again")
    assert again == spec and again.variants == spec.variants


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(("variants", "expected"), [
    ("  v: {split: train, overrides: {resources.bery.regrow: 0.1}}\n",
     "variants.v.overrides: resources.bery: unknown key in override (did you mean 'berry'?)"),
    ("  v: {split: train, overrides: {resources.berry.regrow: 2.0}}\n",
     "variants.v: resources.berry.regrow: 2.0 is out of range [0.0, 1.0]"),
    ("  v: {split: train, overrides: {resources.berry.regrouw: 0.1}}\n",
     "variants.v: resources.berry.regrouw: unknown key (did you mean 'regrow'?)"),
    ("  v: {split: train, overrides: {shifts: []}}\n",
     "variants.v.overrides.shifts: 'shifts' cannot be overridden by a variant (change the schedule in"),
    ("  v: {split: train, shifts: {blihgt: {at: 5}}}\n",
     "variants.v.shifts.blihgt: the world has no shift 'blihgt' (did you mean 'blight'?)"),
    ("  v: {split: train, shifts: {blight: {att: 5}}}\n",
     "variants.v.shifts.blight.att: unknown key (did you mean 'at'?)"),
    ("  v: {split: train, shifts: {blight: {at: -5}}}\n",
     "variants.v: shifts[0].at: -5 is out of range"),
    ("  v: {split: train, shifts: {blight: {set: {resources.berry.effects.helth: 1.0}}}}\n",
     "variants.v: shifts[0].set.resources.berry.effects.helth: is not a tunable parameter of this world "
     "(did you mean 'resources.berry.effects.health'?)"),
    ("  v: {split: train, shifts: {seasons: {regimes: {wintr: {set: {}}}}}}\n",
     "variants.v.shifts.seasons.regimes.wintr: the shift has no regime 'wintr' (did you mean 'winter'?)"),
    ("  v: {split: train, shifts: {blight: {kind: gradual, start: 100, end: 50}}}\n",
     "variants.v: shifts[0].end: a gradual shift needs end > start"),
    ("  v: {split: tran}\n", "variants.v.split: must be one of ['train', 'heldout', 'dev'], got 'tran' "
                             "(did you mean 'train'?)"),
    ("  v: {split: train, seed: [1]}\n", "variants.v.seed: unknown key (did you mean 'seeds'?)"),
    ("  Held-Out: {split: heldout}\n", "variants.Held-Out: a variant name is lower case letters"),
    ("  a: {split: train, seeds: [1, 2]}\n  b: {split: heldout, seeds: [3, 2]}\n",
     "variants.b.seeds[1]: seed 2 also belongs to the training variant 'a'"),
])
def test_variant_mistakes_name_the_file_variant_and_key(variants: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        tiny(variants)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: "), message
    assert expected in message, message


def test_unknown_variant_of_a_spec() -> None:
    with pytest.raises(UnknownVariantError, match="Variants: none"):
        apply_variant(load_spec_text("name: Bare"), "quick")


def test_cli_reports_an_unknown_variant(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    from openworld.tools.cli import main

    assert main(["show", "seasons", "--variant", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown variant 'nope' of Seasons-v0" in capsys.readouterr().err


def test_world_ids_lists_engine_worlds_by_default() -> None:
    assert set(openworld.world_ids()) <= set(ALL_WORLDS)
    assert {"Meadow-v0", "Seasons-v0", "Blight-v0", "Drought-v0", "Predators-v0", "Drift-v0",
            "Shiftlands-v0"} <= set(openworld.world_ids())
