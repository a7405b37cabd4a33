"""YAML read as plain data from files one did not write: bounded in size, strict about keys.

World files, variant files and Hydra configs come from other people. PyYAML's safe loader builds no
objects, but it still lets a small file cost a lot:

* **Anchors and aliases** share one node between many places; a 500-byte chain of nine anchors, each
  aliased nine times by the next, is 9^9 values once anything walks or prints the tree (a spec check, an
  error message, OmegaConf, which copies every alias). Anchors are useful (the catalogue names a seed list
  once and reuses it), so they are allowed, and the document's size *as expanded* is counted without
  expanding it, and capped at :data:`MAX_EXPANDED_VALUES`; an alias of a node inside itself is refused.
* **Duplicate keys** silently keep the last value; they are an error naming the key and its line.
* **File size** is capped at :data:`MAX_FILE_BYTES` before the file is read, and the text must be UTF-8.

Example:
    >>> parse_yaml("a: 1\\nb: [2, 3]", "x.yaml")
    {'a': 1, 'b': [2, 3]}
    >>> parse_yaml("a: 1\\na: 2", "x.yaml")
    Traceback (most recent call last):
    ...
    openworld.errors.SpecError: x.yaml: not valid YAML: duplicate key 'a' (line 2, column 1)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from openworld.errors import SpecError, brief

__all__ = ["MAX_EXPANDED_VALUES", "MAX_FILE_BYTES", "bounded_loader", "expanded_size", "parse_yaml", "read_text_file"]

# The catalogue's largest world file is 6 kB and ~1,500 values: both caps leave room for a hundred times that.
MAX_FILE_BYTES = 1 << 20
MAX_EXPANDED_VALUES = 200_000


def read_text_file(path: Path, what: str, error: Callable[[str], Exception] = SpecError,
                   max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of a UTF-8 file of at most ``max_bytes``, its size checked before it is read.

    Raises:
        ``error(message)`` (SpecError by default) naming the file: missing, too large, or not UTF-8.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{path}: {what} is {size:,} bytes, more than the {max_bytes:,} allowed")
        data = path.read_bytes()[:max_bytes + 1]  # a file that grew since the stat is still bounded
    except OSError as err:
        raise error(f"{path}: cannot read {what}: {err}") from err
    if len(data) > max_bytes:
        raise error(f"{path}: {what} is more than the {max_bytes:,} bytes allowed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{path}: {what} is not UTF-8 text (byte {err.start}: {data[err.start:err.start + 1]!r})") \
            from err


def parse_yaml(text: str, source: str) -> Any:
    """The plain data of YAML text: duplicate keys refused, the expanded size capped.

    Raises:
        SpecError: naming ``source``: not YAML, a duplicate key, or too large once aliases are expanded.
    """
    if len(text) > MAX_FILE_BYTES:
        raise SpecError(f"{source}: {len(text):,} characters of YAML, more than the {MAX_FILE_BYTES:,} allowed")
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise SpecError(f"{source}: not valid YAML: {_describe(err)}") from err


def expanded_size(data: Any, limit: int = MAX_EXPANDED_VALUES) -> int:
    """How many values ``data`` holds with every shared node counted at each place it appears, without
    expanding it (each distinct node is visited once).

    Raises:
        ValueError: the count passes ``limit``, or a container holds itself.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ValueError("an alias refers to a node that contains it")
        open_.add(key)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise ValueError(f"more than {limit:,} values once its aliases are expanded")
        open_.discard(key)
        sizes[key] = total
        return total

    return size(data)


def bounded_loader(base: type) -> type:
    """A subclass of a PyYAML loader that refuses duplicate keys and documents too large once expanded
    (``OmegaConf``'s loader is wrapped with it for the configs Hydra reads)."""

    class BoundedLoader(base):  # type: ignore[valid-type, misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # complex keys and merges are the base loader's to accept or refuse
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    mark = key_node.start_mark
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {brief(key)} (line {mark.line + 1}, column {mark.column + 1})")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

        def get_single_data(self) -> Any:
            data = super().get_single_data()
            try:
                expanded_size(data)
            except ValueError as err:
                name = getattr(self, "name", None)  # the file's name, where the reader knows it
                where = f"{name}: " if name and not str(name).startswith("<") else ""
                raise yaml.constructor.ConstructorError(None, None, f"{where}{err}") from None
            return data

    return BoundedLoader


def _describe(err: yaml.YAMLError) -> str:
    text = str(err)
    return text if len(text) <= 500 else text[:500] + "..."


# libyaml's C parser where PyYAML has it: the catalogue is parsed at import.
_LOADER = bounded_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))
