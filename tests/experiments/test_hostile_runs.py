"""Runs refused for hostile values leave nothing behind; a hostile config on Hydra's searchpath is one line
(the catalogue of hostile input: ``tests/openworld/test_hostile_input.py``)."""

from __future__ import annotations

from pathlib import Path

HOSTILE_WORLDS = Path(__file__).parents[1] / "openworld" / "hostile_worlds"


def test_a_refused_run_writes_nothing(run_in_process, tmp_path: Path, capsys) -> None:
    for override in ("metrics.window=0", "world.bodies=3", "world.id=Meadow-v0"):
        assert run_in_process(["world=shiftlands", "agent=random", "steps=10", override]) == 2
        assert list(tmp_path.iterdir()) == []  # not even the empty folders Hydra made for the run
    errors = capsys.readouterr().err
    assert "metrics.window must be an integer from 1" in errors
    assert "a run's bodies per world is the root key: bodies=3" in errors
    assert "world.id: the world node's name and version make Shiftlands-v0 but its id is 'Meadow-v0'" in errors


def test_a_hydra_config_bomb_on_the_searchpath_is_one_line(run_in_process, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "conf" / "experiment"
    folder.mkdir(parents=True)
    bomb = (HOSTILE_WORLDS / "alias_bomb.yaml").read_text().replace("name: Bomb", "# @package _global_")
    (folder / "bomb.yaml").write_text(bomb)
    assert run_in_process([f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "experiment=bomb"]) == 1
    assert f"{folder / 'bomb.yaml'}: more than 200,000 values once its aliases are expanded" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
