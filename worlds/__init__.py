"""openworld's world catalogue: one YAML spec per world, plus small Python rule modules.

Importing this package (done through the ``openworld.worlds`` entry point) imports every Python module
next to it: they register the custom rules and the worlds with their own environment class (such as
``minigrid_stream.yaml``). Every other ``*.yaml`` file here is registered as ``<name>-v<version>`` by
the registry, as for any package the entry point names (``openworld.registry.register_world_folder``).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

for _module in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])):
    importlib.import_module(f"{__name__}.{_module}")
