"""The shared vocabulary: its codes never change (append only), fit their reserved capacities, stay far
below 255, and docs/worlds.md's table of codes says exactly what the enums say."""

from __future__ import annotations

from pathlib import Path

import pytest

from openworld.enums import (
    ENTITY_CAPACITY,
    RESOURCE_CAPACITY,
    RESOURCE_KINDS,
    TERRAIN_CAPACITY,
    VIEW_CODES,
    Action,
    Entity,
    ResourceKind,
    Terrain,
    ViewChannel,
    Vital,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "worlds.md"

# Every code ever published. A new member is appended here; an existing line never changes: a
# checkpoint, prior or dataset trained on the old codes would silently read the wrong thing.
PUBLISHED = {
    Terrain: {"VOID": 0, "GRASS": 1, "SAND": 2, "FOREST": 3, "ROCK": 4, "WATER": 5},
    ResourceKind: {"BERRY": 1, "MUSHROOM": 2, "WATER": 3, "SPRING": 4, "APPLE": 5, "NUT": 6, "ROOT": 7,
                   "FISH": 8, "HERB": 9, "TOADSTOOL": 10, "DATE": 11, "CACTUS": 12,
                   "SHELLFISH": 13, "SEAWEED": 14},
    Entity: {"NONE": 0, "SELF_NORTH": 1, "SELF_EAST": 2, "SELF_SOUTH": 3, "SELF_WEST": 4, "BODY": 5, "PREDATOR": 6},
    Vital: {"HEALTH": 0, "FOOD": 1, "WATER": 2, "ENERGY": 3},
    Action: {"NOOP": 0, "NORTH": 1, "EAST": 2, "SOUTH": 3, "WEST": 4, "INTERACT": 5, "REST": 6},
}


@pytest.mark.parametrize("enum", list(PUBLISHED), ids=lambda e: e.__name__)
def test_published_codes_never_change(enum: type) -> None:
    current = {member.name: int(member) for member in enum}
    for name, code in PUBLISHED[enum].items():
        assert current.get(name) == code, f"{enum.__name__}.{name} was published as {code}; codes are never renumbered"


@pytest.mark.parametrize("enum", list(PUBLISHED), ids=lambda e: e.__name__)
def test_codes_are_consecutive_so_that_a_new_member_takes_the_next_free_one(enum: type) -> None:
    values = sorted(int(member) for member in enum)
    assert values == list(range(values[0], values[0] + len(values)))


def test_each_channel_fits_its_reserved_capacity_with_room_to_grow() -> None:
    assert max(Terrain) < TERRAIN_CAPACITY and max(Entity) < ENTITY_CAPACITY
    assert min(ResourceKind) == 1, "resource code 0 means 'no resource'"
    assert max(ResourceKind) < RESOURCE_CAPACITY
    assert VIEW_CODES[ViewChannel.TERRAIN] == TERRAIN_CAPACITY
    assert VIEW_CODES[ViewChannel.RESOURCE] == 2 * RESOURCE_CAPACITY + 1  # none, available, regrowing
    assert VIEW_CODES[ViewChannel.ENTITY] == ENTITY_CAPACITY
    # SB3's MultiInputPolicy takes a uint8 box with high 255 for an image (and its CNN cannot read 7x7).
    assert max(VIEW_CODES) - 1 < 255


def test_catalogue_names_are_the_lower_case_member_names() -> None:
    assert RESOURCE_KINDS["berry"] is ResourceKind.BERRY and RESOURCE_KINDS["cactus"] is ResourceKind.CACTUS
    assert list(RESOURCE_KINDS) == [kind.name.lower() for kind in ResourceKind]


def expected_table_rows() -> list[str]:
    """docs/worlds.md's table of codes, row by row, as the enums define it."""
    rows = [f"| `view[..., 0]` terrain | `{t.name.lower()}` | {int(t)} |" for t in Terrain]
    rows.append(f"| `view[..., 0]` terrain | reserved | {len(Terrain)}-{TERRAIN_CAPACITY - 1} |")
    rows.append("| `view[..., 1]` resource | none | 0 |")
    rows += [f"| `view[..., 1]` resource | `{k.name.lower()}` | {int(k)} available, "
             f"{int(k) + RESOURCE_CAPACITY} regrowing |" for k in ResourceKind]
    first_free = len(ResourceKind) + 1
    rows.append(f"| `view[..., 1]` resource | reserved kinds | {first_free}-{RESOURCE_CAPACITY} available, "
                f"{first_free + RESOURCE_CAPACITY}-{2 * RESOURCE_CAPACITY} regrowing |")
    rows += [f"| `view[..., 2]` entity | `{e.name.lower()}` | {int(e)} |" for e in Entity]
    rows.append(f"| `view[..., 2]` entity | reserved | {len(Entity)}-{ENTITY_CAPACITY - 1} |")
    rows += [f"| `vitals[i]` | `{v.name.lower()}` | {int(v)} |" for v in Vital]
    rows += [f"| action | `{a.name.lower()}` | {int(a)} |" for a in Action]
    return rows


def test_the_docs_table_of_codes_matches_the_enums() -> None:
    lines = DOCS.read_text().splitlines()
    documented = [line for line in lines if line.startswith(("| `view[", "| `vitals[i]` |", "| action |"))]
    assert documented == expected_table_rows()
    highs = [code - 1 for code in VIEW_CODES]
    assert f"`[{highs[0]}, {highs[1]}, {highs[2]}]` in every cell" in DOCS.read_text()
