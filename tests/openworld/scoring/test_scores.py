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
    "shifts": [{"t": 4000, "kind": "abrupt", "name": "blight", "baseline": 0.61, "drop": 0.2249, "recovery_time": 1234,
                "censored": False, "regret": 530.4, "observed_steps": 6000},
               {"t": 10_000, "kind": "gradual", "name": "drought", "baseline": 0.5, "drop": -0.01,
                "recovery_time": None, "censored": True, "regret": 12.0, "observed_steps": 7501}],
}


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
    assert len(summary["shifts"]) == 1
    with pytest.raises(ValueError, match="per shift"):
        scores.DROP.of_run(summary)


SHIFT_TABLE = ("        t  shift                    baseline    drop   recovery\n"
               "    4,000  abrupt:blight               0.610  +0.225      1,234\n"
               "   10,000  gradual:drought             0.500  -0.010    >=7,501\n"
               "  forgetting -0.012\n")


# The runner's printed table before the scores were declared in one list (copied from its output then):
# the list must print it character for character.
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
