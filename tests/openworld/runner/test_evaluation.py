"""Held-out evaluation that reaches the shifts: which onsets are scored, the spans' clock arithmetic over the
whole catalogue, and Blight-v0's blight scored in every variant at its real onset."""

from __future__ import annotations

import numpy as np
import pytest

from openworld.agent.protocol import make_agent
from openworld.envs.vector import OpenWorldVectorEnv
from openworld.registry import load_world_spec, world_ids
from openworld.runner.evaluation import Evaluator, evaluated_variants, evaluation_spans, scored_onsets
from openworld.world.shifts import ShiftSchedule

BEFORE, AFTER = 1000, 2000  # the defaults of experiments/conf/config.yaml


def test_scored_onsets_are_each_shifts_first_and_each_regimes_first() -> None:
    assert scored_onsets(ShiftSchedule(load_world_spec("Blight-v0"))) == [(20000, "abrupt", "blight")]
    assert scored_onsets(ShiftSchedule(load_world_spec("Drought-v0"))) == [(20000, "gradual", "drought")]
    # Shiftlands' seasons begin at 2,000 (winter) and turn every 4,000: winter@2000 and summer@6000 are scored,
    # the later turns are not (they repeat a regime change already scored).
    assert scored_onsets(ShiftSchedule(load_world_spec("Shiftlands-v0"))) == [
        (2000, "cyclic", "winter"), (4000, "abrupt", "blight"), (6000, "cyclic", "summer"),
        (8000, "abrupt", "predators"), (11000, "gradual", "drought"), (12500, "abrupt", "berries-move"),
        (16000, "abrupt", "slippery")]
    assert scored_onsets(ShiftSchedule(load_world_spec("Meadow-v0"))) == []


def test_spans_surround_each_onset_clip_at_zero_and_merge() -> None:
    assert evaluation_spans([20000], 1000, 2000) == [(19000, 22000)]
    assert evaluation_spans([], 1000, 2000) == [(1, 3001)]
    assert evaluation_spans([400], 1000, 2000) == [(1, 2400)]  # the lifetime's first recorded clock is 1
    assert evaluation_spans([5000, 7000, 10000], 1000, 2000) == [(4000, 12000)]  # overlapping and touching
    assert evaluation_spans([5000, 10000], 1000, 2000) == [(4000, 7000), (9000, 12000)]


@pytest.mark.parametrize("world", [w for w in world_ids() if getattr(load_world_spec(w), "variants", None)])
def test_every_catalogue_variants_first_onsets_lie_inside_a_span_with_room_for_the_windows(world: str) -> None:
    """The clock arithmetic that guarantees each real variant's shifts are reached (e.g. Blight's blight at
    20,000, Drought's late ramp at 60,000): every scored onset has BEFORE steps before it (or the clock's
    start) and AFTER steps after it inside one span."""
    for variant in evaluated_variants(load_world_spec(world), ["train", "heldout"], before=BEFORE, after=AFTER):
        for t, _, name in scored_onsets(ShiftSchedule(variant.spec)):
            inside = [(a, b) for a, b in variant.spans if a < t < b]
            assert len(inside) == 1, (world, variant.name, name, t, variant.spans)
            (start, end) = inside[0]
            assert (t - start >= BEFORE or start == 1) and end - t >= AFTER, (world, variant.name, name)


def test_drought_late_ramp_is_reached() -> None:
    (late,) = [v for v in evaluated_variants(load_world_spec("Drought-v0"), ["heldout"], before=BEFORE, after=AFTER)
               if v.name == "heldout_late"]
    assert late.spans == ((59000, 62000),)


def _random_agent(num_envs: int) -> object:
    envs = OpenWorldVectorEnv(num_envs, world="Blight-v0")
    return make_agent("random", envs.single_observation_space, envs.single_action_space, num_envs, 0)


def test_blights_held_out_evaluation_scores_its_blight_at_its_real_onset() -> None:
    evaluator = Evaluator(load_world_spec("Blight-v0"), "heldout", before=100, after=200, num_envs=2, seed=0,
                          window=50)
    agent = _random_agent(2)
    before = agent.state_dict()
    records = evaluator.evaluate(agent)
    onsets = {"train": 20000, "train_late": 30000, "train_short": 1500, "heldout_seeds": 20000,
              "heldout_early": 5000, "heldout_severe": 20000, "heldout_creeping": 20000, "heldout_short": 1500}
    assert {r["variant"]: r["split"] for r in records} == {
        name: "train" if name.startswith("train") else "heldout" for name in onsets}
    for record in records:
        (shift,) = record["shifts"]
        assert (shift["name"], shift["t"]) == ("blight", onsets[record["variant"]]), record["variant"]
        assert shift["observed_steps"] == 200 and record["steps"] == 300
        assert record["spans"] == [[onsets[record["variant"]] - 100, onsets[record["variant"]] + 200]]
        assert len(record["units"]["drop"]) == 2  # two world seeds of the variant
    assert {record["variant"]: record["units"]["seeds"] for record in records}["heldout_early"] == [1000, 1001]
    # The agent is as it was, and a second evaluation (from the kept world states) sees the same worlds.
    for key, value in before.items():
        np.testing.assert_equal(agent.state_dict()[key], value)
    assert evaluator.evaluate(agent) == records
