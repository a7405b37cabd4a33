"""Tests of openworld.scoring.generalization and .generalization_report: a variant's spans scored like a
lifetime, the gap between training and held-out variants, and the report's rows, section and plot, on
synthetic inputs with hand-computed answers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openworld.scoring.generalization import Span, generalization_section, score_variant
from openworld.scoring.generalization_report import (
    comparison_rows,
    continual_rows,
    generalization_markdown,
    generalization_rows,
    plot_generalization,
)
from openworld.scoring.runs import Group

REPS = 300


def _span() -> Span:
    # Two worlds (seeds 7 and 8) recorded at clocks 10..13; a shift at clock 12 (row 2). World 0 dies at row 2.
    wellbeing = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.5], [0.0, 1.0]])
    alive = np.array([[True, True], [True, True], [False, True], [False, True]])
    deaths = np.array([[False, False], [False, False], [True, False], [False, False]])
    return Span(start=10, seeds=[7, 8], alive=alive, wellbeing=wellbeing, deaths=deaths,
                onsets=[(12, "abrupt", "blight")])


def test_a_variant_is_scored_like_a_lifetime_on_the_mean_stream_and_per_world() -> None:
    record = score_variant([_span()], window=2, tolerance=0.0)
    assert record["steps"] == 4 and record["spans"] == [[10, 14]]
    assert record["alive_fraction"] == 0.75  # worlds: 2/4 and 4/4
    assert record["mean_wellbeing"] == 0.6875  # worlds: 0.5 and 0.875
    assert record["deaths_per_10k"] == 1250.0  # worlds: 2,500 and 0
    (shift,) = record["shifts"]
    # Mean stream 1, 1, 0.25, 0.5 (W = 2): baseline 1; one candidate (row 2, mean 0.375): drop = deficit = 0.625,
    # never back; two steps after the onset, too few for a plateau. Alive: 1, 1, 0.5, 0.5: drop = deficit = 0.5.
    assert shift == {"t": 12, "kind": "abrupt", "name": "blight", "baseline": 1.0, "drop": 0.625, "deficit": 0.625,
                     "deficit_area": 1.25, "plateau": None, "adaptation_time": None, "adaptation_censored": False,
                     "sustained_return": None, "return_censored": True, "noise": 0.0, "observed_steps": 2,
                     "observed": True,
                     "alive_baseline": 1.0, "alive_drop": 0.5, "alive_deficit": 0.5, "alive_deficit_area": 1.0,
                     "alive_plateau": None, "alive_adaptation_time": None, "alive_adaptation_censored": False,
                     "alive_sustained_return": None, "alive_return_censored": True, "alive_noise": 0.0}
    # Per world: wellbeing 1, 1, 0, 0 (drop = deficit = 1) and 1, 1, 0.5, 1 (0.25); alive 1, 1, 0, 0 and all 1.
    assert record["units"] == {"seeds": [7, 8], "alive_fraction": [0.5, 1.0], "mean_wellbeing": [0.5, 0.875],
                               "deaths_per_10k": [2500.0, 0.0], "drop": [1.0, 0.25], "deficit": [1.0, 0.25],
                               "alive_drop": [1.0, 0.0], "alive_deficit": [1.0, 0.0]}


def test_worlds_sharing_a_seed_are_one_unit_and_a_shift_on_the_first_row_is_not_scored() -> None:
    span = _span()
    shared = Span(span.start, [7, 7], span.alive, span.wellbeing, span.deaths, [(10, "abrupt", "start")])
    record = score_variant([shared, shared], window=2, tolerance=0.0)
    assert record["shifts"] == [] and record["units"]["drop"] is None
    assert record["units"]["seeds"] == [7] and record["units"]["alive_fraction"] == [0.75]
    assert record["steps"] == 8
    with pytest.raises(ValueError, match="same worlds"):
        score_variant([span, shared], window=2, tolerance=0.0)


def _record(variant: str, split: str, alive: list[float], drop: list[float] | None) -> dict[str, Any]:
    return {"step": 300, "variant": variant, "split": split,
            "units": {"alive_fraction": alive, "mean_wellbeing": alive, "drop": drop, "alive_drop": drop}}


def test_the_gap_compares_training_and_held_out_units() -> None:
    records = [_record("train", "train", [1.0], [0.0]), _record("train_b", "train", [0.5], None),
               _record("heldout_a", "heldout", [0.5, 0.0], None)]
    section = generalization_section(records, reps=REPS)
    assert section is not None
    assert section["train"] == ["train", "train_b"] and section["heldout"] == ["heldout_a"] and section["step"] == 300
    alive = section["scores"]["alive_fraction"]
    assert alive["train"] == {"n": 2, "mean": 0.75} and alive["heldout"] == {"n": 2, "mean": 0.25}
    assert alive["gap"] == 0.5
    assert alive["gap_ci"][0] <= 0.5 <= alive["gap_ci"][1]
    # Pairs (train, held-out): (1, .5) (1, 0) (.5, .5) (.5, 0) -> 1 + 1 + 0.5 + 1 = 3.5 of 4.
    assert alive["p_train_gt_heldout"] == 0.875 and alive["higher_is_better"] is True
    assert "drop" not in section["scores"]  # the held-out variants have no shift
    assert generalization_section(records[:2], reps=REPS) is None  # no held-out variant, no gap


def _summary(seed: int, train: float, heldout: float) -> dict[str, Any]:
    score = {"higher_is_better": True, "train": {"n": 4, "mean": train}, "heldout": {"n": 8, "mean": heldout},
             "gap": train - heldout, "gap_ci": [train - heldout - 0.1, train - heldout + 0.1],
             "p_train_gt_heldout": 0.75, "p_ci": [0.5, 1.0]}
    return {"seed": seed, "generalization": {"scores": {"alive_fraction": score, "mean_wellbeing": score}}}


def test_report_rows_aggregate_runs_and_a_single_run_keeps_its_own_interval(tmp_path: Path) -> None:
    two = Group("Blight-v0", None, "forager", runs=[_summary(0, 0.8, 0.5), _summary(1, 0.6, 0.4)])
    one = Group("Drought-v0", None, "forager", runs=[_summary(0, 0.9, 0.7)])
    rows = generalization_rows([two, one], reps=REPS)
    assert [(r["world"], r["metric"], r["units"]) for r in rows] == [
        ("Blight-v0", "alive_fraction", "runs"), ("Blight-v0", "mean_wellbeing", "runs"),
        ("Drought-v0", "alive_fraction", "world seeds"), ("Drought-v0", "mean_wellbeing", "world seeds")]
    blight = rows[0]
    assert blight["n"] == 2
    assert blight["train"][0] == pytest.approx(0.7) and blight["heldout"][0] == pytest.approx(0.45)  # IQM of two
    assert blight["gap"][0] == pytest.approx(0.25)
    assert blight["p_train_gt_heldout"][0] == 1.0  # both runs' training means beat both held-out means
    drought = rows[2]
    assert drought["gap"] == pytest.approx([0.2, 0.1, 0.3]) and drought["p_train_gt_heldout"] == [0.75, 0.5, 1.0]
    lines = generalization_markdown(rows, 0.95)
    assert "## Generalization" in lines
    assert "| Drought-v0 | forager | zero-shot | alive fraction | 1 | world seeds | 0.900 | 0.700 | " \
           "0.200 [0.100, 0.300] | 0.75 [0.50, 1.00] |" in lines
    assert generalization_markdown([], 0.95) == []
    os.environ.setdefault("MPLBACKEND", "Agg")
    path = plot_generalization(rows, tmp_path / "generalization.png", 0.95)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def _lifetime(seed: int, variant: str, split: str, alive: float) -> dict[str, Any]:
    return {"seed": seed, "variant": variant, "split": split, "survival": {"alive_fraction": alive},
            "mean_wellbeing": alive / 2}


def test_continual_rows_compare_lifetimes_in_training_and_held_out_variants() -> None:
    groups = [Group("Blight-v0", "train", "ppo", runs=[_lifetime(0, "train", "train", 0.9),
                                                        _lifetime(1, "train", "train", 0.7)]),
              Group("Blight-v0", "heldout_early", "ppo", runs=[_lifetime(0, "heldout_early", "heldout", 0.6)]),
              Group("Blight-v0", "heldout_severe", "ppo", runs=[_lifetime(0, "heldout_severe", "heldout", 0.8)]),
              Group("Drought-v0", "train", "ppo", runs=[_lifetime(0, "train", "train", 0.5)])]  # no held-out run
    rows = continual_rows(groups, reps=REPS)
    assert [(r["world"], r["metric"], r["mode"], r["n"]) for r in rows] == [
        ("Blight-v0", "alive_fraction", "continual", 4), ("Blight-v0", "mean_wellbeing", "continual", 4)]
    alive = rows[0]
    assert alive["train"][0] == pytest.approx(0.8) and alive["heldout"][0] == pytest.approx(0.7)
    assert alive["gap"][0] == pytest.approx(0.1) and alive["gap"][1] <= alive["gap"][0] <= alive["gap"][2]
    # Pairs (train, held-out): (.9, .6) (.9, .8) (.7, .6) (.7, .8) -> 3 of 4.
    assert alive["p_train_gt_heldout"][0] == 0.75
    assert comparison_rows(groups, reps=REPS) == rows  # no run has a zero-shot section
    lines = generalization_markdown(rows, 0.95)
    assert any(line.startswith("| Blight-v0 | ppo | continual | alive fraction | 4 | runs | 0.800 | 0.700 | 0.100 [")
               for line in lines)
