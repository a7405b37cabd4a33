"""The skill-level agents (agents/skill_control.py, spirl, skills): the protocol, the decision clock, the KL to
the skill prior, the refusals and the command line."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import openworld  # noqa: F401  (registers the worlds)
from openworld.agent.protocol import Transition, agent_experience
from openworld.agents.skill_control import SkillController, SkillDistribution
from openworld.agents.skills import Skills
from openworld.agents.spirl import SPiRL
from openworld.errors import PriorError
from openworld.prior.format import save_prior
from openworld.priors.bc import BehaviourPrior
from openworld.priors.diayn import DIAYN
from openworld.priors.metra import METRA
from openworld.priors.skill_vae import SkillVAE
from openworld.runner.checkpoint import read_header
from openworld.testing import check_agent

TINY = {"rollout_decisions": 3, "num_epochs": 2, "num_minibatches": 2, "channels": 4, "hidden_size": 16}
SMALL = {"hidden_size": 16, "channels": 4}


@pytest.fixture(scope="module")
def spaces_() -> tuple[gym.Space, gym.Space]:  # type: ignore[type-arg]
    env = gym.make("openworld/Meadow-v0")
    return env.observation_space, env.action_space


@pytest.fixture(scope="module")
def priors(tmp_path_factory: pytest.TempPathFactory, spaces_: Any) -> dict[str, Path]:
    """Tiny untrained priors of every kind, saved once for the module."""
    folder = tmp_path_factory.mktemp("priors")
    obs, act = spaces_
    made = {
        "discrete": SkillVAE(obs, act, seed=0, horizon=4, latent="discrete", num_skills=4, **SMALL),
        "continuous": SkillVAE(obs, act, seed=0, horizon=4, latent="continuous", skill_dim=3, **SMALL),
        "diayn": DIAYN(obs, act, seed=0, num_skills=4, **SMALL),
        "metra": METRA(obs, act, seed=0, num_skills=4, **SMALL),
        "bc": BehaviourPrior(obs, act, seed=0, **SMALL),
    }
    generator = torch.Generator().manual_seed(0)
    for name in ("discrete", "continuous"):  # an informative p(z | s): its KL to a fresh policy is far from 0
        torch.nn.init.normal_(made[name].prior_head[-1].weight, 0.0, 1.0, generator=generator)  # type: ignore
    paths = {}
    for name, prior in made.items():
        paths[name] = folder / f"{name}.prior"
        training = {"skill_steps": 5} if name in ("diayn", "metra") else None
        save_prior(paths[name], prior, seed=0, training=training)
    return paths


@pytest.mark.parametrize(("agent", "prior"), [("spirl", "discrete"), ("spirl", "continuous"), ("skills", "diayn"),
                                              ("skills", "metra")])
def test_check_agent(agent: str, prior: str, priors: dict[str, Path]) -> None:
    # Fast thirst: deaths (and autoreset steps) happen inside the check; an update every 3 * H steps.
    report = check_agent(agent, "Meadow-v0", steps=60, config={**TINY, "prior": str(priors[prior])},
                         world_overrides={"body.water.decay": 0.5})
    assert report.checked == ("protocol", "actions", "inputs", "determinism", "save_load")
    assert report.terminations > 0  # autoreset steps were crossed


# ---------------------------------------------------------------------------------------------- the decision clock
def drive(agent: SkillController, space: gym.Space, deaths: dict[int, list[int]],  # type: ignore[type-arg]
          steps: int) -> list[torch.Tensor]:
    """Hand-made transitions: reward 1 every step, ``deaths[t]`` the worlds terminated at step ``t``. Returns the
    worlds each step decided for."""
    decided: list[torch.Tensor] = []
    original = agent._decide

    def spy(worlds: torch.Tensor, view: torch.Tensor, vitals: torch.Tensor) -> None:
        decided[-1] = worlds.clone()
        original(worlds, view, vitals)

    agent._decide = spy  # type: ignore[method-assign]
    space.seed(0)
    n = agent.num_envs
    obs = {key: np.stack([space.sample()[key] for _ in range(n)]) for key in ("view", "vitals")}
    for t in range(steps):
        decided.append(torch.zeros(0, dtype=torch.long))
        actions = agent.act(obs)
        terminated = np.zeros(n, dtype=bool)
        terminated[deaths.get(t, [])] = True
        agent.observe(Transition(obs, actions, np.ones(n, np.float32), obs, terminated, np.zeros(n, bool), {}))
    return decided


def test_a_skill_is_held_h_steps_and_a_death_ends_it(spaces_: Any, priors: dict[str, Path]) -> None:
    obs_space, act_space = spaces_
    gamma = 0.5
    agent = Skills(obs_space, act_space, 3, 0, prior=str(priors["diayn"]), skill_steps=4, rollout_decisions=8,
                   gamma=gamma, reward_scale=1.0, **SMALL)
    # World 1 dies at step 1 (autoreset step 2, respawn at 3, mid-period); world 2 at step 3, the period's last
    # (autoreset step 4 = the next decision, respawn at 5).
    decided = drive(agent, obs_space, {1: [1], 3: [2]}, steps=12)
    assert [w.tolist() for w in decided] == [[0, 1, 2], [], [], [1], [0, 1], [2], [], [], [0, 1, 2], [], [], []]
    buffer = agent.buffer
    assert buffer["valid"][:3].all() and not buffer["valid"][3:].any()
    full = sum(gamma ** j for j in range(4))
    # World 0: three whole skills of H = 4 steps, each bootstrapping from its end (discount gamma^4).
    assert buffer["reward"][:3, 0].tolist() == [full] * 3
    assert buffer["discount"][:3, 0].tolist() == [gamma ** 4] * 3
    assert not buffer["terminated"][:, 0].any()
    # World 1: the death ends its first skill after 2 steps, as a terminal; the respawn's skill (steps 3) is acted
    # but not learnt from; the next period is whole.
    assert buffer["terminated"][0, 1] and buffer["reward"][0, 1] == 1 + gamma
    assert buffer["discount"][0, 1] == gamma ** 2 and buffer["reward"][1, 1] == full
    # World 2: dies on its period's last step; the next period starts on the autoreset step, so its transition
    # starts at the respawn (step 5) and lasts the rest of the period, 3 steps.
    assert buffer["terminated"][0, 2] and buffer["reward"][0, 2] == full
    assert buffer["reward"][1, 2] == 1 + gamma + gamma ** 2 and buffer["discount"][1, 2] == gamma ** 3
    assert not buffer["terminated"][1:3, 2].any()


def test_the_skill_in_use_is_the_one_recorded_and_held(spaces_: Any, priors: dict[str, Path]) -> None:
    obs_space, act_space = spaces_
    agent = SPiRL(obs_space, act_space, 2, 0, prior=str(priors["discrete"]), rollout_decisions=8, **SMALL)
    assert agent.skill_steps == 4  # the prior's horizon
    skills = []
    original = agent.act

    def spy(obs: dict[str, np.ndarray]) -> np.ndarray:
        actions = original(obs)
        skills.append(agent.skill.clone())
        return actions

    agent.act = spy  # type: ignore[method-assign]
    drive(agent, obs_space, {}, steps=8)
    for period in range(2):
        for t in range(4):
            assert torch.equal(skills[4 * period + t], agent.buffer["skill"][period])


# ---------------------------------------------------------------------------------------------- the KL to the prior
def test_kl_values_by_hand() -> None:
    categorical = SkillDistribution("discrete", 2)
    p, q = torch.tensor([[0.5, 0.5]]), torch.tensor([[0.9, 0.1]])
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert float(categorical.kl(p.log(), q.log())) == pytest.approx(expected, abs=1e-6)
    gaussian = SkillDistribution("continuous", 1)
    # KL(N(0, 1) || N(1, e^2)) = log e - log 1 + (1 + 1) / (2 e^2) - 1/2 = 1/2 + e^-2
    assert float(gaussian.kl(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 1.0]]))) == pytest.approx(
        0.5 + math.exp(-2), abs=1e-6)
    assert float(gaussian.kl(torch.tensor([[0.3, -0.2]]), torch.tensor([[0.3, -0.2]]))) == 0.0


@pytest.mark.parametrize("latent", ["discrete", "continuous"])
def test_the_kl_penalty_is_paid_in_each_high_level_reward(latent: str, spaces_: Any, priors: dict[str, Path]) -> None:
    obs_space, act_space = spaces_
    alpha, gamma = 0.25, 0.5
    agent = SPiRL(obs_space, act_space, 2, 0, prior=str(priors[latent]), rollout_decisions=8, gamma=gamma,
                  reward_scale=1.0, alpha=alpha, target_kl=None, init_from_prior=False, **SMALL)
    drive(agent, obs_space, {}, steps=4)
    buffer = agent.buffer
    with torch.no_grad():
        params, _ = agent.model(buffer["view"][0], buffer["vitals"][0])
        prior_params = agent.vae.prior_head(agent.vae.prior_encoder(buffer["view"][0], buffer["vitals"][0]))
    kl = agent.distribution.kl(params, prior_params)
    assert (kl > 1e-2).all()  # an untrained policy differs from the prior
    assert torch.allclose(buffer["kl"][0], kl)
    assert torch.allclose(buffer["reward"][0], sum(gamma ** j for j in range(4)) - alpha * kl)


@pytest.mark.parametrize("latent", ["discrete", "continuous"])
def test_the_policy_starts_as_the_prior(latent: str, spaces_: Any, priors: dict[str, Path]) -> None:
    obs_space, act_space = spaces_
    agent = SPiRL(obs_space, act_space, 2, 0, prior=str(priors[latent]), rollout_decisions=8, **SMALL)
    drive(agent, obs_space, {}, steps=4)
    assert agent.buffer["kl"][0].abs().max() < 1e-6


def test_alpha_is_tuned_towards_the_target(spaces_: Any, priors: dict[str, Path]) -> None:
    obs_space, act_space = spaces_
    agent = SPiRL(obs_space, act_space, 2, 0, prior=str(priors["discrete"]), alpha=0.1, target_kl=1.0, **SMALL)
    agent.tune_alpha(torch.tensor(0.0))  # far below the target: less weight
    assert agent.alpha < 0.1
    constant = SPiRL(obs_space, act_space, 2, 0, prior=str(priors["discrete"]), alpha=0.1, target_kl=None, **SMALL)
    constant.tune_alpha(torch.tensor(0.0))
    assert constant.alpha == pytest.approx(0.1)


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(("agent", "prior", "words"), [
    (SPiRL, "diayn", "spirl needs a skill-vae prior"), (SPiRL, "bc", "spirl needs a skill-vae prior"),
    (Skills, "bc", "a behaviour prior has no skills"), (Skills, "discrete", "use agent=spirl")])
def test_wrong_prior_kinds_are_refused(agent: type[SkillController], prior: str, words: str, spaces_: Any,
                                       priors: dict[str, Path]) -> None:
    with pytest.raises(PriorError, match=words):
        agent(*spaces_, 2, 0, prior=str(priors[prior]), **SMALL)


def test_a_missing_prior_is_refused(spaces_: Any, tmp_path: Path) -> None:
    with pytest.raises(PriorError, match="no prior file"):
        SPiRL(*spaces_, 2, 0, prior=str(tmp_path / "absent.prior"))


def test_the_state_holds_no_prior_weights_and_experience_names_the_file(spaces_: Any, priors: dict[str, Path]) -> None:
    agent = SPiRL(*spaces_, 2, 0, prior=str(priors["discrete"]), **SMALL)
    state = agent.state_dict()
    assert not any("decoder" in key or "posterior" in key for key in state["model"])
    experience = agent_experience(agent)["prior"]
    assert experience["kind"] == "skill-vae-v0" and experience["reference"] == str(priors["discrete"])


# ---------------------------------------------------------------------------------------------- command line
@pytest.mark.parametrize(("agent", "prior"), [("spirl", "continuous"), ("skills", "diayn")])
def test_cli_run(agent: str, prior: str, priors: dict[str, Path], prior_stores: Path, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> None:
    from openworld.tools.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(["run", "world=meadow", f"agent={agent}", f"agent.prior={priors[prior]}", "steps=200", "num_envs=2",
                 "agent.hidden_size=16", "agent.channels=4", "report=off", "progress=off", "hydra.run.dir=run",
                 "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"])
    assert code == 0
    header = read_header(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert header["experience"]["prior"]["reference"] == str(priors[prior])
    assert header["experience"]["prior"]["kind"] == ("skill-vae-v0" if agent == "spirl" else "diayn-v0")


def test_skills_hold_a_library_skill_as_long_as_it_was_trained(spaces_: Any, priors: dict[str, Path]) -> None:
    assert Skills(*spaces_, 2, 0, prior=str(priors["diayn"]), **SMALL).skill_steps == 5  # its training record
    assert Skills(*spaces_, 2, 0, prior=str(priors["metra"]), skill_steps=3, **SMALL).skill_steps == 3
