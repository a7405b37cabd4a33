"""Catalogues found through Python entry points, and the shape of the ids they register.

The core never imports a particular world, agent or rule: a package declares
``[project.entry-points."openworld.worlds"]`` (or ``"openworld.agents"``) naming a module whose import
registers its entries, and :func:`load_plugins` imports every such module once.
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points

# Registered ids carry a version: ``Meadow-v0``, ``forager-v0``, ``lake-evaporation-v0``.
ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*-v\d+$")

_loaded_groups: set[str] = set()


def load_plugins(group: str) -> None:
    """Import every module declared under the entry-point group (once per group)."""
    if group in _loaded_groups:
        return
    _loaded_groups.add(group)
    for ep in entry_points(group=group):
        importlib.import_module(ep.value.split(":")[0])
