"""``openworld score``: a run directory's recording scored again, living nothing, with the run's recorded config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from openworld.scoring.monitor import Monitor
from openworld.tools.cli import main


def recorded_run(directory: Path) -> None:
    """A recording as a run leaves it when killed before its summary, with its Sacred config."""
    with Monitor(directory, None, 2, chunk_rows=8, metadata={"world": "Meadow-v0", "agent": "random-v0", "seed": 3,
                                                            "variant": None}) as monitor:
        for t in range(1, 41):
            monitor.record([t, t], [True, t % 9 != 0], np.full((2, 4), (t % 5) / 5), [False, t % 9 == 0])
    (directory / "sacred" / "1").mkdir(parents=True)
    config = {"steps": 40, "bodies": 1, "report": "off", "metrics": {"window": 4, "tolerance": 0.1}}
    (directory / "sacred" / "1" / "config.json").write_text(json.dumps(config))


def test_score_writes_the_summary_of_a_run_without_one_then_rescores_it(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    recorded_run(tmp_path / "run")
    assert main(["score", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert (summary["seed"], summary["window"], summary["tolerance"], summary["lifetime_steps"]) == (3, 4, 0.1, 40)
    assert not (tmp_path / "run" / "report").exists()  # report=off, as the run was configured
    assert "run directory" in capsys.readouterr().out

    (tmp_path / "run" / "summary.json").write_text(json.dumps({**summary, "kept": 1, "survival": None}))
    assert main(["score", str(tmp_path / "run"), "--window", "8", "--report", "tables"]) == 0
    rescored = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert rescored["kept"] == 1 and rescored["window"] == 8 and rescored["survival"] == summary["survival"]
    assert (tmp_path / "run" / "report" / "report.md").exists()


def test_score_refuses_a_folder_without_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert str(tmp_path) in error and "no recording" in error


def test_score_refuses_a_window_of_zero_recorded_or_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorded_run(tmp_path / "run")
    config_file = tmp_path / "run" / "sacred" / "1" / "config.json"
    config = json.loads(config_file.read_text())
    config["metrics"]["window"] = 0  # a run recorded before values were ranged: why its scoring failed
    config_file.write_text(json.dumps(config))
    assert main(["score", str(tmp_path / "run")]) == 2
    assert "its metrics.window (give --window) must be an integer >= 1, got 0" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "run"), "--window", "0"]) == 2
    assert "--window must be an integer >= 1, got 0" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "run"), "--window", "4"]) == 0
    assert (tmp_path / "run" / "summary.json").exists()
