"""Golden-table tests of the engine's rules on tiny hand-built worlds.

Each test builds a small all-grass world from YAML, puts bodies, resources, terrain and predators
where it wants them by writing the state arrays, takes one or a few steps and compares with numbers
worked out by hand from the phase order ``intent -> move -> interact -> metabolise -> hazards ->
rules -> settle_deaths -> tick``.
"""

from __future__ import annotations

import numpy as np
import pytest

from openworld.enums import RESOURCE_CAPACITY, Action, Direction, Entity, ResourceKind, Terrain, ViewChannel, Vital
from openworld.registry import load_world_spec
from openworld.world.engine import NEVER_READY, Engine
from openworld.world.rules import RULES, RuleEffect, register_rule
from openworld.world.spec import WorldSpec, load_spec_text, spec_from_dict, to_dict
from openworld.world.state import WorldState, make_rngs

TINY = """
name: Tiny
map: {size: [7, 7], water: 0.0, rock: 0.0, sand: 0.0, forest: 0.0}
resources:
  berry: {grows_on: [grass], density: 0.0, regrow: 1.0, effects: {food: 3.0}}
  toadstool: {grows_on: [grass], density: 0.0, regrow: 0.0, effects: {health: -4.0, food: 1.0}}
body:
  health: {max: 10, start: 10, decay: 0.0}
  food: {max: 10, start: 8, decay: 0.02}
  water: {max: 10, start: 8, decay: 0.03}
  energy: {max: 10, start: 8, decay: 0.01}
  move_cost: 0.25
  rest_gain: 0.5
  starvation_damage: 0.1
  heal_rate: 0.05
  comfort: 0.5
  respawn_delay: 4
observation: {view: 5}
"""
BERRY, TOADSTOOL = 1, 2  # stored in the engine's state: 1 + index in the spec's resources
# What the view shows: the catalogue codes, the same in every world (regrowing: + RESOURCE_CAPACITY).
SEEN_BERRY, SEEN_TOADSTOOL = int(ResourceKind.BERRY), int(ResourceKind.TOADSTOOL)
# A predator world: one predator that always moves (speed 1), no healing to keep health arithmetic plain.
HUNTED = TINY.replace("map: {size: [7, 7]", "map: {size: [9, 9]").replace("heal_rate: 0.05", "heal_rate: 0.0") + \
    "hazards:\n  predator: {max_count: 1, count: 1, speed: 1.0, sight: 3, damage: 2.0, reach: 1}\n"
ABS = 1e-9


def make(text: str = TINY, bodies: int | None = None, seed: int = 0) -> Engine:
    engine = Engine(load_spec_text(text, source="tiny.yaml"), num_worlds=1, bodies=bodies)
    engine.reset(seeds=[seed], rng_seed=seed)
    return engine


def cell(engine: Engine, row: int, col: int) -> int:
    """Flat padded cell of map coordinates (row, col)."""
    return (engine.radius + row) * engine.padded_shape[1] + engine.radius + col


def place(engine: Engine, row: int, col: int, facing: Direction = Direction.EAST, body: int = 0) -> None:
    engine.state.body_cell[0, body] = cell(engine, row, col)
    engine.state.body_dir[0, body] = int(facing)


def body_rc(engine: Engine, body: int = 0) -> tuple[int, int]:
    row, col = engine.state.body_pos[0, body]
    return int(row) - engine.radius, int(col) - engine.radius


def put_resource(engine: Engine, code: int, row: int, col: int, ready_at: int = 0) -> None:
    r = engine.radius
    engine.state.resource[0, r + row, r + col] = code
    engine.state.ready_at[0, r + row, r + col] = ready_at


def put_terrain(engine: Engine, terrain: Terrain, row: int, col: int) -> None:
    engine.state.terrain[0, engine.radius + row, engine.radius + col] = terrain


def set_vitals(engine: Engine, health: float, food: float, water: float, energy: float, body: int = 0) -> None:
    engine.state.vitals[0, body] = [health, food, water, energy]


def vitals(engine: Engine, body: int = 0) -> list[float]:
    return engine.state.vitals[0, body].tolist()


def act(engine: Engine, *actions: Action):
    return engine.step(np.array([[int(a) for a in actions]], dtype=np.int64))


def view_of(engine: Engine, body: int = 0) -> np.ndarray:
    return engine.observe()[0][0, body]


# ================================================================== metabolism, by table
# Decay per step: health 0, food 0.02, water 0.03, energy 0.01; moves cost 0.25 energy more, rest
# gains 0.5; comfortable = food, water, energy all > 5, heals 0.05; each empty need costs 0.1 health.
METABOLISM = [
    # (case, start vitals, action, expected vitals after one step)
    ("idle, comfortable: heals", [6, 8, 8, 8], Action.NOOP, [6.05, 7.98, 7.97, 7.99]),
    ("idle, hungry: no healing", [6, 4, 8, 8], Action.NOOP, [6, 3.98, 7.97, 7.99]),
    ("one need at comfort is not above it", [6, 8, 5.03, 8], Action.NOOP, [6, 7.98, 5.0, 7.99]),
    ("health capped at max", [9.98, 8, 8, 8], Action.NOOP, [10, 7.98, 7.97, 7.99]),
    ("move costs energy", [6, 4, 8, 8], Action.EAST, [6, 3.98, 7.97, 7.74]),
    ("rest gains energy", [6, 4, 8, 8], Action.REST, [6, 3.98, 7.97, 8.49]),
    ("rest capped at max", [6, 4, 8, 9.8], Action.REST, [6, 3.98, 7.97, 10]),
    ("one empty need", [6, 0, 8, 8], Action.NOOP, [5.9, 0, 7.97, 7.99]),
    ("decays to empty this step", [6, 0.01, 8, 8], Action.NOOP, [5.9, 0, 7.97, 7.99]),
    ("two empty needs: twice", [6, 0, 0, 8], Action.NOOP, [5.8, 0, 0, 7.99]),
    ("three empty needs", [6, 0, 0, 0], Action.NOOP, [5.7, 0, 0, 0]),
    ("a tired move empties energy", [6, 4, 8, 0.2], Action.WEST, [5.9, 3.98, 7.97, 0]),
    ("interact with nothing", [6, 4, 8, 8], Action.INTERACT, [6, 3.98, 7.97, 7.99]),
]


@pytest.mark.parametrize(("start", "action", "expected"), [row[1:] for row in METABOLISM],
                         ids=[row[0] for row in METABOLISM])
def test_metabolism_table(start: list[float], action: Action, expected: list[float]) -> None:
    engine = make()
    place(engine, 3, 3, Direction.NORTH)
    set_vitals(engine, *start)
    outcome = act(engine, action)
    assert vitals(engine) == pytest.approx(expected, abs=ABS)
    assert outcome.damage[0, 0] == pytest.approx(max(0.0, start[0] - expected[0]), abs=ABS)
    assert outcome.predator_damage[0, 0] == 0.0
    assert engine.state.alive[0, 0]


def test_decay_over_many_steps_is_exact() -> None:
    engine = make()
    set_vitals(engine, 4, 8, 8, 8)  # needs stay above comfort (5) for 50 steps: heals every step
    for _ in range(50):
        act(engine, Action.NOOP)
    assert vitals(engine)[1:] == pytest.approx([8 - 50 * 0.02, 8 - 50 * 0.03, 8 - 50 * 0.01], abs=1e-9)
    assert vitals(engine)[0] == pytest.approx(4 + 50 * 0.05, abs=1e-9)


# ================================================================== eating
EATING = [
    # (case, resource, start vitals, expected vitals): effects are added, clipped to [0, max], then decay.
    ("berry at food 3", BERRY, [6, 3, 8, 8], [6.05, 5.98, 7.97, 7.99]),
    ("berry while hungry stays uncomfortable", BERRY, [6, 1, 8, 8], [6, 3.98, 7.97, 7.99]),
    ("berry caps at max", BERRY, [6, 9, 8, 8], [6.05, 9.98, 7.97, 7.99]),
    ("poison", TOADSTOOL, [10, 8, 8, 8], [6.05, 8.98, 7.97, 7.99]),
    ("poison while hungry", TOADSTOOL, [10, 2, 8, 8], [6, 2.98, 7.97, 7.99]),
]


@pytest.mark.parametrize(("code", "start", "expected"), [row[1:] for row in EATING], ids=[row[0] for row in EATING])
def test_eating_table(code: int, start: list[float], expected: list[float]) -> None:
    engine = make()
    place(engine, 3, 3, Direction.EAST)
    put_resource(engine, code, 3, 4)
    set_vitals(engine, *start)
    outcome = act(engine, Action.INTERACT)
    assert outcome.consumed[0, 0] == code - 1
    assert vitals(engine) == pytest.approx(expected, abs=ABS)
    assert body_rc(engine) == (3, 3), "interacting does not move"


def test_eating_uses_the_facing_direction() -> None:
    engine = make()
    place(engine, 3, 3, Direction.NORTH)
    put_resource(engine, BERRY, 3, 4)  # to the east, not faced
    set_vitals(engine, 6, 3, 8, 8)
    assert act(engine, Action.INTERACT).consumed[0, 0] == -1
    assert vitals(engine)[1] == pytest.approx(2.98)
    # A cell holding a resource blocks: moving toward it only turns the body to face it (and costs the move).
    act(engine, Action.EAST)
    assert body_rc(engine) == (3, 3)
    assert engine.state.body_dir[0, 0] == Direction.EAST
    assert vitals(engine)[Vital.ENERGY] == pytest.approx(8 - 2 * 0.01 - 0.25)
    assert act(engine, Action.INTERACT).consumed[0, 0] == 0


def test_a_depleted_resource_still_blocks() -> None:
    engine = make()
    place(engine, 3, 3, Direction.NORTH)
    put_resource(engine, BERRY, 3, 4, ready_at=1000)
    act(engine, Action.EAST)
    assert body_rc(engine) == (3, 3)


def test_depleted_cell_cannot_be_eaten_until_ready_at() -> None:
    engine = make()
    place(engine, 3, 3, Direction.EAST)
    put_resource(engine, BERRY, 3, 4, ready_at=2)
    set_vitals(engine, 6, 3, 8, 8)
    eaten = []
    for _ in range(4):
        eaten.append(int(act(engine, Action.INTERACT).consumed[0, 0]))
    # clock 0 and 1: ready_at 2 > clock; at clock 2 it is eaten; regrow 1.0 makes it ready again at 3.
    assert eaten == [-1, -1, 0, 0]
    assert vitals(engine)[1] == pytest.approx(min(10, 3 - 2 * 0.02 + 3 - 0.02 + 3) - 0.02, abs=ABS)


def test_regrow_one_regrows_by_the_next_step() -> None:
    engine = make()
    place(engine, 3, 3, Direction.EAST)
    put_resource(engine, BERRY, 3, 4)
    set_vitals(engine, 6, 1, 8, 8)
    assert act(engine, Action.INTERACT).consumed[0, 0] == 0
    r = engine.radius
    assert engine.state.ready_at[0, r + 3, r + 4] == 1  # eaten at clock 0, delay exactly 1
    assert view_of(engine)[r, r + 1, ViewChannel.RESOURCE] == SEEN_BERRY, "visible again after the step"
    assert act(engine, Action.INTERACT).consumed[0, 0] == 0


def test_regrow_zero_never_regrows() -> None:
    engine = make()
    place(engine, 3, 3, Direction.EAST)
    put_resource(engine, TOADSTOOL, 3, 4)
    set_vitals(engine, 10, 5, 8, 8)
    assert act(engine, Action.INTERACT).consumed[0, 0] == 1
    r = engine.radius
    assert engine.state.ready_at[0, r + 3, r + 4] == NEVER_READY
    for _ in range(200):
        assert act(engine, Action.INTERACT).consumed[0, 0] == -1
    assert view_of(engine)[r, r + 1, ViewChannel.RESOURCE] == 10 + 32, "shown as regrowing"
    assert engine.state.resource[0, r + 3, r + 4] == TOADSTOOL, "a depleted cell keeps its kind"


def test_lethal_poison_kills() -> None:
    """BUG: engine.py `_metabolise` heals (heal_rate) a comfortable body whose health a poison has just
    clipped to 0 in `_interact`, before `_settle_deaths` looks: a lethal dose leaves it alive at 0.05."""
    engine = make()
    place(engine, 3, 3, Direction.EAST)
    put_resource(engine, TOADSTOOL, 3, 4)
    set_vitals(engine, 4, 8, 8, 8)  # -4 health: exactly lethal
    outcome = act(engine, Action.INTERACT)
    assert outcome.consumed[0, 0] == 1
    assert outcome.died[0, 0]
    assert not engine.state.alive[0, 0]


# ================================================================== death
def test_death_when_health_hits_zero() -> None:
    engine = make()
    for _ in range(3):
        act(engine, Action.NOOP)
    set_vitals(engine, 0.05, 0, 8, 8)  # one empty need: -0.1 health
    outcome = act(engine, Action.NOOP)
    s = engine.state
    assert outcome.died[0, 0] and not s.alive[0, 0]
    assert s.deaths[0, 0] == 1
    assert s.clock[0] == 4
    assert s.respawn_at[0, 0] == 4 + 4, "clock after the step + respawn_delay"
    assert vitals(engine) == [0, 0, 0, 0]
    assert outcome.damage[0, 0] == pytest.approx(0.1)


def test_dead_body_is_inert_and_does_not_die_twice() -> None:
    engine = make()
    place(engine, 3, 3, Direction.EAST)
    put_resource(engine, BERRY, 3, 4)
    set_vitals(engine, 0.05, 0, 0, 0)
    assert act(engine, Action.NOOP).died[0, 0]
    cell_before = int(engine.state.body_cell[0, 0])
    for action in (Action.INTERACT, Action.EAST, Action.REST, Action.NOOP):
        outcome = act(engine, action)
        assert not outcome.died[0, 0] and outcome.consumed[0, 0] == -1 and outcome.damage[0, 0] == 0
        assert vitals(engine) == [0, 0, 0, 0]
    assert int(engine.state.body_cell[0, 0]) == cell_before
    assert engine.state.deaths[0, 0] == 1


def test_respawn_when_ready_waits_for_the_delay() -> None:
    engine = make()
    set_vitals(engine, 0.05, 0, 8, 8)
    act(engine, Action.NOOP)  # dies; clock 1, respawn_at 5
    everyone = np.ones((1, 1), bool)
    for clock in (1, 2, 3, 4):
        assert engine.state.clock[0] == clock
        engine.respawn_when_ready(everyone)
        assert not engine.state.alive[0, 0], clock
        act(engine, Action.NOOP)
    engine.respawn_when_ready(everyone)
    assert engine.state.alive[0, 0]
    assert vitals(engine) == [10, 8, 8, 8], "back with the spec's start values"
    r, (row, col) = engine.radius, body_rc(engine)
    assert engine.state.terrain[0, r + row, r + col] == Terrain.GRASS


def test_auto_respawn_inside_step() -> None:
    engine = Engine(load_spec_text(TINY), num_worlds=1, auto_respawn=True)
    engine.reset(seeds=[0], rng_seed=0)
    set_vitals(engine, 0.05, 0, 8, 8)
    assert act(engine, Action.NOOP).died[0, 0]
    respawned = [bool(act(engine, Action.NOOP).respawned[0, 0]) for _ in range(4)]
    assert respawned == [False, False, False, True]  # at clock 1 + 4 = 5
    assert engine.state.alive[0, 0] and engine.state.clock[0] == 5


# ================================================================== movement
def test_move_into_free_cell() -> None:
    engine = make()
    place(engine, 3, 3, Direction.NORTH)
    for action, expected, facing in [(Action.EAST, (3, 4), Direction.EAST), (Action.SOUTH, (4, 4), Direction.SOUTH),
                                      (Action.WEST, (4, 3), Direction.WEST), (Action.NORTH, (3, 3), Direction.NORTH)]:
        act(engine, action)
        assert body_rc(engine) == expected
        assert engine.state.body_dir[0, 0] == facing


@pytest.mark.parametrize("terrain", [Terrain.ROCK, Terrain.WATER])
def test_moves_blocked_by_terrain(terrain: Terrain) -> None:
    engine = make()
    place(engine, 3, 3, Direction.NORTH)
    put_terrain(engine, terrain, 3, 4)
    set_vitals(engine, 6, 4, 8, 8)
    act(engine, Action.EAST)
    assert body_rc(engine) == (3, 3)
    assert engine.state.body_dir[0, 0] == Direction.EAST, "a blocked move still turns the body"
    assert vitals(engine)[Vital.ENERGY] == pytest.approx(8 - 0.01 - 0.25), "and still costs the move"


@pytest.mark.parametrize("terrain", [Terrain.SAND, Terrain.FOREST, Terrain.GRASS])
def test_walkable_terrain(terrain: Terrain) -> None:
    engine = make()
    place(engine, 3, 3)
    put_terrain(engine, terrain, 3, 4)
    act(engine, Action.EAST)
    assert body_rc(engine) == (3, 4)


@pytest.mark.parametrize(("row", "col", "action"), [(0, 3, Action.NORTH), (6, 3, Action.SOUTH),
                                                    (3, 0, Action.WEST), (3, 6, Action.EAST)])
def test_moves_blocked_by_the_edge_of_the_world(row: int, col: int, action: Action) -> None:
    engine = make()
    place(engine, row, col)
    for _ in range(3):
        act(engine, action)
    assert body_rc(engine) == (row, col)


def test_bodies_may_share_a_cell() -> None:
    engine = make(bodies=2)
    place(engine, 3, 3, body=0)
    place(engine, 3, 5, body=1)
    act(engine, Action.EAST, Action.WEST)
    assert body_rc(engine, 0) == body_rc(engine, 1) == (3, 4)


# ================================================================== contested resources
@pytest.mark.parametrize("swap", [False, True])
def test_two_bodies_claiming_one_resource_lower_index_wins(swap: bool) -> None:
    engine = make(bodies=2)
    left, right = (1, 0) if swap else (0, 1)
    place(engine, 3, 2, Direction.EAST, body=left)
    place(engine, 3, 4, Direction.WEST, body=right)
    put_resource(engine, BERRY, 3, 3)
    set_vitals(engine, 6, 3, 8, 8, body=0)
    set_vitals(engine, 6, 3, 8, 8, body=1)
    outcome = act(engine, Action.INTERACT, Action.INTERACT)
    assert outcome.consumed[0].tolist() == [0, -1]
    assert vitals(engine, 0)[Vital.FOOD] == pytest.approx(5.98)
    assert vitals(engine, 1)[Vital.FOOD] == pytest.approx(2.98)


def test_two_bodies_two_resources_both_eat() -> None:
    engine = make(bodies=2)
    place(engine, 1, 1, Direction.EAST, body=0)
    place(engine, 5, 5, Direction.WEST, body=1)
    put_resource(engine, BERRY, 1, 2)
    put_resource(engine, TOADSTOOL, 5, 4)
    assert act(engine, Action.INTERACT, Action.INTERACT).consumed[0].tolist() == [0, 1]


# ================================================================== predators
def place_predator(engine: Engine, row: int, col: int, slot: int = 0) -> None:
    engine.state.pred_cell[0, slot] = cell(engine, row, col)


def predator_rc(engine: Engine, slot: int = 0) -> tuple[int, int]:
    row, col = engine.state.pred_pos[0, slot]
    return int(row) - engine.radius, int(col) - engine.radius


def test_predator_chases_then_bites_exactly() -> None:
    engine = make(HUNTED)
    place(engine, 4, 1)
    place_predator(engine, 4, 4)
    set_vitals(engine, 10, 8, 8, 8)
    trail, bites = [], []
    for _ in range(4):
        outcome = act(engine, Action.NOOP)
        trail.append(predator_rc(engine))
        bites.append(float(outcome.predator_damage[0, 0]))
    # Distance 3 (in sight, out of reach): step closer along the longer axis; bite once within reach 1.
    assert trail == [(4, 3), (4, 2), (4, 1), (4, 1)]
    assert bites == [0.0, 0.0, 2.0, 2.0]
    assert vitals(engine)[Vital.HEALTH] == pytest.approx(6.0)


def test_predator_chases_along_the_longer_axis() -> None:
    engine = make(HUNTED)
    place(engine, 1, 1)
    place_predator(engine, 3, 2)  # |d_row| 2 > |d_col| 1: a row step first
    act(engine, Action.NOOP)
    assert predator_rc(engine) == (2, 2)


def test_predator_bite_can_kill() -> None:
    engine = make(HUNTED)
    place(engine, 4, 4)
    place_predator(engine, 4, 5)
    set_vitals(engine, 1.5, 8, 8, 8)
    outcome = act(engine, Action.NOOP)
    assert outcome.died[0, 0] and outcome.predator_damage[0, 0] == 2.0
    assert not engine.state.alive[0, 0]


def test_predator_out_of_sight_wanders() -> None:
    text = HUNTED.replace("sight: 3", "sight: 0").replace("damage: 2.0", "damage: 0.0")
    engine = make(text)
    place(engine, 0, 0)
    place_predator(engine, 4, 4)
    directions = set()
    for _ in range(60):
        before = predator_rc(engine)
        act(engine, Action.NOOP)
        after = predator_rc(engine)
        step = (after[0] - before[0], after[1] - before[1])
        assert abs(step[0]) + abs(step[1]) <= 1, "one cell at a time"
        directions.add(step)
    assert {(-1, 0), (1, 0), (0, -1), (0, 1)} <= directions, "wandering goes every way, not toward the body"


def test_predator_ignores_a_dead_body_and_deals_no_damage() -> None:
    engine = make(HUNTED)
    place(engine, 4, 4)
    place_predator(engine, 4, 5)
    set_vitals(engine, 0.05, 0, 8, 8)
    act(engine, Action.NOOP)  # starves to death next to the predator: bites from this step on are moot
    assert not engine.state.alive[0, 0]
    for _ in range(3):
        outcome = act(engine, Action.NOOP)
        assert outcome.predator_damage[0, 0] == 0.0
        assert vitals(engine) == [0, 0, 0, 0]


def test_inactive_predator_slots_do_nothing() -> None:
    text = HUNTED.replace("max_count: 1, count: 1", "max_count: 2, count: 0")
    engine = make(text)
    place(engine, 4, 4)
    place_predator(engine, 4, 5, slot=0)
    place_predator(engine, 3, 4, slot=1)
    for _ in range(5):
        outcome = act(engine, Action.NOOP)
        assert outcome.predator_damage[0, 0] == 0.0
    assert predator_rc(engine, 0) == (4, 5) and predator_rc(engine, 1) == (3, 4)
    assert not (view_of(engine)[..., ViewChannel.ENTITY] == Entity.PREDATOR).any()


# ================================================================== the view
def test_view_centre_shows_self_with_facing() -> None:
    engine = make()
    r = engine.radius
    for facing in Direction:
        place(engine, 3, 3, facing)
        assert view_of(engine)[r, r, ViewChannel.ENTITY] == Entity.SELF_NORTH + facing


def test_view_terrain_at_known_positions() -> None:
    engine = make()
    r = engine.radius
    place(engine, 3, 3)
    put_terrain(engine, Terrain.ROCK, 2, 4)  # one up, one right
    put_terrain(engine, Terrain.WATER, 5, 1)  # two down, two left
    view = view_of(engine)
    assert view.shape == (5, 5, 3) and view.dtype == np.uint8
    assert view[r - 1, r + 1, ViewChannel.TERRAIN] == Terrain.ROCK
    assert view[r + 2, r - 2, ViewChannel.TERRAIN] == Terrain.WATER
    assert view[r, r, ViewChannel.TERRAIN] == Terrain.GRASS


def test_view_outside_the_map_is_void() -> None:
    engine = make()
    place(engine, 0, 0)
    view = view_of(engine)
    assert (view[:2, :, ViewChannel.TERRAIN] == Terrain.VOID).all()
    assert (view[:, :2, ViewChannel.TERRAIN] == Terrain.VOID).all()
    assert (view[2:, 2:, ViewChannel.TERRAIN] == Terrain.GRASS).all()


def test_view_resource_codes_available_and_regrowing() -> None:
    engine = make()
    r = engine.radius
    place(engine, 3, 3)
    put_resource(engine, BERRY, 4, 2)  # one down, one left
    put_resource(engine, TOADSTOOL, 1, 3)  # two up
    view = view_of(engine)
    # The view shows catalogue codes (berry 1, toadstool 10), not the spec's order (1, 2).
    assert view[r + 1, r - 1, ViewChannel.RESOURCE] == SEEN_BERRY == 1
    assert view[r - 2, r, ViewChannel.RESOURCE] == SEEN_TOADSTOOL == 10
    assert int((view[..., ViewChannel.RESOURCE] > 0).sum()) == 2
    put_resource(engine, BERRY, 4, 2, ready_at=5)
    assert view_of(engine)[r + 1, r - 1, ViewChannel.RESOURCE] == 1 + 32 == SEEN_BERRY + RESOURCE_CAPACITY
    for clock in range(1, 5):
        act(engine, Action.NOOP)
        assert view_of(engine)[r + 1, r - 1, ViewChannel.RESOURCE] == 1 + 32, clock
    act(engine, Action.NOOP)
    assert engine.state.clock[0] == 5
    assert view_of(engine)[r + 1, r - 1, ViewChannel.RESOURCE] == SEEN_BERRY, "available once clock >= ready_at"


def test_view_shows_predator_at_its_relative_position() -> None:
    engine = make(HUNTED.replace("sight: 3", "sight: 0"))
    r = engine.radius
    place(engine, 4, 4)
    place_predator(engine, 5, 2)  # one down, two left
    view = view_of(engine)
    assert view[r + 1, r - 2, ViewChannel.ENTITY] == Entity.PREDATOR
    assert int((view[..., ViewChannel.ENTITY] == Entity.PREDATOR).sum()) == 1
    place_predator(engine, 8, 8)  # outside a 5x5 view around (4, 4)
    assert not (view_of(engine)[..., ViewChannel.ENTITY] == Entity.PREDATOR).any()


def test_view_shows_other_bodies() -> None:
    engine = make(bodies=2)
    r = engine.radius
    place(engine, 2, 2, Direction.SOUTH, body=0)
    place(engine, 4, 4, Direction.WEST, body=1)
    view0, view1 = view_of(engine, 0), view_of(engine, 1)
    assert view0[r + 2, r + 2, ViewChannel.ENTITY] == Entity.BODY
    assert view1[r - 2, r - 2, ViewChannel.ENTITY] == Entity.BODY
    assert view0[r, r, ViewChannel.ENTITY] == Entity.SELF_SOUTH
    assert view1[r, r, ViewChannel.ENTITY] == Entity.SELF_WEST


def test_observed_vitals_are_fractions_of_max() -> None:
    engine = make()
    set_vitals(engine, 5, 2.5, 10, 0)
    _, observed = engine.observe()
    assert observed.dtype == np.float32 and observed.shape == (1, 1, 4)
    assert observed[0, 0].tolist() == [0.5, 0.25, 1.0, 0.0]


# ================================================================== state: save, restore, fast-forward
def random_run(engine: Engine, steps: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    observations = []
    for _ in range(steps):
        actions = rng.integers(0, len(Action), (engine.num_worlds, engine.num_bodies))
        engine.step(actions)
        observations.append(engine.observe())
    return observations


def test_save_restore_round_trip_and_continues_identically() -> None:
    spec = load_world_spec("Shiftlands-v0")
    engine = Engine(spec, num_worlds=2)
    engine.reset(seeds=[3, 4], rng_seed=3)
    random_run(engine, 30, seed=0)
    data = engine.state.to_bytes()
    restored = WorldState.from_bytes(data)
    assert restored.equals(engine.state)
    assert restored.to_bytes() == data
    twin = Engine(spec, num_worlds=2)
    twin.state = restored
    ours, theirs = random_run(engine, 100, seed=1), random_run(twin, 100, seed=1)
    for (view_a, vitals_a), (view_b, vitals_b) in zip(ours, theirs, strict=True):
        assert np.array_equal(view_a, view_b) and np.array_equal(vitals_a, vitals_b)
    assert engine.state.equals(twin.state)


def test_copy_is_independent() -> None:
    engine = make()
    saved = engine.state.copy()
    random_run(engine, 5, seed=0)
    assert not saved.equals(engine.state)
    assert saved.clock[0] == 0


def test_equals_sees_generator_state() -> None:
    engine = make()
    other = engine.state.copy()
    other.rngs["hazards"].random()
    assert not engine.state.equals(other)


@pytest.mark.parametrize("garbage", [b"", b"not a world", b"PK\x03\x04" + bytes(100)])
def test_from_bytes_on_garbage_raises_value_error(garbage: bytes) -> None:
    with pytest.raises(ValueError, match="not a saved world state"):
        WorldState.from_bytes(garbage)


def test_from_bytes_names_missing_arrays() -> None:
    import io

    engine = make()
    arrays = dict(np.load(io.BytesIO(engine.state.to_bytes())))
    del arrays["vitals"]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with pytest.raises(ValueError, match="vitals"):
        WorldState.from_bytes(buffer.getvalue())


def shiftlands_every_50th() -> WorldSpec:
    """Shiftlands with its shift times divided by 50: predators, drought, relocation within 400 steps."""
    data = to_dict(load_world_spec("Shiftlands-v0"))
    for shift in data["shifts"]:
        for key in ("at", "start", "end"):
            shift[key] //= 50
        shift["period"] = max(1, shift["period"] // 50)
        if shift["kind"] == "gradual":  # the flat entry holds every kind's keys; only a ramp has an end
            shift["end"] = max(shift["end"], shift["start"] + 1)
    return spec_from_dict(data, source="shiftlands-every-50th")


@pytest.mark.parametrize(("compress", "steps", "chunks"), [
    (False, 37, (1, 2, 5, 29)),
    (True, 400, (1, 2, 5, 13, 29, 64, 111, 200)),  # uneven: onsets fall inside chunks
    (True, 400, (1,) * 400),  # one step at a time: an onset at every edge
])
def test_advance_worlds_of_a_dead_world_equals_stepping_it(compress: bool, steps: int, chunks: tuple) -> None:
    """The bodiless fast path (predators wander, clock, parameters and map events run) matches full
    idle steps, array for array (the slip generator may differ: the fast path draws no slips)."""
    spec = shiftlands_every_50th() if compress else load_world_spec("Shiftlands-v0")
    assert not compress or max(s.at for s in spec.shifts) < steps
    fast, slow = Engine(spec, num_worlds=1), Engine(spec, num_worlds=1)
    for engine in (fast, slow):
        engine.reset(seeds=[5], rng_seed=5)
        engine.state.vitals[0, 0] = [0.0, 0, 0, 0]
        engine.step(np.zeros((1, 1), np.int64))
        assert not engine.state.alive[0, 0]
        engine.state.respawn_at[0, 0] = 10**6  # stays dead throughout
    done = 0
    for chunk in chunks:
        chunk = min(chunk, steps - done)
        if chunk <= 0:
            break
        fast.advance_worlds(np.array([0]), chunk)
        for _ in range(chunk):
            slow.step(np.zeros((1, 1), np.int64))
        done += chunk
        fields_fast, fields_slow = fast.state.array_fields(), slow.state.array_fields()
        for name in fields_fast:
            assert np.array_equal(fields_fast[name], fields_slow[name]), (done, name)
    assert done == steps


def test_reset_requires_one_seed_per_world() -> None:
    engine = Engine(load_spec_text(TINY), num_worlds=2)
    with pytest.raises(ValueError, match="expected 2 seeds"):
        engine.reset(seeds=[0], rng_seed=0)
    with pytest.raises(ValueError, match="num_worlds"):
        Engine(load_spec_text(TINY), num_worlds=0)


# ================================================================== custom rules as a phase
def sting(engine: Engine, state: WorldState, params: dict[str, np.ndarray]) -> RuleEffect:
    """A test rule: each body is stung with probability ``chance`` (from the rule's own generator)."""
    stung = state.rngs["sting-test-v0"].random(state.alive.shape) < params["chance"]
    return RuleEffect(damage=params["damage"] * stung, events={"stung": stung})


def stinging(chance: float, damage: float = 1.5) -> Engine:
    if "sting-test-v0" not in RULES:
        register_rule("sting-test-v0", sting, {"chance": 0.0, "damage": 1.5})
    text = TINY + f"rules:\n  sting-test-v0: {{chance: {chance}, damage: {damage}}}\n"
    engine = Engine(load_spec_text(text, source="tiny.yaml"), num_worlds=2, bodies=2)
    engine.reset(seeds=[0, 1], rng_seed=3)
    return engine


def test_rule_damage_and_events_come_back_by_cause() -> None:
    engine = stinging(chance=1.0)
    engine.state.alive[1, 1] = False
    health = engine.state.vitals[..., Vital.HEALTH].copy()
    outcome = engine.step(np.zeros((2, 2), np.int64))
    expected = np.array([[1.5, 1.5], [1.5, 0.0]])  # the dead are not hurt
    assert np.array_equal(outcome.damage_by_cause["sting-test-v0"], expected)
    assert np.allclose(engine.state.vitals[..., Vital.HEALTH], np.maximum(health - expected, 0))
    assert outcome.events["sting-test-v0.stung"].all()
    assert not outcome.damage.any() and not outcome.predator_damage.any()  # their meaning is unchanged
    assert set(outcome.damage_by_cause) == {"starvation", "predator", "sting-test-v0"}


def test_rule_damage_can_kill_and_never_drives_health_below_zero() -> None:
    engine = stinging(chance=1.0, damage=25.0)
    outcome = engine.step(np.zeros((2, 2), np.int64))
    assert outcome.died.all() and (engine.state.vitals[..., Vital.HEALTH] == 0.0).all()


def test_each_rule_has_its_own_generator_from_the_seed_and_its_id() -> None:
    engine = stinging(chance=0.5)
    assert set(engine.state.rngs) == {"intent", "regrowth", "hazards", "respawn", "observation", "map",
                                      "sting-test-v0"}
    plain = make_rngs(3)
    assert all(engine.state.rngs[k].random() == plain[k].random() for k in plain)  # the phases are untouched
    assert make_rngs(3, ["a-v0"])["a-v0"].random() != make_rngs(3, ["b-v0"])["b-v0"].random()
    assert make_rngs(3, ["a-v0"])["a-v0"].random() == make_rngs(3, ["b-v0", "a-v0"])["a-v0"].random()


def test_saved_state_with_other_generators_is_refused() -> None:
    engine = stinging(chance=0.5)
    saved = engine.state.copy()
    del saved.rngs["sting-test-v0"]
    with pytest.raises(ValueError, match="generators"):
        engine.load_state(saved)


def test_rules_run_while_a_dead_world_is_fast_forwarded() -> None:
    engine = stinging(chance=1.0)
    engine.state.alive[:] = False
    engine.state.respawn_at[:] = 10**6
    before = engine.state.rngs["sting-test-v0"].bit_generator.state
    engine.advance_worlds(np.array([0]), 3)
    assert engine.state.rngs["sting-test-v0"].bit_generator.state != before
    assert engine.state.clock.tolist() == [3, 0]


def test_state_schema_gives_every_array_its_shape_and_dtype() -> None:
    engine = make(HUNTED, bodies=3)
    schema = WorldState.schema(engine.sizes())
    Hp, Wp = engine.padded_shape
    assert schema["terrain"] == ((1, Hp, Wp), np.dtype(np.uint8))
    assert schema["vitals"] == ((1, 3, len(Vital)), np.dtype(np.float64))
    assert schema["pred_cell"] == ((1, 1), np.dtype(np.int64))
    for name, array in engine.state.array_fields().items():
        assert (array.shape, array.dtype) == schema[name], name


def test_a_death_a_rule_caused_names_the_rule_in_the_single_env_events() -> None:
    """The env's per-body event names come from the outcome's causes: ``damage:<rule id>`` and the rule's
    own event flags, before ``death``."""
    from openworld.envs.single import OpenWorldEnv

    stinging(chance=1.0)  # registers the rule
    text = TINY + "rules:\n  sting-test-v0: {chance: 1.0, damage: 25.0}\n"
    env = OpenWorldEnv(load_spec_text(text, source="tiny.yaml"))
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(int(Action.NOOP))
    assert terminated
    assert info["events"][-3:] == ["damage:sting-test-v0", "sting-test-v0.stung", "death"]
