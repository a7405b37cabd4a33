"""The done-when of prior data: ``openworld collect ... dataset=smoke`` then ``openworld datasets`` lists it
(in process; num_envs=2 keeps it cheap, the forager's default is 256 worlds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.experiments.conftest import QUIET


def test_collect_then_datasets_lists_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from openworld.tools.cli import main

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.chdir(tmp_path)
    args = ["collect", "world=meadow", "agent=forager", "steps=2000", "dataset=smoke", "num_envs=2",
            "progress=off", *QUIET]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "openworld collect: openworld/meadow/smoke-v0: 2,000 steps" in out and "alive fraction" in out
    assert main(["datasets"]) == 0
    listing = capsys.readouterr().out
    assert "openworld/meadow/smoke-v0" in listing and "Meadow-v0" in listing and "forager" in listing
    assert main(args) == 2  # the same id again: refused, the dataset kept
    assert "already exists" in capsys.readouterr().err
    assert main(["datasets", "show", "openworld/meadow/smoke-v0"]) == 0
    assert '"steps": 2000' in capsys.readouterr().out
    assert sorted(path.name for path in tmp_path.iterdir()) == ["minari"]  # no run directory, no .hydra
