"""Catalogues found through Python entry points, and the shape of the ids they register.

The core never imports a particular world, agent or rule: a package declares
``[project.entry-points."openworld.worlds"]`` (or ``"openworld.agents"``) naming a module whose import
registers its entries, and :func:`load_plugins` imports every such module once. A registry can add a
hook that sees each imported module (the world registry registers the world files of a package's folder).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from importlib.metadata import entry_points
from types import ModuleType

# Registered ids carry a version: ``Meadow-v0``, ``forager-v0``, ``lake-evaporation-v0``.
ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*-v\d+$")

_loaded_groups: set[str] = set()
_hooks: dict[str, list[Callable[[ModuleType], None]]] = {}


def add_plugin_hook(group: str, hook: Callable[[ModuleType], None]) -> None:
    """Call ``hook(module)`` on every module :func:`load_plugins` imports for ``group``, after all of them are
    imported (so that a package's own registrations come first)."""
    _hooks.setdefault(group, []).append(hook)


def load_plugins(group: str) -> None:
    """Import every module declared under the entry-point group (once per group), then run its hooks."""
    if group in _loaded_groups:
        return
    _loaded_groups.add(group)
    modules = [importlib.import_module(ep.value.split(":")[0]) for ep in entry_points(group=group)]
    for module in modules:
        for hook in _hooks.get(group, []):
            hook(module)
