"""benchmarks/shift_audit.py on a tiny plan: it lives each planned lifetime through `openworld run`, reuses runs
already there (scoring them again), and prints a table row per shift and agent with the shift scores."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_the_audit_runs_each_lifetime_once_and_tabulates_its_shifts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    audit = importlib.import_module("shift_audit")
    # Blight's quick variant: the blight at 1,500 and 2,100 steps, so 600 >= W = 500 steps of it are observed.
    monkeypatch.setattr(audit, "PLAN", (("blight", "quick", 2100),))
    monkeypatch.setattr(audit, "AGENTS", ("forager",))
    monkeypatch.setattr(audit, "NUM_ENVS", 2)
    assert audit.main(["--runs", str(tmp_path), "--jobs", "1", "--reps", "50"]) == 0
    output = capsys.readouterr().out
    (row,) = [line for line in output.splitlines() if line.startswith("| Blight-v0 (quick) | blight | 1,500 |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[3] == "forager" and len(cells) == 13
    for cell in cells[4:7]:  # baseline, drop, deficit: numbers
        float(cell)
    assert cells[7:9] == ["—", "—"]  # 600 steps after the blight: too few for a plateau (< 4 W), no adaptation
    summary = tmp_path / "blight-quick" / "forager" / "seed0" / "summary.json"
    written = summary.stat().st_mtime_ns
    assert audit.main(["--runs", str(tmp_path), "--table-only", "--reps", "50"]) == 0  # reuses the run: rescored
    assert summary.stat().st_mtime_ns > written
    assert row in capsys.readouterr().out
