"""openworld's world catalogue: one YAML spec per world, plus small Python rule modules.

Importing this package (done through the ``openworld.worlds`` entry point) first imports every Python
module next to it (they register the custom rules and non-grid worlds the catalogue needs), then
registers every ``*.yaml`` file as ``<name>-v<version>``, the name and version read from the file.
A world file that a module has already registered itself (a world with its own environment class,
such as ``minigrid_stream.yaml``) is left to that module.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from openworld.registry import register_world, world_entries

CATALOGUE_DIR = Path(__file__).parent


def _register_catalogue() -> None:
    for module in sorted(m.name for m in pkgutil.iter_modules([str(CATALOGUE_DIR)])):
        importlib.import_module(f"{__name__}.{module}")
    registered = {entry.spec_path.resolve() for entry in world_entries()}
    for path in sorted(CATALOGUE_DIR.glob("*.yaml")):
        if path.resolve() in registered:
            continue
        register_world(None, path)  # registered as the file's own <name>-v<version>


_register_catalogue()
