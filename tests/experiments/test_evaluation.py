"""Held-out evaluation through ``openworld run``: the zero-shot evaluation reaches Blight-v0's blight in every
variant and summary.json gets a generalization section (a subprocess with a tiny budget), the windows must
fit the spans, and a continual lifetime in a held-out variant records its split."""

from __future__ import annotations

import json
from pathlib import Path

TINY = ["agent=random", "num_envs=2", "progress=off", "metrics.window=50"]


def test_zero_shot_evaluation_scores_the_blight_and_the_gap(tmp_path: Path, openworld_run) -> None:
    result = openworld_run(["world=blight", *TINY, "steps=100", "report=tables", "evaluation.every=100",
                            "evaluation.before=100", "evaluation.after=100", "hydra.run.dir=run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    onsets = {"train": 20000, "train_late": 30000, "train_short": 1500, "heldout_seeds": 20000,
              "heldout_early": 5000, "heldout_severe": 20000, "heldout_creeping": 20000, "heldout_short": 1500}
    assert {record["variant"]: [(s["name"], s["t"]) for s in record["shifts"]] for record in summary["evaluation"]} \
        == {name: [("blight", t)] for name, t in onsets.items()}
    generalization = summary["generalization"]
    assert generalization["train"] == ["train", "train_late", "train_short"] and generalization["step"] == 100
    assert set(generalization["scores"]) == {"alive_fraction", "mean_wellbeing", "drop", "deficit", "alive_drop",
                                             "alive_deficit"}
    gap = generalization["scores"]["alive_fraction"]
    assert gap["gap"] == gap["train"]["mean"] - gap["heldout"]["mean"]
    assert gap["gap_ci"][0] <= gap["gap"] <= gap["gap_ci"][1] and 0.0 <= gap["p_train_gt_heldout"] <= 1.0
    assert gap["train"]["n"] == 6 and gap["heldout"]["n"] == 10  # units: two world seeds per variant
    report = (tmp_path / "run" / "report" / "report.md").read_text()
    assert "## Generalization" in report
    assert "| Blight-v0 | random-v0 | zero-shot | alive fraction | 1 | world seeds |" in report


def test_evaluation_variants_chooses_them_and_an_unknown_one_is_refused_before_the_run(
        tmp_path: Path, run_in_process, capsys) -> None:
    chosen = ["evaluation.variants=[train,heldout_early]", "evaluation.before=100", "evaluation.after=100"]
    assert run_in_process(["world=blight", *TINY, "steps=50", "evaluation.every=50", *chosen, "report=off",
                           "hydra.run.dir=chosen"]) == 0
    summary = json.loads((tmp_path / "chosen" / "summary.json").read_text())
    assert [record["variant"] for record in summary["evaluation"]] == ["train", "heldout_early"]
    assert run_in_process(["world=blight", *TINY, "steps=50", "evaluation.every=50", *chosen[1:],
                           "evaluation.variants=[train,heldout_erly]", "hydra.run.dir=unknown"]) == 2
    assert "evaluation.variants: heldout_erly not among the train/heldout variants" in capsys.readouterr().err
    assert not (tmp_path / "unknown").exists()


def test_evaluation_windows_must_fit_the_spans(run_in_process, capsys) -> None:
    assert run_in_process(["world=blight", *TINY, "steps=10", "evaluation.every=5", "evaluation.before=20",
                           "hydra.run.dir=bad"]) == 2
    assert "evaluation.before must be >= metrics.window (50)" in capsys.readouterr().err


def test_a_continual_lifetime_in_a_held_out_variant_records_its_split(run_in_process, tmp_path: Path) -> None:
    assert run_in_process(["world=blight", "world.variant=heldout_early", *TINY, "steps=50", "report=off",
                           "hydra.run.dir=continual"]) == 0
    summary = json.loads((tmp_path / "continual" / "summary.json").read_text())
    assert (summary["variant"], summary["split"]) == ("heldout_early", "heldout")
    assert "generalization" not in summary  # no zero-shot evaluation was asked for
