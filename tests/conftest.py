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
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


# ---------------------------------------------------------------------------------------------- priors
@pytest.fixture
def prior_stores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Datasets and priors of this test only, and one torch thread (as runs use); the prior tests use it
    automatically (their conftest files)."""
    import torch

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setenv("OPENWORLD_PRIORS_PATH", str(tmp_path / "priors"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path
    torch.set_num_threads(threads)


def collect_dataset(name: str, agent_id: str = "forager", *, world_id: str = "Meadow-v0", steps: int = 500,
                    num_envs: int = 4, seed: int = 0, segment_steps: int = 100, epsilon: float = 0.0,
                    agent_config: dict[str, Any] | None = None, learn: bool = True) -> str:
    """Collect a small dataset (as ``openworld collect`` does) into the current store; returns its id."""
    import openworld  # noqa: F401  (registers the worlds)
    from openworld.data.collect import CollectRequest, collect
    from openworld.registry import world_entry
    from openworld.runner.build import world_spec_from_config
    from openworld.world.spec import to_dict

    world = world_spec_from_config({"id": world_id, "variant": None, **to_dict(world_entry(world_id).spec)})
    result = collect(CollectRequest(world=world, agent_id=agent_id, agent_config=agent_config or {}, steps=steps,
                                    seed=seed, dataset=name, num_envs=num_envs, segment_steps=segment_steps,
                                    epsilon=epsilon, learn=learn))
    return str(result.dataset_ids[0])


@pytest.fixture
def make_dataset() -> Callable[..., str]:
    """``make_dataset(name, agent_id, steps=..., num_envs=...)``: collect one into this test's store."""
    return collect_dataset
