"""docs/designing-worlds.md runs as written: its YAML blocks (and Python blocks that start with ``# file:``)
are written to the files they name and its other Python blocks are executed in order, in one namespace, in
a temporary directory. A ``text`` block right
after a Python block is that block's expected output (each of its lines must be printed)."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "designing-worlds.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(GUIDE.read_text())]


def test_the_guide_has_the_steps_the_issue_asks_for() -> None:
    kinds = [kind for kind, _ in blocks()]
    assert kinds.count("yaml") >= 1 and kinds.count("python") >= 6
    code = "\n".join(body for kind, body in blocks() if kind == "python")
    for needle in ("register_rule(", "register_world(", "check_world(", "metrics.", "variant="):
        assert needle in code, f"the guide never calls {needle}"


def test_the_guide_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "designing_worlds"}
    last_output = ""
    last_kind = ""
    try:
        for index, (kind, body) in enumerate(blocks()):
            if kind == "yaml":
                first = body.splitlines()[0]
                assert first.startswith("# file: "), f"YAML block {index} does not say which file it is"
                Path(first.removeprefix("# file: ").strip()).write_text(body)
            elif kind == "python" and body.startswith("# file: "):
                Path(body.splitlines()[0].removeprefix("# file: ").strip()).write_text(body)
                continue  # a module file, not output-producing code
            elif kind == "python":
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    exec(compile(body, f"{GUIDE.name}[block {index}]", "exec"), namespace)  # noqa: S102
                last_output = out.getvalue()
            elif kind == "text" and last_kind == "python":
                for line in body.strip().splitlines():
                    assert line in last_output, f"the guide promises {line!r}; the code printed:\n{last_output}"
            last_kind = kind
    finally:
        _forget_the_guide_world()
    assert os.path.exists("oasis.yaml")


def _forget_the_guide_world() -> None:
    """The guide registers Oasis-v0 and sunstroke-v0; remove them so the rest of the suite sees the catalogue."""
    import gymnasium

    from openworld import registry
    from openworld.world import rules

    registry._WORLDS.pop("Oasis-v0", None)
    rules.RULES.pop("sunstroke-v0", None)
    for key in [key for key in rules._IMPORTED if key.endswith("oasis_rules.py")]:
        del rules._IMPORTED[key]
    gymnasium.registry.pop("openworld/Oasis-v0", None)
