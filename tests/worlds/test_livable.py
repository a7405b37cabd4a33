"""Every catalogue world is livable and its shifts matter (the catalogue issue's acceptance tests).

For each world, one lifetime of its ``quick`` variant (the schedule compressed for tests, first shift
after the first 1,500 steps, when the resources the forager found fresh have settled to their steady
state) is lived by three groups of ``NUM_WORLDS`` bodies, each in its own batched vector env:

* **the forager** (``forager``, learning what each resource does) must keep an alive fraction of at
  least 0.8 in every stationary stretch (between shifts, ramps excluded): the world is livable;
* **a fixed policy**: the same forager, except that at each shift its learning stops for the
  ``WINDOW`` steps that follow (``fixed-forager`` loaded with the forager's state: exactly what it knew
  before the shift, frozen). Its wellbeing must drop after every shift (``shift_metrics`` drop > 0,
  averaged over the worlds);
* **its control**: the same policy, the same seeds, in the same world *without* its shifts. Until the
  first shift the two groups live identical lives; the fixed policy's drop must exceed the control's
  "drop" at the same steps, so that the drop is the shift's doing. (All bodies are born with the same
  vitals, so their rest-and-forage cycles start in step and the mean wellbeing of a group oscillates
  for thousands of steps: a windowed mean can fall between two steps for no other reason.)

A fixed policy frozen *at each shift* is the counterfactual that works for every kind of shift. A
policy frozen once at birth cannot show a drop at every change of a cycle: when Seasons turns back to
summer, a summer-fitted policy does better, not worse.

Shiftlands, the engine's everything-at-once exercise, is only checked for livability: two of its
shifts are reliefs by design (summer after winter, relocated berries that come back ripe).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
import pytest

import openworld
from openworld.agent.protocol import Agent, Transition, make_agent
from openworld.envs.vector import OpenWorldVectorEnv
from openworld.scoring import metrics
from openworld.variants import world_variants
from openworld.world.shifts import ShiftSchedule
from openworld.world.spec import WorldSpec

NUM_WORLDS = 12  # per group; the forager is batched, so more worlds cost little
WINDOW = 500  # steps of the windowed mean wellbeing around each shift (quick schedules space shifts 1,000 apart)
TAIL = 800  # steps lived after the last shift onset (or ramp end)
ALIVE_FLOOR = 0.8
RELIEF_WORLDS = {"Shiftlands-v0"}  # drop not required at every shift (see the module docstring)
WORLDS = [w for w in openworld.world_ids() if "quick" in world_variants(w).names]


@dataclass
class Lifetime:
    steps: int
    shift_steps: list[int]  # stream index of each shift onset (world time t is stream index t - 1)
    shift_names: list[str]
    stretches: list[tuple[int, int, float]]  # stationary stretches [a, b) with the forager's alive fraction
    forager_drops: list[float]  # per shift, mean over worlds
    fixed_drops: list[float]
    control_drops: list[float]


def lifetime_steps(spec: WorldSpec) -> int:
    """Past the last onset (or ramp end) by TAIL; a cycle is lived through two changes."""
    ends = [shift.end if shift.kind == "gradual" else shift.at for shift in spec.shifts if shift.kind != "cyclic"]
    ends += [shift.start + 2 * shift.period for shift in spec.shifts if shift.kind == "cyclic"]
    return max([0, *ends]) + TAIL


class Group:
    """``NUM_WORLDS`` bodies in one vector env, driven by the forager, optionally frozen in windows."""

    def __init__(self, spec: WorldSpec, world_seed: int, agent_seed: int, frozen: np.ndarray | None) -> None:
        self.envs = OpenWorldVectorEnv(num_envs=NUM_WORLDS, world=spec, on_death="respawn")
        space, actions = self.envs.single_observation_space, self.envs.single_action_space
        self.learner: Agent = make_agent("forager", space, actions, NUM_WORLDS, seed=agent_seed)
        self.fixed: Agent = make_agent("fixed-forager", space, actions, NUM_WORLDS, seed=agent_seed)
        self.frozen = frozen
        steps = len(frozen) if frozen is not None else 0
        self.alive = np.zeros((steps, NUM_WORLDS), dtype=bool)
        self.wellbeing = np.zeros((steps, NUM_WORLDS))
        self.obs, _ = self.envs.reset(seed=world_seed)

    def step(self, t: int) -> None:
        frozen = self.frozen is not None and self.frozen[t]
        was_frozen = self.frozen is not None and t > 0 and self.frozen[t - 1]
        if frozen and not was_frozen:
            self.fixed.load_state_dict(self.learner.state_dict())  # what it knew just before, frozen
        elif was_frozen and not frozen:
            self.learner.load_state_dict(self.fixed.state_dict())
        agent = self.fixed if frozen else self.learner
        actions = agent.act(self.obs)
        next_obs, rewards, terminated, truncated, info = self.envs.step(actions)
        agent.observe(Transition(self.obs, actions, rewards, next_obs, terminated, truncated, info))
        self.alive[t] = info["alive"]
        self.wellbeing[t] = metrics.wellbeing(info["alive"], next_obs["vitals"], np.ones(len(openworld.Vital)))
        self.obs = next_obs

    def drops(self, shift_steps: list[int], kinds: list[str]) -> list[float]:
        # nan: a shift followed by another within WINDOW steps is unobserved (Shiftlands' quick schedule).
        per_world = [[math.nan if scores["drop"] is None else scores["drop"] for scores in metrics.shift_metrics(
            self.wellbeing[:, i], shift_steps, kinds, window=WINDOW)] for i in range(NUM_WORLDS)]
        return np.mean(np.reshape(per_world, (NUM_WORLDS, len(shift_steps))), axis=0).tolist()


@functools.cache
def live_quick(world_id: str, seed: int = 0) -> Lifetime:
    """One lifetime of the world's quick variant by the forager, the fixed policy and its control."""
    spec = openworld.variants.apply_variant(openworld.load_world_spec(world_id), "quick")
    steps = lifetime_steps(spec)
    events = ShiftSchedule(spec).events(1, steps)
    shift_steps, kinds = [event.t - 1 for event in events], [event.kind for event in events]
    frozen = np.zeros(steps, dtype=bool)
    for t in shift_steps:
        frozen[t:t + WINDOW] = True
    forager = Group(spec, seed, seed, np.zeros(steps, dtype=bool))
    groups = [forager]
    with_fixed = bool(events) and world_id not in RELIEF_WORLDS
    if with_fixed:
        fixed = Group(spec, seed + 1000, seed + 1, frozen)
        control = Group(dataclasses.replace(spec, shifts=()), seed + 1000, seed + 1, frozen)
        groups += [fixed, control]
    for t in range(steps):
        for group in groups:
            group.step(t)
    for group in groups:
        group.envs.close()

    ramp = np.zeros(steps, dtype=bool)
    cuts = {0, steps, *shift_steps}
    for shift in spec.shifts:
        if shift.kind == "gradual":
            ramp[max(0, shift.start - 1):max(0, shift.end - 1)] = True
            cuts.add(min(steps, max(0, shift.end - 1)))
    bounds = sorted(cuts)
    stretches = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        keep = ~ramp[a:b]
        if keep.sum() >= WINDOW // 2:
            stretches.append((a, b, float(forager.alive[a:b][keep].mean())))
    none = [float("nan")] * len(events)
    return Lifetime(steps, shift_steps, [e.name for e in events], stretches,
                    forager.drops(shift_steps, kinds) if events else [],
                    fixed.drops(shift_steps, kinds) if with_fixed else none,
                    control.drops(shift_steps, kinds) if with_fixed else none)


@pytest.mark.parametrize("world_id", WORLDS)
def test_forager_stays_alive_in_stationary_stretches(world_id: str) -> None:
    life = live_quick(world_id)
    assert life.stretches, "no stationary stretch was lived"
    for a, b, alive_fraction in life.stretches:
        assert alive_fraction >= ALIVE_FLOOR, (
            f"{world_id} (quick): the forager is alive only {alive_fraction:.3f} of steps [{a}, {b}); "
            f"a world where nothing survives is a bug")


@pytest.mark.parametrize("world_id", [w for w in WORLDS if w not in RELIEF_WORLDS])
def test_every_shift_costs_a_policy_that_does_not_adapt(world_id: str) -> None:
    life = live_quick(world_id)
    if world_id != "Meadow-v0":
        assert life.shift_steps, f"{world_id} (quick) has no shift within {life.steps} steps"
    for name, t, drop, control in zip(life.shift_names, life.shift_steps, life.fixed_drops, life.control_drops,
                                      strict=True):
        assert drop > 0.0 and drop > control, (
            f"{world_id} (quick): shift '{name}' at step {t + 1} does not lower the wellbeing of a policy that "
            f"stops adapting there (mean drop {drop:+.3f}; without the shift {control:+.3f}): a shift that "
            "does not matter")


def test_meadow_is_stationary() -> None:
    assert not openworld.load_world_spec("Meadow-v0").shifts
