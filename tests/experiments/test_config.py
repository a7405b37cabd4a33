"""The Hydra config of ``openworld run``: its groups are generated from the registries (every world and
agent composes and builds), the defaults are the main job, and bad input is an error that says what
exists or what to type instead."""

from __future__ import annotations

from pathlib import Path

import pytest

import openworld
from openworld.registry import agent_ids
from openworld.runner import RunError, check_run_dir, world_spec_from_config

WORLD_CHOICES = [world_id.rsplit("-v", 1)[0].lower() for world_id in openworld.world_ids()]


def test_defaults_are_the_main_job(compose) -> None:
    cfg = compose()
    assert cfg.world.id == "Shiftlands-v0" and cfg.agent.id == "forager-v0"
    assert cfg.get("prior") is None and cfg.resume is False and cfg.overwrite is False
    assert cfg.steps > 0 and cfg.checkpoint_every > 0
    assert cfg.num_envs is None  # the agent's own default (the forager's: 256)
    assert cfg.tracking.mongo_url is None


@pytest.mark.parametrize("choice", WORLD_CHOICES)
def test_every_world_composes_and_validates(compose, choice: str) -> None:
    cfg = compose([f"world={choice}"])
    world = world_spec_from_config(cfg.world)
    assert world.world_id.lower().startswith(choice) and world.variant is None


@pytest.mark.parametrize("agent_id", agent_ids())
def test_every_agent_composes_with_arguments_its_factory_takes(compose, agent_id: str) -> None:
    import inspect

    from omegaconf import OmegaConf

    from openworld.registry import agent_entry
    from openworld.runner import agent_kwargs

    cfg = compose([f"agent={agent_id.rsplit('-v', 1)[0]}"])
    name, kwargs = agent_kwargs(OmegaConf.to_container(cfg.agent))
    entry = agent_entry(name)
    assert entry.agent_id == agent_id
    inspect.signature(entry.factory).bind(None, None, 1, 0, **kwargs)  # raises TypeError on an unknown key


def test_a_missing_mandatory_value_is_named(run_in_process, capsys) -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="agent", name="needs-path", node={"id": "random", "path": "???"})
    assert run_in_process(["agent=needs-path", "world=meadow", "hydra.run.dir=bad"]) == 2
    assert "agent.path: must be given" in capsys.readouterr().err


def test_world_keys_are_overridable_and_validated(compose) -> None:
    from openworld.world.spec import SpecError

    world = world_spec_from_config(compose(["world.resources.berry.regrow=0.02"]).world)
    assert world.spec.resources["berry"].regrow == 0.02
    with pytest.raises(SpecError, match=r"resources\.berry\.regrow.*out of range"):
        world_spec_from_config(compose(["world.resources.berry.regrow=-1"]).world)


def test_a_variant_is_applied(compose) -> None:
    world = world_spec_from_config(compose(["world=seasons", "world.variant=heldout_seeds"]).world)
    assert world.variant == "heldout_seeds" and world.base.variants and not world.spec.variants


def test_experiment_presets_compose(compose) -> None:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    smoke = compose(["experiment=smoke"])
    assert smoke.world.id == "Meadow-v0" and smoke.steps == 1000
    with initialize_config_module(config_module="openworld.experiments.conf", version_base="1.3"):
        adaptation = hydra_compose(config_name="config", overrides=["experiment=adaptation"], return_hydra_config=True)
    assert adaptation.world.id == "Shiftlands-v0"
    assert dict(adaptation.hydra.sweeper.params) == {"agent": "forager,fixed-forager", "seed": "0,1,2,3,4"}
    generalization = compose(["experiment=generalization"])
    assert generalization.world.id == "Blight-v0" and generalization.evaluation.every == generalization.steps


def test_prior_group_exists_and_is_empty_by_default(compose) -> None:
    assert compose(["prior=none"]).get("prior") in ({}, None)


@pytest.mark.parametrize("launcher, plugin, target", [
    ("local", "hydra_plugins.hydra_joblib_launcher", "JoblibLauncher"),
    ("slurm", "hydra_plugins.hydra_submitit_launcher", "SlurmLauncher"),
    ("ray_local", "hydra_plugins.hydra_ray_launcher", "RayLauncher"),
])
def test_shipped_launcher_configs_compose(launcher: str, plugin: str, target: str) -> None:
    import importlib.util

    from hydra import compose, initialize_config_module

    from openworld.runner import register_config_groups

    if importlib.util.find_spec(plugin) is None:
        pytest.skip(f"{plugin} is an optional extra (see docs/experiments.md)")
    register_config_groups()
    with initialize_config_module(config_module="openworld.experiments.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)


# ================================================================== bad input, as the user sees it
def test_unknown_world_lists_the_worlds(run_in_process, capsys) -> None:
    assert run_in_process(["world=medow"]) == 1
    error = capsys.readouterr().err
    assert "Could not find 'world/medow'" in error
    for choice in WORLD_CHOICES:
        assert f"\t{choice}\n" in error


def test_unknown_agent_lists_the_agents(run_in_process, capsys) -> None:
    assert run_in_process(["agent=forrager"]) == 1
    error = capsys.readouterr().err
    assert "Could not find 'agent/forrager'" in error and "\tforager\n" in error and "\trandom\n" in error


def test_out_of_range_override_names_the_key_the_range_and_the_override(run_in_process, capsys) -> None:
    assert run_in_process(["world.resources.berry.regrow=-1", "hydra.run.dir=bad"]) == 2
    error = capsys.readouterr().err
    assert "resources.berry.regrow" in error and "out of range [0.0, 1.0]" in error
    assert "set on the command line by world.resources.berry.regrow=-1" in error


def test_misspelt_override_gets_hydra_message_and_the_nearest_key(run_in_process, capsys) -> None:
    assert run_in_process(["world.resources.berry.regorw=1"]) == 1
    error = capsys.readouterr().err
    assert "Key 'regorw' is not in struct" in error  # Hydra's own message
    assert "Did you mean world.resources.berry.regrow?" in error
    assert run_in_process(["agent.learning_rat=1"]) == 1
    assert "Did you mean agent.learning_rate?" in capsys.readouterr().err


def test_added_unknown_world_key_is_a_spec_error(run_in_process, capsys) -> None:
    assert run_in_process(["+world.resources.berry.regorw=1", "hydra.run.dir=bad"]) == 2
    assert "unknown key (did you mean 'regrow'?)" in capsys.readouterr().err


def test_bad_agent_argument_names_the_agent(run_in_process, capsys) -> None:
    assert run_in_process(["world=meadow", "agent=random", "num_envs=1", "+agent.speed=3", "hydra.run.dir=bad"]) == 2
    assert "agent 'random-v0': bad configuration" in capsys.readouterr().err


def test_bad_values_of_run_keys(run_in_process, capsys, tmp_path: Path) -> None:
    for override, message in (("num_envs=0", "num_envs must be an integer from 1 to"),
                              ("resume=maybe", "resume must be true"), ("report=pdf", "report must be plots"),
                              ("progress=loud", "progress must be")):
        assert run_in_process(["world=meadow", "agent=random", override, "hydra.run.dir=bad"]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()  # not even the empty folder Hydra made


def test_unfinished_run_directory_needs_resume_or_overwrite(tmp_path: Path) -> None:
    (tmp_path / "monitor.json").write_text("{}")
    with pytest.raises(RunError, match=r"unfinished run(.|\n)*openworld run seed=3 resume=true"):
        check_run_dir(tmp_path, resume=False, overwrite=False, overrides=["seed=3", "overwrite=false"])
    check_run_dir(tmp_path, resume=False, overwrite=True)
    with pytest.raises(RunError, match="contradict"):
        check_run_dir(tmp_path, resume=True, overwrite=True)


def test_plasticity_preset_sweeps_every_arm_of_the_plasticity_group(compose) -> None:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from omegaconf import OmegaConf

    from openworld.agent.plasticity import build_options

    group = Path(__file__).parents[2] / "experiments" / "conf" / "plasticity"
    arms = sorted(path.stem for path in group.glob("*.yaml"))
    with initialize_config_module(config_module="openworld.experiments.conf", version_base="1.3"):
        preset = hydra_compose(config_name="config", overrides=["experiment=plasticity"], return_hydra_config=True)
        cluster = hydra_compose(config_name="config", overrides=["experiment=plasticity_cluster"],
                                return_hydra_config=True)
        composed = {arm: hydra_compose(config_name="config", overrides=["experiment=plasticity", f"plasticity={arm}"])
                    for arm in arms}
    assert preset.world.id == "Seasons-v0" and preset.world.variant == "train_fast_year"
    assert preset.agent.id == "ppo-v0" and preset.agent.plasticity is None
    for sweep in (preset, cluster):
        assert sorted(sweep.hydra.sweeper.params.plasticity.split(",")) == arms  # every arm, each once
        subdir = OmegaConf.to_container(sweep.hydra.sweep, resolve=False)["subdir"]  # type: ignore[index]
        assert subdir == "${hydra:runtime.choices.plasticity}/seed${seed}"  # an arm's runs in a folder of its own
    assert cluster.steps > preset.steps and cluster.hydra.sweeper.params.seed == "range(0,10)"
    for arm, config in composed.items():  # each arm is options ppo builds
        options = build_options(config.agent.plasticity)
        assert [option.name for option in options] == ({"none": [], "layer_norm_weight_decay": ["layer_norm",
                                                                                                "weight_decay"]}
                                                       .get(arm, [arm]))
    assert composed["head_reset"].agent.plasticity[0]["head_reset"]["every"] == 1000
