"""Tests of openworld.scoring.scores: every declared score is in the summary where the list says, and the
printed summary and live log made from the list are exactly the runner's lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openworld.scoring import scores
from openworld.scoring.monitor import Monitor, summarize
from openworld.world.shifts import ShiftSchedule
from openworld.world.spec import load_spec_text

SUMMARY: dict[str, Any] = {
    "world": "Shiftlands-v0", "agent": "forager", "seed": 3, "steps": 17_500, "num_bodies": 4,
    "survival": {"alive_fraction": 0.95125, "deaths_per_10k": 4.857, "mean_lifetime": 12_345.6},
    "mean_wellbeing": 0.4981, "forgetting": -0.01234,
    "shifts": [{"t": 4000, "kind": "abrupt", "name": "blight", "baseline": 0.61, "drop": 0.2249, "deficit": 0.1876,
                "deficit_area": 1125.6, "plateau": 0.455, "adaptation_time": None, "adaptation_censored": True,
                "sustained_return": None, "return_censored": True, "observed_steps": 6000, "observed": True,
                "noise": 0.0261, "alive_noise": 0.0123,
                "alive_baseline": 0.99, "alive_drop": 0.0512, "alive_deficit": 0.0312, "alive_deficit_area": 187.2,
                "alive_plateau": 0.97, "alive_adaptation_time": 120, "alive_adaptation_censored": False,
                "alive_sustained_return": 1234, "alive_return_censored": False},
               {"t": 10_000, "kind": "gradual", "name": "drought", "baseline": 0.5, "drop": -0.01, "deficit": 0.0,
                "deficit_area": 0.0, "plateau": 0.52, "adaptation_time": 3000, "adaptation_censored": False,
                "sustained_return": 0, "return_censored": False, "observed_steps": 7501, "observed": True,
                "noise": 0.0261, "alive_noise": 0.0123,
                "alive_baseline": 0.95, "alive_drop": 0.0, "alive_deficit": 0.0, "alive_deficit_area": 0.0,
                "alive_plateau": 0.95, "alive_adaptation_time": 0, "alive_adaptation_censored": False,
                "alive_sustained_return": 0, "alive_return_censored": False, "ramp_end": 14_000},
               # Observed for 1,500 steps: too short for a plateau (< 4 W), so no adaptation time.
               {"t": 17_501, "kind": "abrupt", "name": "predators", "baseline": 0.51, "drop": 0.1, "deficit": 0.08,
                "deficit_area": 120.0, "plateau": None, "adaptation_time": None, "adaptation_censored": False,
                "sustained_return": 700, "return_censored": False, "observed_steps": 1500, "observed": True,
                "noise": 0.0261, "alive_noise": 0.0123,
                "alive_baseline": 0.95, "alive_drop": 0.05, "alive_deficit": 0.04, "alive_deficit_area": 60.0,
                "alive_plateau": None, "alive_adaptation_time": None, "alive_adaptation_censored": False,
                "alive_sustained_return": None, "alive_return_censored": True}],
}
# The blight at the last clock of `openworld run world=blight steps=20000`: one step seen after it.
UNOBSERVED = {"t": 20_000, "kind": "abrupt", "name": "blight", "observed_steps": 1, "observed": False,
              **{f"{prefix}{key}": value for prefix in ("", "alive_") for key, value in (
                  ("drop", None), ("deficit", None), ("deficit_area", None), ("plateau", None),
                  ("adaptation_time", None), ("adaptation_censored", True), ("sustained_return", None),
                  ("return_censored", True))},
              "baseline": 0.597, "alive_baseline": 0.98, "noise": 0.0301, "alive_noise": 0.0101}


def test_every_score_is_in_the_summary_where_the_list_says(tmp_path: Path) -> None:
    schedule = ShiftSchedule(load_spec_text(
        "name: Toy\nresources: {berry: {regrow: 0.02}}\n"
        "shifts: [{name: scarce, kind: abrupt, at: 5, set: {resources.berry.regrow: 0.001}}]\n"))
    with Monitor(tmp_path, schedule, 1, metadata={"world": "Toy-v0", "agent": "x", "seed": 0}) as recorder:
        for t in range(1, 11):
            recorder.record([t], [True], np.full((1, 4), 0.5 if t >= 5 else 1.0), [False])
    summary = summarize(tmp_path, window=2)
    assert [s.key for s in scores.SURVIVAL_SCORES] == list(summary["survival"])
    for score in scores.RUN_SCORES:
        assert score.key in (summary["survival"] if score.section == "survival" else summary)
    for score in scores.SHIFT_SCORES:
        assert all(score.key in shift for shift in summary["shifts"])
        assert score.censored_by is None or all(score.censored_by in shift for shift in summary["shifts"])
    for score in scores.REGIME_SCORES:
        assert all(score.key in regime for regime in summary["survival_by_regime"].values())
    assert list(summary["survival_by_regime"]) == ["base", "scarce"]
    assert len(summary["shifts"]) == 1
    with pytest.raises(ValueError, match="per shift"):
        scores.DROP.of_run(summary)


HEADER = ("        t  shift                    baseline    drop deficit plateau adaptation     return alive deficit "
          "alive return\n")
SHIFT_TABLE = (HEADER +
               "    4,000  abrupt:blight               0.610  +0.225   0.188   0.455    >=6,000    >=6,000         "
               "0.031        1,234\n"
               "   10,000  gradual:drought             0.500  -0.010   0.000   0.520      3,000          0         "
               "0.000            0\n"
               "   17,501  abrupt:predators            0.510  +0.100   0.080       —          —        700         "
               "0.040      >=1,500\n"
               "  noise of a W-step mean: wellbeing 0.026, alive fraction 0.012 (the bands of the times are at least 3 "
               "times as wide)\n"
               "  forgetting -0.012\n")


# The runner's printed table (its survival lines as before the scores were declared in one list, copied from
# its output then; the shift table with the alive fraction's scores): the list must print it exactly.
@pytest.mark.parametrize("summary, expected", [
    (SUMMARY, "Shiftlands-v0 / forager / seed 3: 17,500 world steps x 4 bodies\n"
              "  alive fraction 0.951   deaths per 10k 4.86   mean lifetime 12,346   mean wellbeing 0.498\n"
     + SHIFT_TABLE),
    ({**SUMMARY, "num_bodies": 1, "shifts": [], "forgetting": None},
     "Shiftlands-v0 / forager / seed 3: 17,500 world steps x 1 body\n"
     "  alive fraction 0.951   deaths per 10k 4.86   mean lifetime 12,346   mean wellbeing 0.498\n"),
    ({key: value for key, value in SUMMARY.items() if key not in ("mean_wellbeing", "num_bodies")},
     "Shiftlands-v0 / forager / seed 3: 17,500 world steps x 1 body\n"
     "  alive fraction 0.951   deaths per 10k 4.86   mean lifetime 12,346   mean wellbeing 0.000\n" + SHIFT_TABLE),
    # Clocks past the lifetime's steps are explained; an unobserved shift shows no score, and says why.
    ({**SUMMARY, "steps": 20_000, "start": 1, "lifetime_steps": 20_000, "window": 1000, "forgetting": None,
      "bodies": [{"start": 1, "steps": 20_000}, {"start": 1, "steps": 20_731}], "shifts": [UNOBSERVED]},
     "Shiftlands-v0 / forager / seed 3: 20,000 world steps x 4 bodies\n"
     "  world clocks reached 20,000-20,731 in 20,000 steps: a dead body's respawn delay runs its world's clock on;\n"
     "  scored over clocks 1-20,000, which every body recorded (see docs/experiments.md)\n"
     "  alive fraction 0.951   deaths per 10k 4.86   mean lifetime 12,346   mean wellbeing 0.498\n"
     + HEADER +
     "   20,000  abrupt:blight               0.597       —       —       —          —          —             —"
     "            —   unobserved: 1 step after the onset (< W = 1,000)\n"
     "  noise of a 1,000-step mean: wellbeing 0.030, alive fraction 0.010 (the bands of the times are at least 3 "
     "times as wide)\n"),
    # Clocks that stayed at the lifetime's steps need no note.
    ({**SUMMARY, "steps": 17_500, "start": 1, "lifetime_steps": 17_500, "shifts": [], "forgetting": None,
      "bodies": [{"start": 1, "steps": 17_500}] * 4},
     "Shiftlands-v0 / forager / seed 3: 17,500 world steps x 4 bodies\n"
     "  alive fraction 0.951   deaths per 10k 4.86   mean lifetime 12,346   mean wellbeing 0.498\n"),
])
def test_the_printed_summary_is_the_runners_table(summary: dict[str, Any], expected: str) -> None:
    from openworld.runner.summary import format_summary

    assert "\n".join(scores.summary_lines(summary)) + "\n" == expected
    printed = format_summary(summary, Path("/runs/x"), Path("/runs/x/report"))
    assert printed == expected + "  run directory: /runs/x\n  report: /runs/x/report/report.md"


def test_live_line_is_the_runners_live_log(capsys: pytest.CaptureFixture[str]) -> None:
    from openworld.runner.progress import Progress

    interval = {"alive_fraction": 0.87654, "wellbeing": 0.41235, "deaths_per_10k": 3.0}
    assert scores.live_line(interval) == "alive 0.877  wellbeing 0.412"
    Progress(100, "plain", "run").log(50, interval, 1234.0, 4)
    expected = "[run] step 50/100  1,234 steps/s (4,936 body steps/s)  alive 0.877  wellbeing 0.412\n"
    assert capsys.readouterr().out == expected
