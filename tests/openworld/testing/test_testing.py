"""Tests of openworld.testing.check_world: every registered world passes it, and worlds built to break
one property each make it fail, naming that property, the step and the key.

The broken worlds are small subclasses of OpenWorldEnv. Several only misbehave late (after step 500),
so a checker that stops comparing after the first step, as PettingZoo's seed test does, fails here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

import openworld
from openworld.enums import Action, Vital
from openworld.envs.single import OpenWorldEnv
from openworld.testing import PROPERTIES, WorldCheckError, WorldCheckReport, check_world

WORLD_IDS = openworld.world_ids()
LATE = 500  # broken worlds that misbehave late start doing so at this step index

Step = tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]


def gym_factory(world_id: str) -> Any:
    return lambda **kwargs: gym.make(f"openworld/{world_id}", **kwargs)


class CountingEnv(OpenWorldEnv):
    """Counts its own step() calls, so that a subclass can misbehave from a given step index on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.steps_taken = 0

    def step(self, action: Any) -> Step:
        self.steps_taken += 1
        return super().step(action)

    @property
    def late(self) -> bool:
        """True from step index ``LATE`` on."""
        return self.steps_taken > LATE


# --------------------------------------------------------------------------- every registered world passes


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_every_registered_world_passes_through_gym_make(world_id: str) -> None:
    report = check_world(gym_factory(world_id), steps=1000, seed=0)
    assert report.checked == PROPERTIES
    assert report.skipped == {}
    assert report.render_modes == ("rgb_array", "ansi")
    assert report.world == f"openworld/{world_id}"
    assert report.final_world_step is not None and report.final_world_step >= 1000


@pytest.mark.parametrize("world_id", WORLD_IDS)
def test_every_registered_world_passes_when_bodies_respawn_inside_step(world_id: str) -> None:
    report = check_world(lambda **kwargs: OpenWorldEnv(world_id, on_death="respawn", **kwargs), steps=600, seed=1)
    assert report.checked == PROPERTIES
    assert report.terminations == 0


def test_report_prints_what_was_checked_and_skipped() -> None:
    report = check_world(lambda: gym.make("openworld/Meadow-v0"), steps=30)
    assert isinstance(report, WorldCheckReport)
    assert "render" not in report.checked
    assert "render_mode" in report.skipped["render"]
    text = str(report)
    assert text.startswith("check_world(openworld/Meadow-v0, steps=30, seed=0): passed")
    assert "skipped render: make_env takes no render_mode= keyword" in text


def test_a_world_id_string_and_an_env_class_are_accepted() -> None:
    assert check_world("openworld/Meadow-v0", steps=20).checked == PROPERTIES
    assert check_world(OpenWorldEnv, steps=20).world == "OpenWorldEnv"


def test_caller_can_skip_properties_and_a_typo_is_named() -> None:
    report = check_world(OpenWorldEnv, steps=20, skip=("render", "save_restore"))
    assert report.checked == ("reset", "determinism", "spaces", "clock")
    assert report.skipped == {"render": "skipped by the caller", "save_restore": "skipped by the caller"}
    with pytest.raises(ValueError, match="did you mean 'determinism'"):
        check_world(OpenWorldEnv, steps=20, skip=("determinsm",))
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        check_world(OpenWorldEnv, steps=0)


def test_the_actions_contain_an_interact_and_a_move_even_for_two_steps() -> None:
    class RecordingEnv(OpenWorldEnv):
        actions: ClassVar[list[int]] = []

        def step(self, action: Any) -> Step:
            self.actions.append(int(action))
            return super().step(action)

    check_world(RecordingEnv, steps=2, skip=("reset", "render", "save_restore"))
    assert len(RecordingEnv.actions) == 4  # two envs for determinism
    assert Action.INTERACT in RecordingEnv.actions
    assert {Action.NORTH, Action.EAST, Action.SOUTH, Action.WEST} & set(RecordingEnv.actions)


class WithoutPersistence(gym.Env[Any, Any]):
    """An outside author's env: no get_state/set_state and no engine to look into."""

    metadata = OpenWorldEnv.metadata

    def __init__(self, render_mode: str | None = None) -> None:
        self.inner = OpenWorldEnv(render_mode=render_mode)
        self.observation_space = self.inner.observation_space
        self.action_space = self.inner.action_space
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return self.inner.reset(seed=seed, options=options)

    def step(self, action: int) -> Step:
        return self.inner.step(action)

    def render(self) -> Any:
        return self.inner.render()


def test_a_world_without_get_state_skips_save_restore_and_says_so() -> None:
    report = check_world(WithoutPersistence, steps=50)
    assert "save_restore" not in report.checked
    assert report.skipped["save_restore"] == "the env has no get_state()/set_state()"
    assert "terrain" in report.skipped["reset (in part)"]
    assert "only the outputs were compared" in report.skipped["determinism (in part)"]
    assert "save_restore" in str(report)


def test_a_time_limit_fails_unless_truncation_is_expected() -> None:
    def make_env(**kwargs: Any) -> gym.Env[Any, Any]:
        return gym.make("openworld/Meadow-v0", max_episode_steps=40, **kwargs)

    with pytest.raises(WorldCheckError, match=r"^spaces: step 39: truncated: is True") as failure:
        check_world(make_env, steps=100)
    assert (failure.value.property, failure.value.step, failure.value.key) == ("spaces", 39, "truncated")
    # TimeLimit counts steps in a wrapper, outside get_state(): a restored env would truncate at another
    # step, which save_restore rightly reports; a world with a time limit skips that property.
    with pytest.raises(WorldCheckError, match=r"^save_restore: step \d+: truncated: differs"):
        check_world(make_env, steps=100, expect_never_truncated=False)
    report = check_world(make_env, steps=100, expect_never_truncated=False, skip=("save_restore",))
    assert report.terminations >= 2  # reset() after each truncation, and the clock kept running
    assert report.final_world_step is not None and report.final_world_step >= 100


class ReusesItsBuffers(OpenWorldEnv):
    """Writes every observation into the same arrays (a common optimisation); still a correct world."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffers: dict[str, np.ndarray] = {}

    def fill(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for key, value in obs.items():
            self.buffers.setdefault(key, np.empty_like(value))[...] = value
        return self.buffers

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        return self.fill(obs), info

    def step(self, action: Any) -> Step:
        obs, reward, terminated, truncated, info = super().step(action)
        return self.fill(obs), reward, terminated, truncated, info


def test_a_world_that_reuses_its_observation_buffers_passes() -> None:
    assert check_world(ReusesItsBuffers, steps=300).checked == PROPERTIES


# --------------------------------------------------------------------------- (a) nondeterminism, late


class LateNoisyVitals(CountingEnv):
    """Scales the vitals by a draw from the unseeded global RNG, from step index 500 on (still in [0, 1])."""

    def step(self, action: Any) -> Step:
        obs, reward, terminated, truncated, info = super().step(action)
        if self.late:
            obs = {**obs, "vitals": obs["vitals"] * np.float32(np.random.uniform(0.5, 0.99))}  # noqa: NPY002
        return obs, reward, terminated, truncated, info


class LateNoisyInfo(CountingEnv):
    """Adds unseeded noise deep inside the info, from step index 500 on."""

    def step(self, action: Any) -> Step:
        obs, reward, terminated, truncated, info = super().step(action)
        if self.late:
            info = {**info, "debug": {"samples": [np.random.random(2)]}}  # noqa: NPY002
        else:
            info = {**info, "debug": {"samples": [np.zeros(2)]}}
        return obs, reward, terminated, truncated, info


def test_nondeterminism_after_step_500_is_caught_at_that_step() -> None:
    with pytest.raises(WorldCheckError) as failure:
        check_world(LateNoisyVitals, steps=600)
    err = failure.value
    assert err.property == "determinism"
    assert err.step is not None and err.step >= LATE
    assert err.key.startswith("obs['vitals']")
    assert str(err).startswith(f"determinism: step {err.step}: obs['vitals']")


def test_nondeterminism_deep_inside_info_names_the_nested_key() -> None:
    with pytest.raises(WorldCheckError) as failure:
        check_world(LateNoisyInfo, steps=600)
    err = failure.value
    assert (err.property, err.step) == ("determinism", LATE)
    assert err.key == "info['debug']['samples'][0][0]"


# --------------------------------------------------------------------------- (b) save/restore drops something


class ForgetsTheClock(OpenWorldEnv):
    """Restores everything, then starts the world clock again from 0."""

    def set_state(self, data: bytes) -> None:
        super().set_state(data)
        self.engine.state.clock[:] = 0


class KeepsItsOwnGenerators(OpenWorldEnv):
    """Restores every array but keeps the random generators it had (those of a fresh reset)."""

    def set_state(self, data: bytes) -> None:
        generators = self.engine.state.rngs
        super().set_state(data)
        self.engine.state.rngs = generators


def test_a_restore_that_resets_the_clock_fails_save_restore_at_the_save_point() -> None:
    with pytest.raises(WorldCheckError) as failure:
        check_world(ForgetsTheClock, steps=400)
    err = failure.value
    assert (err.property, err.step, err.key) == ("save_restore", 200, "info['world_step']")
    assert "restored from get_state() after 200 steps" in str(err)


def test_a_restore_that_keeps_stale_generators_fails_save_restore() -> None:
    with pytest.raises(WorldCheckError, match=r"^save_restore: ") as failure:
        check_world(KeepsItsOwnGenerators, steps=400)
    assert failure.value.step is not None and failure.value.step >= 200


# --------------------------------------------------------------------------- (c) outputs outside their spaces


class LateOverfullFood(CountingEnv):
    """Reports food at 1.5 (above its space's bound of 1) from step index 500 on."""

    def step(self, action: Any) -> Step:
        obs, reward, terminated, truncated, info = super().step(action)
        if self.late:
            vitals = obs["vitals"].copy()
            vitals[Vital.FOOD] = 1.5
            obs = {**obs, "vitals": vitals}
        return obs, reward, terminated, truncated, info


class DoubleVitals(OpenWorldEnv):
    """Vitals in range, but float64 where the space declares float32."""

    def step(self, action: Any) -> Step:
        obs, reward, terminated, truncated, info = super().step(action)
        return {**obs, "vitals": obs["vitals"].astype(np.float64)}, reward, terminated, truncated, info


class NanReward(OpenWorldEnv):
    def step(self, action: Any) -> Step:
        obs, _, terminated, truncated, info = super().step(action)
        return obs, float("nan"), terminated, truncated, info


@pytest.mark.parametrize(("world", "step", "key", "problem"), [
    (LateOverfullFood, LATE, "obs['vitals'][1]", "outside its space's bounds"),
    (DoubleVitals, 0, "obs['vitals']", "has dtype float64, but its space declares float32"),
    (NanReward, 0, "reward", "not a finite float"),
])
def test_outputs_outside_their_spaces_fail_spaces(world: type[OpenWorldEnv], step: int, key: str,
                                                  problem: str) -> None:
    with pytest.raises(WorldCheckError, match=problem) as failure:
        check_world(world, steps=600)
    assert (failure.value.property, failure.value.step, failure.value.key) == ("spaces", step, key)


# --------------------------------------------------------------------------- reset and clock contracts


class RegeneratesOnReset(OpenWorldEnv):
    """Treats every reset() without a seed as a request for a new map."""

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return super().reset(seed=seed, options={"regenerate": True} if seed is None else options)


class EpisodeClock(OpenWorldEnv):
    """Reports steps since the last reset as the world clock."""

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self.episode_steps = 0
        obs, info = super().reset(seed=seed, options=options)
        return obs, {**info, "world_step": 0}

    def step(self, action: Any) -> Step:
        obs, reward, terminated, truncated, info = super().step(action)
        self.episode_steps += 1
        return obs, reward, terminated, truncated, {**info, "world_step": self.episode_steps}


class StalledClock(CountingEnv):
    """The clock stops advancing from step index 500 on."""

    def step(self, action: Any) -> Step:
        obs, reward, terminated, truncated, info = super().step(action)
        stalled = info["world_step"] - max(0, self.steps_taken - LATE)  # stands still from index LATE on
        return obs, reward, terminated, truncated, {**info, "world_step": stalled}


def test_a_reset_that_regenerates_the_world_fails_reset() -> None:
    with pytest.raises(WorldCheckError, match="must not regenerate the world") as failure:
        check_world(RegeneratesOnReset, steps=100)
    assert (failure.value.property, failure.value.key) == ("reset", "engine.state.terrain")


def test_a_clock_that_reset_sets_back_fails_clock() -> None:
    with pytest.raises(WorldCheckError, match=r"^clock: reset\(\) without a seed.*went back from 20 to 0"):
        check_world(EpisodeClock, steps=100)


def test_a_clock_that_stalls_late_fails_clock_at_that_step() -> None:
    with pytest.raises(WorldCheckError, match="must grow by >= 1 per step") as failure:
        check_world(StalledClock, steps=600, skip=("reset",))
    assert (failure.value.property, failure.value.step) == ("clock", LATE)


# --------------------------------------------------------------------------- (d) render


class RgbaRender(OpenWorldEnv):
    def render(self) -> Any:
        frame: Any = super().render()
        if self.render_mode == "rgb_array":
            alpha = np.full(frame.shape[:2] + (1,), 255, np.uint8)
            return np.concatenate([frame, alpha], axis=-1)
        return frame


class FloatRender(OpenWorldEnv):
    def render(self) -> Any:
        frame: Any = super().render()
        return frame / 255.0 if self.render_mode == "rgb_array" else frame


class EmptyTextRender(OpenWorldEnv):
    def render(self) -> Any:
        return "" if self.render_mode == "ansi" else super().render()


class GrowingRender(CountingEnv):
    """The RGB frame gains a row of pixels with every step."""

    def render(self) -> Any:
        frame: Any = super().render()
        if self.render_mode == "rgb_array":
            return np.pad(frame, ((0, self.steps_taken), (0, 0), (0, 0)))
        return frame


@pytest.mark.parametrize(("world", "key", "problem"), [
    (RgbaRender, "frame.shape", r"is \(\d+, \d+, 4\), not \(H, W, 3\)"),
    (FloatRender, "frame.dtype", "is float64, not uint8"),
    (EmptyTextRender, "frame", "empty text frame"),
    (GrowingRender, "frame.shape", "changed from"),
])
def test_a_broken_render_fails_render(world: type[OpenWorldEnv], key: str, problem: str) -> None:
    with pytest.raises(WorldCheckError, match=problem) as failure:
        check_world(world, steps=20)
    assert (failure.value.property, failure.value.key) == ("render", key)


def test_an_exception_inside_the_env_is_reported_as_the_property_it_broke() -> None:
    class BrokenSetState(OpenWorldEnv):
        def set_state(self, data: bytes) -> None:
            raise ValueError("cannot read that")

    with pytest.raises(WorldCheckError, match=r"^save_restore: .*raised ValueError: cannot read that") as failure:
        check_world(BrokenSetState, steps=20)
    assert failure.value.key == "exception"
    assert isinstance(failure.value.__cause__, ValueError)
