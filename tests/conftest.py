"""Session-wide plumbing: the commands whose output the docs quote, run once in the background.

``tests/test_documented_outputs.py`` checks every block in README.md and docs/ marked
``<!-- output of: <command> -->`` against what the command prints today. The main job takes about two
minutes, so it starts as soon as collection shows a test that needs it is selected and runs in a subprocess
beside the rest of the suite (on a second core); the test waits for it at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Each documented command, in the order they run (one after another, in one scratch directory): the
# second `openworld run` finds the first one's finished run and refuses to replace it.
DOCUMENTED_COMMANDS: dict[str, list[str]] = {
    "openworld run": ["run"],
    "openworld run (again)": ["run"],
    "openworld demo": ["demo"],
}


class DocumentedOutputs:
    """The documented commands, run one after another in a background shell in a scratch directory."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="openworld-documented-"))
        script = "\n".join(
            f"{_shell_command(args)} > {self.directory / _file_name(name)} 2>&1"
            for name, args in DOCUMENTED_COMMANDS.items())
        work = self.directory / "work"
        work.mkdir()
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg", COLUMNS="200")
        self.process = subprocess.Popen(["bash", "-c", script], cwd=work, env=env)

    def output(self, name: str, timeout: float = 900) -> tuple[str, Path]:
        """What ``name`` printed (stdout and stderr), and the directory it ran in."""
        if name not in DOCUMENTED_COMMANDS:
            raise KeyError(f"{name!r} is not a documented command; known: {sorted(DOCUMENTED_COMMANDS)}")
        self.process.wait(timeout=timeout)
        return (self.directory / _file_name(name)).read_text(), self.directory / "work"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _shell_command(args: list[str]) -> str:
    return " ".join([sys.executable, "-m", "openworld.tools.cli", *args])


def _file_name(name: str) -> str:
    return name.replace(" ", "_").replace("(", "").replace(")", "") + ".txt"


_documented: list[DocumentedOutputs] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any("documented_outputs" in getattr(item, "fixturenames", ()) for item in session.items):
        _documented.append(DocumentedOutputs())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    while _documented:
        _documented.pop().close()


@pytest.fixture(scope="session")
def documented_outputs() -> DocumentedOutputs:
    """The background runs of the documented commands (started at collection, or now)."""
    if not _documented:
        _documented.append(DocumentedOutputs())
    return _documented[0]
