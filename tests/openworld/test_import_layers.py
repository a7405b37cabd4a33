"""Imports inside ``openworld`` go one way: no module imports, directly or through others, a module that
imports it back, and no subpackage reaches into a layer above its own (``docs/architecture.md``).

Every import counts, including those inside functions (a lazy import still ties two modules together);
only imports under ``if TYPE_CHECKING:`` are left out, since they never run. The checks read the
source with :mod:`ast` and import nothing, so they see the whole graph whatever is installed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "openworld"

# The layers of docs/architecture.md, lowest first: a module may import its own layer and those below.
LAYERS: list[tuple[str, ...]] = [
    ("openworld.enums", "openworld.errors", "openworld.files", "openworld.plugins", "openworld.yaml_data"),
    ("openworld.world",),
    ("openworld.registry", "openworld.variants"),
    ("openworld.scoring",),
    ("openworld.agent",),
    ("openworld.envs",),
    ("openworld.runner",),
    ("openworld.data",),
    ("openworld.prior",),
    ("openworld.testing", "openworld.tools"),
    ("openworld",),  # the package's own __init__: the public face, may import anything
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_modules(path: Path, modules: set[str], this: str | None = None) -> set[str]:
    """The ``openworld`` modules this file imports at run time (resolved to modules that exist)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    this = this or module_name(path)
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if is_type_checking_block(node):
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("openworld"):
                    found.add(resolve(alias.name) or alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = this if is_package else this.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            if base.startswith("openworld"):
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    found.add(full if full in modules else (resolve(base) or base))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(this)
    return {m for m in found if m in modules}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def test_no_import_cycle_inside_openworld() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_module_sits_in_a_declared_layer() -> None:
    unplaced = [m for m in import_graph() if layer_of(m) < 0]
    assert not unplaced, f"modules in no layer of docs/architecture.md: {unplaced}"


def test_imports_go_down_the_layers() -> None:
    upward = [f"{m} imports {d}" for m, deps in sorted(import_graph().items()) for d in sorted(deps)
              if layer_of(d) > layer_of(m)]
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_the_checker_finds_a_cycle_and_an_upward_import() -> None:
    """The checks themselves can fail: a graph built to fail them is caught."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer_of("openworld.world.engine") < layer_of("openworld.envs.vector")


@pytest.mark.parametrize("source, expected", [
    ("from openworld.world import engine\n", {"openworld.world.engine"}),
    ("from openworld.world.spec import WorldSpec\n", {"openworld.world.spec"}),
    ("def f():\n    import openworld.scoring.metrics\n", {"openworld.scoring.metrics"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from openworld.world import engine\n", set()),
])
def test_imports_are_read_from_source(tmp_path: Path, source: str, expected: set[str]) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source)
    modules = {"openworld.world", "openworld.world.engine", "openworld.world.spec", "openworld.scoring",
               "openworld.scoring.metrics"}
    assert imported_modules(path, modules, this="openworld.tools.probe") == expected


def private_imports(path: Path) -> list[str]:
    """``from openworld.x import _name`` in this file: a module reaching into another's private names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [f"{node.module}.{alias.name}" for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("openworld")
            for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]


def test_no_module_imports_another_modules_private_names() -> None:
    found = {str(p.relative_to(PACKAGE.parent)): names for p in sorted(PACKAGE.rglob("*.py"))
             if (names := private_imports(p))}
    assert not found, f"imports of private names: {found}"


def test_the_private_import_check_can_fail(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text("from openworld.registry import _WORLDS, world_ids\nfrom openworld import __version__\n")
    assert private_imports(path) == ["openworld.registry._WORLDS"]
