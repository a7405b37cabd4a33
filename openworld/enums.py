"""The fixed vocabularies of every world: actions, terrain, vitals, entity codes and resource kinds.

Sizes elsewhere come from ``len(...)`` of these enums, never from literals; the sizes of the
observation's code space come from the reserved capacities below (:data:`VIEW_CODES`).

**Codes are appended, never renumbered.** Every observation code (terrain, resource kind, entity) is
part of every policy, prior and dataset ever trained on an engine world: a new member takes the next
free value, an existing value never changes meaning. ``tests/openworld/test_enums.py`` pins them.
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
    """Terrain codes (observation channel 0). ``VOID`` is outside the map. Append only."""

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
    """Entity codes (observation channel 2): who stands in a cell of the view. Append only."""

    NONE = 0
    SELF_NORTH = 1
    SELF_EAST = 2
    SELF_SOUTH = 3
    SELF_WEST = 4
    BODY = 5
    PREDATOR = 6


class ResourceKind(IntEnum):
    """The shared catalogue of resource kinds: each of a world's ``resources:`` is one of them (its key,
    or the ``kind:`` it declares: ``kelp: {kind: seaweed, ...}``).

    A kind's value is its observation code while available; while it regrows its code is
    ``value + RESOURCE_CAPACITY`` (see :data:`ViewChannel.RESOURCE`). What a kind *does* (nutrition,
    regrowth, where it grows) is up to each world file; the catalogue fixes only its name and code,
    so that "berry" is the same code in every world and a policy trained in one world reads another.

    **Append only**: a new kind takes the next free value (at most ``RESOURCE_CAPACITY``); never
    renumber or remove one. The first five are the kinds of the original catalogue worlds; the rest
    are there so that a world designer rarely needs a new one.
    """

    BERRY = 1
    MUSHROOM = 2
    WATER = 3
    SPRING = 4
    APPLE = 5
    NUT = 6
    ROOT = 7
    FISH = 8
    HERB = 9
    TOADSTOOL = 10
    DATE = 11
    CACTUS = 12
    SHELLFISH = 13
    SEAWEED = 14


RESOURCE_KINDS: dict[str, ResourceKind] = {kind.name.lower(): kind for kind in ResourceKind}
"""The catalogue by the name a world file uses (``"berry"`` -> ``ResourceKind.BERRY``)."""

# Reserved room per view channel: the observation space is sized by these capacities, not by the
# kinds in use, so appending a terrain, entity or resource kind changes no world's observation
# space (and no checkpoint's). Kept small: the codes stay small integers that the conv encoders
# embed (one row per code), and far below 255, which SB3 would take for an image.
TERRAIN_CAPACITY = 16  # terrain codes 0..15 (Terrain uses 0..5)
RESOURCE_CAPACITY = 32  # kinds 1..32 (ResourceKind uses 1..12); codes 0..64
ENTITY_CAPACITY = 16  # entity codes 0..15 (Entity uses 0..6)


class ViewChannel(IntEnum):
    """Channels of ``obs["view"]``."""

    TERRAIN = 0  # Terrain code
    RESOURCE = 1  # 0 none; k: kind k available; k + RESOURCE_CAPACITY: kind k regrowing (ResourceKind k)
    ENTITY = 2  # Entity code


VIEW_CODES: tuple[int, ...] = (TERRAIN_CAPACITY, 2 * RESOURCE_CAPACITY + 1, ENTITY_CAPACITY)
"""Number of codes of each view channel, in :class:`ViewChannel` order: the observation space's
``high + 1``. The same for every engine world."""
