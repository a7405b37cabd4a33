"""Bad input at every boundary (world files, ids, registries, actions, options, constructor
arguments, saved states) is an exception whose message says what is wrong, raised before anything
changes."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import openworld
from openworld.enums import Action
from openworld.envs.single import OpenWorldEnv
from openworld.envs.vector import OpenWorldVectorEnv
from openworld.registry import UnknownIdError, register_world, resolve_world_id, world_entries
from openworld.world.spec import SpecError

WORLD_IDS = openworld.world_ids()


def ready_env(**kwargs: Any) -> OpenWorldEnv:
    env = OpenWorldEnv("Meadow-v0", **kwargs)
    env.reset(seed=0)
    return env


# ================================================================== world files
def test_malformed_spec_file_names_file_and_key(tmp_path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("name: Typo\nresources:\n  berry:\n    density: 0.1\n    regorw: 0.01\n")
    with pytest.raises(SpecError) as info:
        openworld.load_spec(path)
    message = str(info.value)
    assert str(path) in message
    assert "resources.berry.regorw" in message and "did you mean 'regrow'?" in message


def test_spec_file_with_wrong_type_names_file_and_key(tmp_path) -> None:
    path = tmp_path / "types.yaml"
    path.write_text("name: Types\nmap:\n  size: [32.5, 32]\n")
    with pytest.raises(SpecError, match=r"types\.yaml: map\.size\[0\]: expected an integer"):
        openworld.load_spec(path)


def test_spec_file_that_is_not_yaml(tmp_path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: Broken\nmap: {size: [32, 32\n")
    with pytest.raises(SpecError, match=r"broken\.yaml: not valid YAML"):
        openworld.load_spec(path)


def test_bad_override_in_the_env_constructor() -> None:
    with pytest.raises(SpecError, match=r"resources\.berry\.regorw.*did you mean 'regrow'"):
        OpenWorldEnv("Meadow-v0", overrides={"resources.berry.regorw": 0.1})
    with pytest.raises(SpecError, match="out of range"):
        gym.make("openworld/Meadow-v0", overrides={"resources.berry.density": 2.0})


# ================================================================== ids and registries
def test_unknown_gymnasium_id() -> None:
    with pytest.raises(gym.error.UnregisteredEnv, match="Nope"):
        gym.make("openworld/Nope-v0")


@pytest.mark.parametrize("name", ["Meadw", "Meadow-v9", "openworld/Meadw-v0"])
def test_unknown_world_id_suggests_and_lists(name: str) -> None:
    with pytest.raises(UnknownIdError) as info:
        openworld.load_world_spec(name)
    message = str(info.value)
    assert f"'{name}'" in message
    assert "Did you mean 'Meadow-v0'?" in message
    for world_id in WORLD_IDS:
        assert world_id in message
    assert isinstance(info.value, KeyError)


def test_unknown_world_in_env_constructor() -> None:
    with pytest.raises(UnknownIdError, match="Registered worlds"):
        OpenWorldEnv("Nowhere-v0")


@pytest.mark.parametrize("name", ["Meadow-v0", "openworld/Meadow-v0", "meadow", "MEADOW"])
def test_world_id_spellings_that_resolve(name: str) -> None:
    assert resolve_world_id(name) == "Meadow-v0"


def test_registering_a_world_id_twice_is_an_error() -> None:
    entry = {e.world_id: e for e in world_entries()}["Meadow-v0"]
    with pytest.raises(ValueError, match="already registered"):
        register_world("Meadow-v0", entry.spec_path)
    assert openworld.world_ids() == WORLD_IDS


@pytest.mark.parametrize("bad_id", ["Meadow", "meadow-v", "9Lives-v0", "Two Words-v0", "Meadow-vX"])
def test_world_id_must_carry_a_version(bad_id: str) -> None:
    entry = {e.world_id: e for e in world_entries()}["Meadow-v0"]
    with pytest.raises(ValueError, match="must look like"):
        register_world(bad_id, entry.spec_path)


# ================================================================== actions
@pytest.mark.parametrize(("action", "error", "match"), [
    (7, ValueError, r"outside the action space \[0, 6\]"),
    (-1, ValueError, r"outside the action space \[0, 6\]"),
    (np.int64(100), ValueError, "outside the action space"),
    (float("nan"), ValueError, "NaN"),
    (np.float32("nan"), ValueError, "NaN"),
    (1.0, TypeError, "float"),
    (np.float64(2.0), TypeError, "float"),
    (True, TypeError, "bool"),
    (np.bool_(False), TypeError, "bool"),
    (np.array([1, 2]), ValueError, r"shape \(2,\)"),
    (np.zeros((2, 2), np.int64), ValueError, "shape"),
    ("1", TypeError, "str"),
    (None, TypeError, "NoneType"),
    ([1], TypeError, "list"),
])
def test_bad_actions_are_rejected_with_a_clear_message(action: Any, error: type[Exception], match: str) -> None:
    env = ready_env()
    state = env.engine.state.copy()
    with pytest.raises(error, match=match):
        env.step(action)
    assert env.engine.state.equals(state), "a rejected action changes nothing"


@pytest.mark.parametrize("action", [3, np.int64(3), np.int8(3), np.array(3), np.array([3]), Action.SOUTH])
def test_integer_actions_in_any_form(action: Any) -> None:
    _, _, _, _, info = ready_env().step(action)
    assert info["world_step"] == 1


def test_bad_action_through_gym_make() -> None:
    env = gym.make("openworld/Meadow-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN"):
        env.step(float("nan"))


def test_step_before_reset() -> None:
    with pytest.raises(RuntimeError, match="reset"):
        OpenWorldEnv("Meadow-v0").step(0)


def test_render_before_reset() -> None:
    with pytest.raises(RuntimeError, match="reset"):
        OpenWorldEnv("Meadow-v0", render_mode="rgb_array").render()


# ================================================================== options and arguments
@pytest.mark.parametrize("options", [{"regen": True}, {"seed": 3}, {"regenerate": True, "foo": 1}])
def test_unknown_reset_option(options: dict) -> None:
    env = ready_env()
    with pytest.raises(ValueError, match="unknown reset option") as info:
        env.reset(options=options)
    assert "regenerate" in str(info.value), "the message lists the valid options"
    envs = OpenWorldVectorEnv(2)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="unknown reset option"):
        envs.reset(options=options)


@pytest.mark.parametrize("on_death", ["die", "Terminate", None, 1])
def test_bad_on_death(on_death: Any) -> None:
    with pytest.raises(ValueError, match="on_death must be 'terminate' or 'respawn'"):
        OpenWorldEnv("Meadow-v0", on_death=on_death)
    with pytest.raises(ValueError, match="on_death"):
        gym.make("openworld/Meadow-v0", on_death=on_death)
    with pytest.raises(ValueError, match="on_death"):
        OpenWorldVectorEnv(2, on_death=on_death)


@pytest.mark.parametrize("render_mode", ["human", "rgb", "ANSI"])
def test_bad_render_mode(render_mode: str) -> None:
    with pytest.raises(ValueError, match="render_mode must be one of"):
        OpenWorldEnv("Meadow-v0", render_mode=render_mode)


def test_bad_render_mode_in_the_vector_env() -> None:
    """BUG: vector.py `OpenWorldVectorEnv.__init__` does not check `render_mode` (the single env
    does): `OpenWorldVectorEnv(2, render_mode="human")` is accepted and `render()` returns an RGB array."""
    with pytest.raises(ValueError, match="render_mode"):
        OpenWorldVectorEnv(2, render_mode="human")


def test_unknown_vector_argument() -> None:
    with pytest.raises(TypeError, match="unknown argument"):
        OpenWorldVectorEnv(2, colour="blue")


def test_bad_num_envs() -> None:
    with pytest.raises(ValueError, match="num_worlds"):
        OpenWorldVectorEnv(0)


# ================================================================== saved states
def corrupt_states(good: bytes) -> list[bytes]:
    middle = len(good) // 2
    return [b"", b"not a saved world", good[:middle], good[:100] + bytes(64) + good[164:],
            b"PK\x03\x04" + bytes(200)]


def test_corrupt_state_bytes_are_rejected_and_the_world_is_left_intact() -> None:
    env, twin = ready_env(), ready_env()
    for action in (1, 2, 3):
        env.step(action)
        twin.step(action)
    good = env.get_state()
    for bad in corrupt_states(good):
        with pytest.raises(ValueError):
            env.set_state(bad)
        assert env.get_state() == good, "the previous state is left intact"
    for action in (4, 5, 6, 0, 1):
        a, b = env.step(action), twin.step(action)
        assert np.array_equal(a[0]["view"], b[0]["view"]) and a[1:] == b[1:]


def test_state_of_another_size_is_rejected() -> None:
    small = OpenWorldEnv("Meadow-v0", overrides={"map.size": [12, 12]})
    small.reset(seed=0)
    env = ready_env()
    good = env.get_state()
    with pytest.raises(ValueError, match="does not fit"):
        env.set_state(small.get_state())
    assert env.get_state() == good


def test_state_of_a_world_with_other_predator_slots_is_rejected() -> None:
    """BUG: env.py `set_state` checks only the grid shape and the body count, so a state saved from a
    world with a different number of predator slots (Meadow: 1, Shiftlands: 3) is accepted and then
    silently broadcast against the wrong predator arrays."""
    meadow, shiftlands = ready_env(), OpenWorldEnv("Shiftlands-v0")
    shiftlands.reset(seed=0)
    assert meadow.engine.num_predators != shiftlands.engine.num_predators
    assert meadow.engine.padded_shape == shiftlands.engine.padded_shape
    good = shiftlands.get_state()
    with pytest.raises(ValueError, match="does not fit"):
        shiftlands.set_state(meadow.get_state())
    assert shiftlands.get_state() == good
