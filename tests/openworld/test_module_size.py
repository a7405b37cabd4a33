"""Modules stay small enough to read in one sitting: none in ``openworld/`` is over 400 lines unless its
docstring says why ("longer than 400 lines because ..."), so that a long module is a decision, not drift."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "openworld"
LIMIT = 400
REASON = "longer than 400 lines because"


def oversized_without_reason(package: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text()
        lines = text.count("\n")
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if lines > LIMIT and REASON not in " ".join(docstring.lower().split()):
            found.append(f"{path.relative_to(package.parent)}: {lines} lines")
    return found


def test_no_module_over_400_lines_without_a_reason() -> None:
    found = oversized_without_reason(PACKAGE)
    assert not found, f"modules over {LIMIT} lines whose docstring does not say why ('{REASON} ...'): {found}"


def test_the_size_check_can_fail(tmp_path: Path) -> None:
    package = tmp_path / "openworld"
    package.mkdir()
    (package / "long.py").write_text('"""A long module."""\n' + "x = 1\n" * (LIMIT + 1))
    (package / "justified.py").write_text(f'"""A long module, {REASON} it is a table."""\n' + "x = 1\n" * (LIMIT + 1))
    (package / "short.py").write_text('"""Short."""\nx = 1\n')
    assert oversized_without_reason(package) == [f"openworld/long.py: {LIMIT + 2} lines"]
