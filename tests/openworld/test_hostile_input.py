"""The catalogue of hostile input: files and values from others, each refused with one clear message that
names the file and the key (or the value) before anything is written, without executing code, exhausting
memory or losing a recording.

World files live in ``hostile_worlds/``, one per finding, each headed by ``# finding:`` (what it did) and
``# expect:`` (a part of the message it now gets): a new finding is a new file. Findings that are not a
world file are the tests below. Elsewhere, by the module they exercise:

* checkpoints that would run code, lie about their size or were edited: ``tests/openworld/runner/test_checkpoint.py``;
* SB3 model files (unpickled only with ``agent.trust_file=true``): ``tests/agents/test_sb3.py``;
* a long ``respawn_delay`` (fast-forward memory bounded): ``tests/openworld/world/test_fast_forward.py``;
* ``make_parallel(num_agents=N)`` capped, a vector env refusing a batch before stepping any world:
  ``tests/openworld/envs/test_parallel.py``, ``tests/worlds/test_minigrid_stream.py``;
* truncated recordings, runs killed before their summary: ``tests/experiments/test_resume.py``,
  ``tests/openworld/scoring/test_summary.py``;
* refused runs that leave nothing behind, a Hydra config bomb: ``tests/experiments/test_hostile_runs.py``;
* datasets (unknown id, another world or space, a truncated episode file, broken metadata, an existing id, a
  bad mix) and agent snapshots (another agent's, not a snapshot, corrupt): ``tests/openworld/data``,
  ``tests/openworld/runner/test_snapshots.py``.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from openworld.errors import RunError, SpecError, brief
from openworld.runner.config import check_run_config, read_run_config
from openworld.world.spec import load_spec
from openworld.yaml_data import MAX_FILE_BYTES, bounded_loader

HOSTILE_WORLDS = sorted((Path(__file__).parent / "hostile_worlds").glob("*.yaml"))
# Far above what a refused world file needs (~2 MB), far below what expanding a bomb would take (GBs).
MEMORY_CAP_BYTES = 50 * 2**20


def header(path: Path, key: str) -> str:
    prefix = f"# {key}: "
    return next(line[len(prefix):] for line in path.read_text().splitlines() if line.startswith(prefix))


@pytest.mark.parametrize("path", HOSTILE_WORLDS, ids=[path.stem for path in HOSTILE_WORLDS])
def test_hostile_world_file_is_refused_naming_file_and_key(path: Path) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as info:
            load_spec(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert header(path, "expect") in message
    assert len(message) < 1000  # values in messages are shortened
    assert peak < MEMORY_CAP_BYTES


def test_the_catalogue_covers_each_finding() -> None:
    assert len(HOSTILE_WORLDS) >= 13
    for path in HOSTILE_WORLDS:
        assert header(path, "finding") and header(path, "expect")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: Caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match=r"latin1.yaml: world file is not UTF-8 text \(byte 9"):
        load_spec(path)


def test_a_file_too_large_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "large.yaml"
    with open(path, "wb") as handle:  # sparse: nothing of it is in memory unless read
        handle.truncate(8 * 2**30)
    with pytest.raises(SpecError, match=rf"large.yaml: world file is 8,589,934,592 bytes, more than the "
                                        rf"{MAX_FILE_BYTES:,} allowed"):
        load_spec(path)


def test_a_hydra_config_with_an_alias_bomb_is_refused_by_the_bounded_loader() -> None:
    import yaml
    from omegaconf import _utils

    text = (HOSTILE_WORLDS[0].parent / "alias_bomb.yaml").read_text()
    with pytest.raises(yaml.constructor.ConstructorError, match="once its aliases are expanded"):
        yaml.load(text, Loader=bounded_loader(_utils.get_yaml_loader()))  # noqa: S506 - a SafeLoader


def test_error_values_are_brief() -> None:
    nested: list = [1]
    for _ in range(30):  # 9^30 values if formatted in full
        nested = [nested] * 9
    assert len(brief(nested)) <= 80
    assert brief(10**400) == "<an integer of about 400 digits>"
    assert len(brief("x" * 1000)) <= 80 and "..." in brief("x" * 1000)


# ------------------------------------------------------------------ the run's root values
@pytest.fixture(scope="module")
def composed_config():
    from hydra import compose, initialize_config_module

    from openworld.runner import register_config_groups

    register_config_groups()
    with initialize_config_module(config_module="openworld.experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=["world=meadow", "agent=random", "num_envs=2"])


@pytest.mark.parametrize(("key", "value", "expect"), [
    ("seed", -1, "seed must be an integer from 0 to 4,294,967,295, got -1"),
    ("seed", 2**32 - 1, "seed + num_envs - 1 must be at most 4,294,967,295"),
    ("threads", 0, "threads must be an integer from 1"),
    ("on_death", "explode", "on_death must be terminate or respawn, got 'explode'"),
    ("checkpoint_every", -5, "checkpoint_every must be an integer from 0"),
    ("evaluation.every", -1, "evaluation.every must be an integer from 0"),
    ("evaluation.before", -3, "evaluation.before must be an integer from 0"),
    ("evaluation.after", 0, "evaluation.after must be an integer from 1"),
    ("evaluation.split", "nope", "evaluation.split must be one of train, heldout, dev"),
    ("monitor.window", 0, "monitor.window must be an integer from 1"),
    ("metrics.window", 0, "metrics.window must be an integer from 1"),
    ("metrics.tolerance", -1, "metrics.tolerance must be a number from 0 to 1"),
    ("bodies", 100, "bodies must be an integer from 1 to 64, got 100"),
    ("steps", 150.7, "steps must be integer, got 150.7"),
    ("steps", True, "steps must be integer, got True"),
    ("num_envs", 2.5, "num_envs must be integer, got 2.5"),
])
def test_a_bad_root_value_is_refused_naming_key_and_value(composed_config, key: str, value: object,
                                                          expect: str) -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(composed_config)
    node = cfg
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    with pytest.raises(RunError) as info:
        check_run_config(read_run_config(cfg).typed)
    assert expect in str(info.value)


@pytest.mark.parametrize("keyword", ["num_worlds", "bodies"])
def test_an_engine_of_fractional_worlds_or_bodies_is_refused(keyword: str) -> None:
    from openworld.registry import load_world_spec
    from openworld.world.engine import Engine

    arguments = {"num_worlds": 1, keyword: 2.5}
    with pytest.raises(ValueError, match=f"{keyword} must be an integer, got 2.5"):
        Engine(load_world_spec("Meadow-v0"), **arguments)


def test_a_python_override_too_large_for_a_float_is_refused() -> None:
    from openworld.registry import load_world_spec

    with pytest.raises(SpecError, match=r"map.water: expected a finite number, got <an integer of about 310 digits>"):
        load_world_spec("Meadow-v0").with_overrides({"map.water": 10**310})
