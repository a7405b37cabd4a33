"""openworld's world catalogue: one YAML spec per world, registered here by file name.

Importing this package (done through the ``openworld.worlds`` entry point) registers every
``*.yaml`` file next to it as ``<name>-v<version>``, with the name and version taken from the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from openworld.registry import register_world

CATALOGUE_DIR = Path(__file__).parent


def _register_catalogue() -> None:
    for path in sorted(CATALOGUE_DIR.glob("*.yaml")):
        header = yaml.safe_load(path.read_text())
        register_world(f"{header['name']}-v{header.get('version', 0)}", path)


_register_catalogue()
