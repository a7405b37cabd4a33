"""The catalogue: the worlds the issue asks for are there, every file reads the same way, ``openworld
worlds`` and ``openworld show`` work, and the Drought's evaporation rule does what it says."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import openworld
from openworld.enums import Terrain
from openworld.registry import load_world_spec, resolve_world_id, world_entries, world_ids
from openworld.tools.cli import main
from openworld.tools.show import clip_frames, show_world, timeline_image
from openworld.world.engine import Engine
from openworld.world.shifts import ShiftSchedule
from openworld.world.spec import load_spec_text

CATALOGUE_DIR = Path(__file__).resolve().parents[2] / "worlds"
REQUIRED = ["Meadow", "Seasons", "Blight", "Drought", "Predators", "Drift", "MiniGridStream"]
SECTIONS = ["Description", "Observation", "Actions", "Shift schedule", "Variants", "Registered ids"]
OWN_FILES = sorted(p for p in CATALOGUE_DIR.glob("*.yaml") if not p.name.startswith("commons"))


@pytest.mark.parametrize("name", REQUIRED)
def test_required_worlds_are_registered_and_selectable_in_lower_case(name: str) -> None:
    assert resolve_world_id(name.lower()) == f"{name}-v0"
    assert gym.spec(f"openworld/{name}-v0") is not None


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda p: p.name)
def test_every_world_file_opens_with_the_same_sections(path: Path) -> None:
    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    text = "\n".join(header)
    found = [section for section in SECTIONS if re.search(rf"^# {section}\b", text, re.M)]
    assert found == SECTIONS, f"{path.name}: header sections {found}, expected {SECTIONS} in that order"
    positions = [text.index(f"# {section}") for section in SECTIONS]
    assert positions == sorted(positions), f"{path.name}: sections out of order"
    name = re.search(r"^name: (\w+)", path.read_text(), re.M)
    assert name is not None and f"openworld/{name.group(1)}-v0" in text


def test_every_shifting_world_changes_what_it_says() -> None:
    """Each required world's schedule touches the part of the world the issue names."""
    paths = {world: {path for shift in load_world_spec(world).shifts for path in shift.set}
             | {path for shift in load_world_spec(world).shifts for regime in shift.regimes for path in regime.set}
             for world in ("seasons", "blight", "drought", "predators", "drift")}
    assert load_world_spec("seasons").shifts[0].kind == "cyclic"
    assert {"resources.berry.effects.health", "resources.mushroom.effects.food"} <= paths["blight"]
    assert load_world_spec("blight").shifts[0].kind == "abrupt"
    assert {"rules.evaporation-v0.rate", "resources.spring.regrow"} <= paths["drought"]
    assert load_world_spec("drought").shifts[0].kind == "gradual"
    assert {"hazards.predator.count", "hazards.predator.sight", "hazards.predator.damage"} <= paths["predators"]
    assert {"dynamics.slip", "dynamics.rotation", "observation.noise"} <= paths["drift"]
    assert not load_world_spec("meadow").shifts


def test_openworld_worlds_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worlds"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(world_entries())
    for name in REQUIRED:
        assert any(line.startswith(f"openworld/{name}-v0 ") and len(line.split()) > 2 for line in lines), name


# ------------------------------------------------------------------------------------------ show
def test_show_writes_a_picture_with_map_and_timeline(tmp_path: Path) -> None:
    paths = show_world("seasons", tmp_path, variant="quick")
    assert [p.name for p in paths] == ["Seasons-v0-quick.png"]
    image = np.asarray(Image.open(paths[0]))
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 800
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20  # a map, not a blank page


def test_timeline_draws_every_shift_kind() -> None:
    spec = load_world_spec("shiftlands")
    image = timeline_image(spec)
    assert image.shape[0] >= 26 * len(spec.shifts)
    assert timeline_image(load_world_spec("meadow")).shape[1] == image.shape[1]


def test_show_cli_with_a_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "Blight", "--variant", "quick", "--gif", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    assert [Path(p).name for p in written] == ["Blight-v0-quick.png", "Blight-v0-quick.gif"]
    clip = Image.open(written[1])
    assert clip.n_frames > 50


def test_clip_of_the_minigrid_stream() -> None:
    frames = clip_frames("minigridstream", variant="quick", every=50)
    assert len(frames) > 5 and len({frame.shape for frame in frames}) == 1


def test_show_the_minigrid_stream(tmp_path: Path) -> None:
    paths = show_world("MiniGridStream", tmp_path)
    assert np.asarray(Image.open(paths[0])).shape[1] > 600


# ------------------------------------------------------------------------------------------ evaporation
LAKE = """
name: Lake
map: {size: [12, 12], water: 0.3, rock: 0.0, sand: 0.2, forest: 0.0}
resources:
  water: {grows_on: [water], density: 1.0, regrow: 0.0, effects: {water: 4.0}}
  spring: {grows_on: [sand], density: 0.5, regrow: 0.0, effects: {water: 4.0}}
rules:
  evaporation-v0: {rate: RATE}
"""


def available(engine: Engine, terrain: Terrain) -> np.ndarray:
    s = engine.state
    return ((s.terrain == terrain) & (s.resource > 0) & (s.ready_at <= s.clock[:, None, None])).sum((1, 2))


def test_evaporation_dries_lakes_at_its_rate_and_spares_the_land() -> None:
    engine = Engine(load_spec_text(LAKE.replace("RATE", "0.01")), num_worlds=8)
    engine.reset(list(range(8)), rng_seed=0)
    lakes, springs = available(engine, Terrain.WATER), available(engine, Terrain.SAND)
    idle = np.full((8, 1), int(openworld.Action.REST))
    for _ in range(100):
        engine.step(idle)
    # No refill (regrow 0): a cell survives 100 steps with probability 0.99 ** 100 = 0.37.
    fraction = available(engine, Terrain.WATER).sum() / lakes.sum()
    assert 0.3 < fraction < 0.45, fraction
    assert np.array_equal(available(engine, Terrain.SAND), springs)


def test_no_evaporation_at_rate_zero() -> None:
    engine = Engine(load_spec_text(LAKE.replace("RATE", "0.0")), num_worlds=2)
    engine.reset([0, 1], rng_seed=0)
    lakes = available(engine, Terrain.WATER)
    for _ in range(50):
        engine.step(np.full((2, 1), int(openworld.Action.REST)))
    assert np.array_equal(available(engine, Terrain.WATER), lakes)


def test_the_drought_dries_the_lakes_of_its_world() -> None:
    spec = load_world_spec("drought")
    schedule = ShiftSchedule(spec)
    rate = schedule.index["rules.evaporation-v0.rate"]
    assert schedule.values(np.array([0, 40_000, 60_000]))[:, rate].tolist() == [0.0, 0.01, 0.02]


def test_worlds_with_rules_are_in_the_engine_catalogue() -> None:
    assert "Drought-v0" in world_ids()


@pytest.mark.parametrize("entry", [e for e in world_entries() if e.engine_world and e.spec.rules],
                         ids=lambda e: e.world_id)
def test_worlds_with_rules_name_the_modules_that_register_them(entry) -> None:
    """So a copy of the file, run by its path (docs/designing-worlds.md), finds its rules too."""
    from openworld.world.rules import RULES

    modules = {RULES[rule_id].apply.__module__ for rule_id in entry.spec.rules}
    assert modules <= set(entry.spec.rule_modules), (entry.spec_path, modules)
