"""The fixed vocabularies of every world: actions, terrain, vitals and entity codes.

Sizes elsewhere come from ``len(...)`` of these enums, never from literals.
"""

from __future__ import annotations

from enum import IntEnum


class Action(IntEnum):
    """What a body can do in one step.

    | value | action   | effect                                                      |
    |-------|----------|-------------------------------------------------------------|
    | 0     | noop     | nothing (vitals still decay)                                |
    | 1     | north    | face north and step there if walkable                       |
    | 2     | east     | face east and step there if walkable                        |
    | 3     | south    | face south and step there if walkable                       |
    | 4     | west     | face west and step there if walkable                        |
    | 5     | interact | consume the resource in the faced cell, if it is available  |
    | 6     | rest     | recover energy, do not move                                 |
    """

    NOOP = 0
    NORTH = 1
    EAST = 2
    SOUTH = 3
    WEST = 4
    INTERACT = 5
    REST = 6


MOVE_ACTIONS = (Action.NORTH, Action.EAST, Action.SOUTH, Action.WEST)


class Direction(IntEnum):
    """Facing directions; ``Action.NORTH + d`` moves in direction ``d``."""

    NORTH = 0
    EAST = 1
    SOUTH = 2
    WEST = 3


# (row, column) offsets for each Direction, indexed by its value.
DIRECTION_OFFSETS = ((-1, 0), (0, 1), (1, 0), (0, -1))


class Terrain(IntEnum):
    """Terrain codes (observation channel 0). ``VOID`` is outside the map."""

    VOID = 0
    GRASS = 1
    SAND = 2
    FOREST = 3
    ROCK = 4
    WATER = 5


WALKABLE_TERRAIN = (Terrain.GRASS, Terrain.SAND, Terrain.FOREST)


class Vital(IntEnum):
    """A body's vitals, in the order of ``obs["vitals"]``."""

    HEALTH = 0
    FOOD = 1
    WATER = 2
    ENERGY = 3


class Entity(IntEnum):
    """Entity codes (observation channel 2): who stands in a cell of the view."""

    NONE = 0
    SELF_NORTH = 1
    SELF_EAST = 2
    SELF_SOUTH = 3
    SELF_WEST = 4
    BODY = 5
    PREDATOR = 6


class ViewChannel(IntEnum):
    """Channels of ``obs["view"]``."""

    TERRAIN = 0
    RESOURCE = 1  # 0 none; 1 + k: resource kind k available; 1 + R + k: kind k regrowing (R kinds)
    ENTITY = 2
