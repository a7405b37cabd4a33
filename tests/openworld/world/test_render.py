"""Tests of openworld.world.render: every registered world renders as RGB and as text, and the pictures
follow the state (vitals bars, depleted resources, dead bodies, predators)."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest

import openworld
from openworld.enums import Direction, Vital
from openworld.registry import load_world_spec
from openworld.world.engine import Engine
from openworld.world.render import FACING_CHARS, render_ansi, render_rgb, resource_letters
from openworld.world.sprites import OTHER_BODY_COLOUR, PREDATOR_COLOUR, SELF_COLOUR, VITAL_COLOURS, panel_height

WORLD_IDS = openworld.world_ids()
STATUS = re.compile(r"^step=(\d+) health=(\d\.\d\d) food=(\d\.\d\d) water=(\d\.\d\d) energy=(\d\.\d\d) (alive|dead)$")


def make_engine(world_id: str = "Meadow-v0", bodies: int = 1, seed: int = 0) -> Engine:
    engine = Engine(load_world_spec(world_id), num_worlds=1, bodies=bodies)
    engine.reset(seeds=[seed], rng_seed=seed)
    return engine


def cell_pixels(image: np.ndarray, cell: np.ndarray, tile: int) -> np.ndarray:
    """The ``(tile, tile, 3)`` pixels of a map cell given in map (unpadded) coordinates."""
    row, col = int(cell[0]), int(cell[1])
    return image[row * tile:(row + 1) * tile, col * tile:(col + 1) * tile]


def has_colour(pixels: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool((pixels.reshape(-1, 3) == np.array(colour, np.uint8)).all(-1).any())


def bar_rows(vital: Vital, tile: int, map_height: int) -> slice:
    """Pixel rows of one vital's bar in a rendered image (mirrors the panel's layout)."""
    bar, gap = max(3, tile), max(1, tile // 2)
    top = map_height * tile + gap + vital * (bar + gap)
    return slice(top, top + bar)


# --------------------------------------------------------------------------- every world, through gym


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_rgb_array_renders_the_whole_map_and_the_body(world_id: str) -> None:
    env = gym.make(f"openworld/{world_id}", render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    engine = env.unwrapped.engine  # type: ignore[attr-defined]
    assert isinstance(image, np.ndarray)
    assert image.dtype == np.uint8
    assert image.shape == (engine.height * 8 + panel_height(8), engine.width * 8, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 8
    body_cell = engine.state.body_pos[0, 0] - engine.radius
    assert has_colour(cell_pixels(image, body_cell, 8), SELF_COLOUR)
    env.close()


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_ansi_has_one_line_per_map_row_then_status_and_legend(world_id: str) -> None:
    env = gym.make(f"openworld/{world_id}", render_mode="ansi")
    env.reset(seed=0)
    env.step(0)
    text = env.render()
    engine = env.unwrapped.engine  # type: ignore[attr-defined]
    assert isinstance(text, str)
    lines = text.splitlines()
    assert len(lines) == engine.height + 2
    assert all(len(line) == engine.width for line in lines[:engine.height])
    status = STATUS.match(lines[engine.height])
    assert status is not None, lines[engine.height]
    assert int(status.group(1)) == int(engine.state.clock[0]) == 1
    assert status.group(6) == "alive"
    assert lines[-1].startswith("legend:")
    row, col = engine.state.body_pos[0, 0] - engine.radius
    assert lines[row][col] == FACING_CHARS[int(engine.state.body_dir[0, 0])]
    env.close()


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_vitals_panel_follows_the_vitals(world_id: str) -> None:
    env = gym.make(f"openworld/{world_id}", render_mode="rgb_array")
    env.reset(seed=0)
    engine = env.unwrapped.engine  # type: ignore[attr-defined]
    before = env.render()
    engine.state.vitals[0, 0, Vital.FOOD] = 0.0
    after = env.render()
    assert isinstance(before, np.ndarray) and isinstance(after, np.ndarray)
    food = bar_rows(Vital.FOOD, 8, engine.height)
    assert not np.array_equal(before[food], after[food])
    for vital in (Vital.HEALTH, Vital.WATER, Vital.ENERGY):
        rows = bar_rows(vital, 8, engine.height)
        np.testing.assert_array_equal(before[rows], after[rows])
    # The map itself did not change.
    np.testing.assert_array_equal(before[:engine.height * 8], after[:engine.height * 8])
    env.close()


# --------------------------------------------------------------------------- details, on the engine


@pytest.mark.parametrize("tile", [1, 2, 4, 8, 16])
def test_every_tile_size_gives_the_documented_shape(tile: int) -> None:
    engine = make_engine()
    image = render_rgb(engine, tile=tile)
    assert image.shape == (engine.height * tile + panel_height(tile), engine.width * tile, 3)


def test_bar_fill_is_proportional_to_the_vital() -> None:
    engine = make_engine()
    health_max = engine.params().vital_max[0, 0, Vital.HEALTH]
    lengths = []
    for fraction in (1.0, 0.5, 0.0):
        engine.state.vitals[0, 0, Vital.HEALTH] = fraction * health_max
        image = render_rgb(engine)
        middle = image[bar_rows(Vital.HEALTH, 8, engine.height)][4]
        lengths.append(int((middle == np.array(VITAL_COLOURS[Vital.HEALTH], np.uint8)).all(-1).sum()))
    icon = lengths[2]  # at zero only the icon is left in the bar's colour
    assert icon > 0
    assert lengths[0] - icon == pytest.approx(2 * (lengths[1] - icon), abs=1)


def test_depleted_resource_looks_different_and_is_lower_case() -> None:
    engine = make_engine()
    s, r = engine.state, engine.radius
    rows, cols = np.nonzero(s.resource[0, r:r + engine.height, r:r + engine.width])
    cell = np.array([rows[0], cols[0]])
    letter = resource_letters(engine.spec.resource_names)[s.resource[0, rows[0] + r, cols[0] + r] - 1]
    before_rgb, before_text = render_rgb(engine), render_ansi(engine)
    s.ready_at[0, rows[0] + r, cols[0] + r] = s.clock[0] + 100
    after_rgb, after_text = render_rgb(engine), render_ansi(engine)
    assert not np.array_equal(cell_pixels(before_rgb, cell, 8), cell_pixels(after_rgb, cell, 8))
    if not any(np.array_equal(p - r, cell) for p in s.body_pos[0]):  # unless a body hides it
        assert before_text.splitlines()[rows[0]][cols[0]] == letter.upper()
        assert after_text.splitlines()[rows[0]][cols[0]] == letter


def test_other_bodies_are_drawn_and_dead_ones_are_not() -> None:
    engine = make_engine(bodies=3, seed=1)
    s, r = engine.state, engine.radius
    cells = s.body_pos[0] - r
    assert len({tuple(c) for c in cells.tolist()}) == 3, "bodies share a cell; pick another seed"
    image = render_rgb(engine, body=0)
    assert has_colour(cell_pixels(image, cells[0], 8), SELF_COLOUR)
    assert not has_colour(cell_pixels(image, cells[0], 8), OTHER_BODY_COLOUR)
    for n in (1, 2):
        assert has_colour(cell_pixels(image, cells[n], 8), OTHER_BODY_COLOUR)
    s.alive[0, 1] = False
    image = render_rgb(engine, body=0)
    assert not has_colour(cell_pixels(image, cells[1], 8), OTHER_BODY_COLOUR)
    text = render_ansi(engine, body=2)
    assert text.splitlines()[cells[2][0]][cells[2][1]] in FACING_CHARS
    assert text.splitlines()[cells[0][0]][cells[0][1]] == "&"


def test_dead_rendered_body_is_not_drawn_and_reported_dead() -> None:
    engine = make_engine()
    cell = engine.state.body_pos[0, 0] - engine.radius
    engine.state.alive[0, 0] = False
    image = render_rgb(engine)
    assert not has_colour(cell_pixels(image, cell, 8), SELF_COLOUR)
    for vital in Vital:  # bars grey out
        assert not has_colour(image[bar_rows(vital, 8, engine.height)], VITAL_COLOURS[vital])
    assert render_ansi(engine).splitlines()[-2].endswith(" dead")


def test_active_predators_are_drawn() -> None:
    engine = make_engine("Meadow-v0")
    active = int(engine.params().predator_count[0, 0])
    assert active >= 1
    image = render_rgb(engine)
    text = render_ansi(engine).splitlines()
    for pos in engine.state.pred_pos[0, :active] - engine.radius:
        assert has_colour(cell_pixels(image, pos, 8), PREDATOR_COLOUR)
        assert text[pos[0]][pos[1]] in ("X", *FACING_CHARS)  # the rendered body is drawn on top


def test_facing_changes_the_body_tile() -> None:
    engine = make_engine()
    cell = engine.state.body_pos[0, 0] - engine.radius
    tiles = []
    for direction in Direction:
        engine.state.body_dir[0, 0] = direction
        tiles.append(cell_pixels(render_rgb(engine, tile=16), cell, 16).copy())
        assert render_ansi(engine).splitlines()[cell[0]][cell[1]] == FACING_CHARS[direction]
    assert len({t.tobytes() for t in tiles}) == len(Direction)


def test_resource_letters_are_distinct_and_avoid_map_symbols() -> None:
    assert resource_letters(("berry", "mushroom", "water")) == ["b", "m", "w"]
    assert resource_letters(("berry", "bean", "truffle", "vine", "xylem")) == ["b", "e", "r", "i", "y"]
    many = resource_letters(tuple(f"berry{i}" for i in range(20)))
    assert len(set(many)) == 20 and not set(many) & {"t", "v", "x"}


def test_render_rejects_bad_arguments() -> None:
    engine = make_engine()
    with pytest.raises(ValueError, match="world must be in"):
        render_rgb(engine, world=1)
    with pytest.raises(ValueError, match="body must be in"):
        render_ansi(engine, body=1)
    with pytest.raises(ValueError, match="tile must be"):
        render_rgb(engine, tile=0)
    unreset = Engine(load_world_spec("Meadow-v0"), num_worlds=1)
    with pytest.raises(ValueError, match="reset"):
        render_ansi(unreset)
