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
from openworld.agent.networks import observation_tensors
from openworld.agent.protocol import Transition, agent_experience
from openworld.agents.skill_control import SkillController, SkillDistribution
from openworld.agents.skills import Skills
from openworld.agents.spirl import SPiRL
from openworld.errors import PriorError
from openworld.prior.format import save_prior
from openworld.priors.bc import BehaviourPrior
from openworld.priors.diayn import DIAYN
from openworld.priors.metra import METRA
from openworld.priors.skill_discovery import SkillDiscovery
from openworld.priors.skill_vae import SkillVAE
from openworld.runner.checkpoint import load_checkpoint, read_header
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


# ---------------------------------------------------------------------------------------------- fine-tuning (skills)
# Deaths within the check (thirst kills in ~20 steps): the low level's terminals and autoreset steps are crossed.
DEADLY = {"body.water.decay": 0.5, "body.starvation_damage": 2.0}


def test_check_agent_fine_tuning(priors: dict[str, Path]) -> None:
    report = check_agent("skills", "Meadow-v0", steps=60,
                         config={**TINY, "prior": str(priors["diayn"]), "fine_tune": True}, world_overrides=DEADLY)
    assert report.checked == ("protocol", "actions", "inputs", "determinism", "save_load")
    assert report.terminations > 0


def live(agent: Skills, steps: int) -> dict[str, np.ndarray]:
    """Run ``agent`` ``steps`` steps in Meadow-v0 (its num_envs worlds); return the last observation."""
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=agent.num_envs, vectorization_mode="vector_entry_point")
    obs, _ = envs.reset(seed=0)
    for _ in range(steps):
        actions = agent.act(obs)
        next_obs, reward, terminated, truncated, _ = envs.step(actions)
        agent.observe(Transition(obs, actions, reward, next_obs, terminated, truncated, {}))
        obs = next_obs
    envs.close()
    return dict(obs)


def library_weights(agent: Skills) -> dict[str, torch.Tensor]:
    assert isinstance(agent.prior, SkillDiscovery)
    return {key: value.clone() for key, value in agent.prior.skill_policy.state_dict().items()}


@pytest.mark.parametrize("fine_tune", [False, True])
def test_only_fine_tuning_changes_the_skill_policy(fine_tune: bool, spaces_: Any, priors: dict[str, Path]) -> None:
    agent = Skills(*spaces_, 2, 0, prior=str(priors["metra"]), rollout_decisions=2, num_minibatches=2,
                   fine_tune=fine_tune, **SMALL)
    original = library_weights(agent)
    obs = live(agent, 20)  # two updates (H = 5, 2 decisions per rollout)
    assert agent.updates == 2
    # pi_0 (the library's policy) never moves: it is the KL anchor, and the actor when not fine-tuning.
    assert all(torch.equal(original[key], value) for key, value in library_weights(agent).items())
    view, vitals = observation_tensors(obs)
    skills = torch.eye(4)[[0, 3]]
    kl = agent.prior_kl(view, vitals, skills)
    if not fine_tune:
        assert agent.skill_policy is None and "losses/skill_policy_loss" not in agent.metrics
        assert agent.state_dict()["extra"] == {}
        return
    assert agent.skill_policy is not None
    tuned = agent.skill_policy.state_dict()
    changed = [key for key in ("encoder.head.weight", "trunk.0.weight", "policy.weight")
               if key in tuned and not torch.equal(tuned[key], original[key])]
    assert "policy.weight" in changed and "trunk.0.weight" in changed
    assert torch.equal(tuned["value.weight"], original["value.weight"])  # the library's intrinsic value: unused
    assert (kl > 0).all()
    for key in ("losses/skill_policy_loss", "losses/skill_value_loss", "losses/skill_prior_kl",
                "losses/skill_approx_kl", "losses/skill_clip_fraction", "charts/skill_steps_learnt"):
        assert math.isfinite(agent.metrics[key]), key
    assert agent.metrics["losses/skill_prior_kl"] > 0
    assert set(agent.state_dict()["extra"]) == {"skill_policy", "critic", "optimizer", "low"}


def test_the_kl_to_the_library_starts_at_zero(spaces_: Any, priors: dict[str, Path]) -> None:
    agent = Skills(*spaces_, 3, 0, prior=str(priors["diayn"]), fine_tune=True, kl_coef=0.5, **SMALL)
    space = spaces_[0]
    space.seed(1)
    samples = [space.sample() for _ in range(3)]
    view = torch.as_tensor(np.stack([s["view"] for s in samples]))
    vitals = torch.as_tensor(np.stack([s["vitals"] for s in samples]))
    assert agent.prior_kl(view, vitals, torch.eye(4)[:3]).tolist() == [0.0, 0.0, 0.0]
    # Until the first update pi_lo is pi_0: the same actions as the frozen controller, draw for draw.
    frozen = Skills(*spaces_, 3, 0, prior=str(priors["diayn"]), **SMALL)
    for _ in range(4):
        obs = {"view": view.numpy(), "vitals": vitals.numpy()}
        assert np.array_equal(agent.act(obs), frozen.act(obs))
        transition = Transition(obs, np.zeros(3, np.int64), np.ones(3, np.float32), obs, np.zeros(3, bool),
                                np.zeros(3, bool), {})
        agent.observe(transition)
        frozen.observe(transition)


def test_the_low_level_learns_where_the_high_level_does(spaces_: Any, priors: dict[str, Path]) -> None:
    obs_space, act_space = spaces_
    agent = Skills(obs_space, act_space, 3, 0, prior=str(priors["diayn"]), skill_steps=4, rollout_decisions=8,
                   reward_scale=0.5, fine_tune=True, **SMALL)
    # The deaths of test_a_skill_is_held_h_steps_and_a_death_ends_it: world 1 dies at step 1 (autoreset step 2,
    # respawn at 3, whose remainder is not learnt); world 2 at step 3 (autoreset step 4, then learnt from step 5).
    drive(agent, obs_space, {1: [1], 3: [2]}, steps=12)
    low = agent.low
    valid = low["valid"][:12].T.tolist()
    assert valid[0] == [True] * 12
    assert valid[1] == [True, True, False, False] + [True] * 8
    assert valid[2] == [True] * 4 + [False] + [True] * 7
    assert low["terminated"][:12].nonzero().tolist() == [[1, 1], [3, 2]]
    assert (low["reward"][:12] == 0.5).all()
    # The skill acting is the one the high level recorded (world 2's second one from its respawn, step 5).
    assert torch.equal(low["skill"][0], agent.buffer["skill"][0])
    assert torch.equal(low["skill"][5], agent.buffer["skill"][1])


def test_a_fine_tuned_state_is_not_loaded_into_a_frozen_agent(spaces_: Any, priors: dict[str, Path]) -> None:
    tuned = Skills(*spaces_, 2, 0, prior=str(priors["diayn"]), fine_tune=True, **SMALL)
    frozen = Skills(*spaces_, 2, 0, prior=str(priors["diayn"]), **SMALL)
    with pytest.raises(ValueError, match="has fine-tuned skill-policy weights but this agent has fine_tune=false"):
        frozen.load_state_dict(tuned.state_dict())
    with pytest.raises(ValueError, match="lacks fine-tuned skill-policy weights but this agent has fine_tune=true"):
        tuned.load_state_dict(frozen.state_dict())
    with pytest.raises(ValueError, match="fine_tune must be true or false"):
        Skills(*spaces_, 2, 0, prior=str(priors["diayn"]), fine_tune="yes", **SMALL)  # type: ignore[arg-type]


def test_cli_run_fine_tuning(priors: dict[str, Path], prior_stores: Path, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    from openworld.tools.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(["run", "world=meadow", "agent=skills", f"agent.prior={priors['metra']}", "agent.fine_tune=true",
                 "steps=200", "num_envs=2", "agent.rollout_decisions=4", "agent.hidden_size=16", "agent.channels=4",
                 "report=off", "progress=off", "hydra.run.dir=run", "hydra/job_logging=disabled",
                 "hydra/hydra_logging=disabled"])
    assert code == 0
    header, payload = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert header["experience"]["prior"]["kind"] == "metra-v0"  # the library file stays the experience
    assert set(payload["agent"]["extra"]) == {"skill_policy", "critic", "optimizer", "low"}


def test_fine_tuning_follows_the_world_reward(spaces_: Any, priors: dict[str, Path]) -> None:
    """A reward for one action (3) only: pi_lo comes to prefer it over pi_0, less so under a strong anchor."""
    obs_space, _ = spaces_
    obs_space.seed(2)
    obs = {key: np.stack([obs_space.sample()[key] for _ in range(4)]) for key in ("view", "vitals")}
    view, vitals = observation_tensors(obs)
    preference = {}
    for kl_coef in (0.0, 1.0):
        agent = Skills(*spaces_, 4, 0, prior=str(priors["diayn"]), skill_steps=4, rollout_decisions=2,
                       num_minibatches=2, fine_tune=True, fine_tune_learning_rate=3e-3, kl_coef=kl_coef,
                       reward_scale=1.0, gamma=0.5, gae_lambda=0.5, **SMALL)  # the step's own reward dominates
        for _ in range(96):  # 12 updates
            actions = agent.act(obs)
            reward = (actions == 3).astype(np.float32)
            agent.observe(Transition(obs, actions, reward, obs, np.zeros(4, bool), np.zeros(4, bool), {}))
        assert agent.skill_policy is not None and agent.anchor is not None
        with torch.no_grad():
            tuned = torch.softmax(agent.skill_policy(view, vitals, torch.eye(4))[0], 1)[:, 3]
            original = torch.softmax(agent.anchor(view, vitals, torch.eye(4))[0], 1)[:, 3]
        preference[kl_coef] = float((tuned - original).mean())
    assert preference[0.0] > 0.1  # from about 1/7
    assert 0.0 < preference[1.0] < preference[0.0]
