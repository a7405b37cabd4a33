"""ppo-prior: the KL penalty towards a BC prior, its schedules, the warm start, refusals, and the CLI round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import openworld  # noqa: F401
from openworld.agent.protocol import Transition, make_agent
from openworld.agents.ppo_prior import (
    MAX_KL_COEF,
    MIN_KL_COEF,
    PPOPrior,
    adapted_kl_coef,
    categorical_kl,
    linear_kl_coef,
)
from openworld.errors import PriorError
from openworld.prior.base import observations_to_tensors
from openworld.prior.format import save_prior
from openworld.priors.bc import BehaviourPrior
from openworld.runner.checkpoint import read_header
from openworld.testing import check_agent

SIZES = {"channels": 4, "hidden_size": 16}
TINY = {"rollout_steps": 8, "num_epochs": 2, "num_minibatches": 2, **SIZES}


def make_envs(num_envs: int = 2, world: str = "Meadow-v0") -> Any:
    return gym.make_vec(f"openworld/{world}", num_envs=num_envs, vectorization_mode="vector_entry_point")


def make_prior(path: Path, seed: int = 0, world: str = "Meadow-v0", **settings: Any) -> Path:
    """A tiny untrained BC prior, saved; ``seed`` changes its weights (and so the file). Its policy head is scaled
    up so that pi0 is far from uniform (an untrained head, like PPO's, gives near-uniform logits: a KL of 1e-5)."""
    env = make_envs(1, world)
    prior = BehaviourPrior(env.single_observation_space, env.single_action_space, seed=seed,
                           **{**SIZES, **settings})
    with torch.no_grad():
        prior.policy.weight.mul_(100.0)
    save_prior(path, prior, seed=seed)
    return path


def build(envs: Any, prior: Path, seed: int = 0, **config: Any) -> PPOPrior:
    agent = make_agent("ppo-prior", envs.single_observation_space, envs.single_action_space, envs.num_envs, seed,
                       prior=str(prior), **{**TINY, **config})
    assert isinstance(agent, PPOPrior)
    return agent


def run(agent: Any, envs: Any, steps: int, seed: int = 0, zero_reward: bool = False) -> None:
    obs, _ = envs.reset(seed=seed)
    for _ in range(steps):
        actions = agent.act(obs)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        if zero_reward:
            rewards = np.zeros_like(rewards)
        agent.observe(Transition(obs, actions, rewards, next_obs, terminated, truncated, info))
        obs = next_obs


def prior_kl(agent: PPOPrior, obs: dict[str, np.ndarray]) -> float:
    """Mean KL(pi || pi0) over a batch of observations, with the agent's current (feed-forward) policy."""
    tensors = observations_to_tensors(obs["view"], obs["vitals"])
    with torch.no_grad():
        logits, _, _ = agent.model(tensors["view"], tensors["vitals"], torch.zeros((len(obs["view"]), 0)))
        prior = agent.prior.action_logits(tensors)
    return float(categorical_kl(torch.log_softmax(logits, 1), torch.log_softmax(prior, 1)).mean())


# ---------------------------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("config", [{}, {"recurrent": True, "init_from_prior": True, "kl_schedule": "adaptive"}])
def test_check_agent(prior_stores: Path, config: dict[str, Any]) -> None:
    recurrent = bool(config.get("recurrent"))
    prior = make_prior(prior_stores / "p.prior", recurrent=recurrent)
    report = check_agent("ppo-prior", "Meadow-v0", num_envs=2, steps=40,
                         config={**TINY, "prior": str(prior), **config},
                         world_overrides={"body.water.decay": 0.5, "body.starvation_damage": 2.0})
    assert report.terminations > 0  # autoresets were crossed by the save/load check


def test_init_from_prior_starts_from_the_priors_policy(prior_stores: Path) -> None:
    prior_path = make_prior(prior_stores / "p.prior", seed=3)
    envs = make_envs(3)
    obs, _ = envs.reset(seed=0)
    warm, cold = build(envs, prior_path, init_from_prior=True), build(envs, prior_path)
    tensors = observations_to_tensors(obs["view"], obs["vitals"])
    with torch.no_grad():
        expected = warm.prior.action_logits(tensors)
        logits, _, _ = warm.model(tensors["view"], tensors["vitals"], torch.zeros((3, 0)))
        other, _, _ = cold.model(tensors["view"], tensors["vitals"], torch.zeros((3, 0)))
    assert torch.equal(logits, expected)
    assert not torch.equal(other, expected)
    assert prior_kl(warm, obs) == 0.0 and prior_kl(cold, obs) > 0.0


def test_docstring_examples(prior_stores: Path) -> None:
    import doctest

    import openworld.agents.ppo_prior

    failures, attempted = doctest.testmod(openworld.agents.ppo_prior, verbose=False)
    assert attempted > 0 and failures == 0


# ---------------------------------------------------------------------------------------------- the penalty
def test_the_stored_reward_is_the_world_reward_minus_alpha_kl(prior_stores: Path) -> None:
    envs = make_envs(2)
    agent = build(envs, make_prior(prior_stores / "p.prior"), kl_coef=0.5, reward_scale=1.0)
    obs, _ = envs.reset(seed=0)
    actions = agent.act(obs)
    assert agent.pending is not None and agent.pending_prior is not None
    policy = torch.softmax(agent.pending.logits, 1).double()
    prior = torch.softmax(agent.pending_prior, 1).double()
    by_hand = (policy * (policy.log() - prior.log())).sum(1)  # KL(pi || pi0), written out
    next_obs, rewards, terminated, truncated, info = envs.step(actions)
    rewards = np.array([1.0, 2.0], np.float32)
    given = Transition(obs, actions, rewards, next_obs, terminated, truncated, info)
    agent.observe(given)
    assert np.array_equal(given.reward, [1.0, 2.0])  # the runner's arrays are left alone
    assert agent.buffer["kl_prior"][0].double() == pytest.approx(by_hand.tolist(), rel=1e-5)
    assert (by_hand > 0).all()
    expected = torch.tensor([1.0, 2.0]).double() - 0.5 * by_hand
    assert agent.buffer["rewards"][0].double() == pytest.approx(expected.tolist(), rel=1e-5)


def test_the_autoreset_step_gets_no_penalty(prior_stores: Path) -> None:
    envs = make_envs(2)
    agent = build(envs, make_prior(prior_stores / "p.prior"), kl_coef=10.0, reward_scale=1.0)
    obs, _ = envs.reset(seed=0)
    for t in range(3):
        actions = agent.act(obs)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        terminated = np.array([t == 0, False])  # env 0 "dies" at step 0: step 1 is its autoreset step
        agent.observe(Transition(obs, actions, np.zeros(2, np.float32), next_obs, terminated, truncated, info))
        obs = next_obs
    assert not bool(agent.buffer["valid"][1, 0])
    assert float(agent.buffer["kl_prior"][1, 0]) == 0.0 and float(agent.buffer["rewards"][1, 0]) == 0.0
    assert float(agent.buffer["kl_prior"][1, 1]) > 0.0 and float(agent.buffer["rewards"][1, 1]) < 0.0


def test_a_huge_alpha_pulls_the_policy_towards_the_prior(prior_stores: Path) -> None:
    """No extrinsic reward, alpha = 100: ten updates must at least halve KL(pi || pi0) on held-out observations.

    (Measured here: 3.55 to 0.008 nats. With ``kl_loss=false`` the same run ended at 4.62: the analytic KL of s_t
    does not depend on a_t, so in the reward alone it reaches the policy only through the states it leads to.)"""
    envs = make_envs(4)
    agent = build(envs, make_prior(prior_stores / "p.prior", seed=5), kl_coef=100.0, entropy_coef=0.0,
                  rollout_steps=16, learning_rate=3e-3)
    probe, _ = envs.reset(seed=7)
    before = prior_kl(agent, probe)
    run(agent, envs, 160, zero_reward=True)
    after = prior_kl(agent, probe)
    assert agent.updates == 10
    assert after < 0.5 * before, (before, after)
    assert agent.metrics["charts/kl_coef"] == 100.0 and agent.metrics["losses/kl_prior"] > 0
    assert agent.metrics["losses/kl_prior_loss"] > 0


# ---------------------------------------------------------------------------------------------- schedules
def test_schedule_functions_by_hand() -> None:
    assert linear_kl_coef(0.5, 0.1, 200, 0) == 0.5
    assert linear_kl_coef(0.5, 0.1, 200, 50) == pytest.approx(0.4)
    assert linear_kl_coef(0.5, 0.1, 200, 200) == pytest.approx(0.1)
    assert linear_kl_coef(0.5, 0.1, 200, 10_000) == pytest.approx(0.1)
    assert adapted_kl_coef(1.0, 0.06, 0.1) == 0.5  # below 0.1 / 1.5
    assert adapted_kl_coef(1.0, 0.07, 0.1) == 1.0  # inside the band
    assert adapted_kl_coef(1.0, 0.14, 0.1) == 1.0
    assert adapted_kl_coef(1.0, 0.16, 0.1) == 2.0  # above 0.1 * 1.5
    assert adapted_kl_coef(MIN_KL_COEF, 0.0, 0.1) == MIN_KL_COEF
    assert adapted_kl_coef(MAX_KL_COEF, 9.0, 0.1) == MAX_KL_COEF


def test_alpha_follows_each_schedule_in_the_agent(prior_stores: Path) -> None:
    prior_path = make_prior(prior_stores / "p.prior")
    envs = make_envs(2)
    constant = build(envs, prior_path, kl_coef=0.3)
    run(constant, envs, 20)
    assert constant.current_kl_coef() == 0.3 and constant.metrics["charts/kl_coef"] == 0.3

    linear = build(envs, prior_path, kl_coef=0.5, kl_schedule="linear", kl_final=0.1, kl_anneal_steps=40)
    run(linear, envs, 10)  # alpha for the step after 10 world steps: 0.5 - 0.4 * 10 / 40
    assert linear.world_steps == 10 and linear.current_kl_coef() == pytest.approx(0.4)
    assert linear.kl_coef == pytest.approx(0.5 - 0.4 * 9 / 40)  # the alpha of the 10th step (after 9)
    run(linear, envs, 40)
    assert linear.current_kl_coef() == pytest.approx(0.1)

    # Adaptive: with a fresh, near-uniform policy far from nothing, the measured KL is far below a huge target
    # (halve) or far above a tiny one (double), update after update.
    for target, factor in ((100.0, 0.5), (1e-9, 2.0)):
        adaptive = build(envs, prior_path, kl_coef=1.0, kl_schedule="adaptive", kl_target=target)
        run(adaptive, envs, 24)  # three updates
        assert adaptive.updates == 3 and adaptive.kl_coef == pytest.approx(factor ** 3)
        assert adaptive.metrics["charts/kl_coef"] == pytest.approx(factor ** 3)


def test_alpha_and_the_step_count_are_in_the_state(prior_stores: Path) -> None:
    prior_path = make_prior(prior_stores / "p.prior")
    envs = make_envs(2)
    agent = build(envs, prior_path, kl_coef=1.0, kl_schedule="adaptive", kl_target=100.0)
    run(agent, envs, 17)
    state = agent.state_dict()
    fresh = build(envs, prior_path, seed=9, kl_coef=1.0, kl_schedule="adaptive", kl_target=100.0)
    fresh.load_state_dict(state)
    assert fresh.kl_coef == 0.25 and fresh.world_steps == 17
    plain = make_agent("ppo", envs.single_observation_space, envs.single_action_space, 2, 0, **TINY)
    with pytest.raises(ValueError, match="plain PPO state"):
        fresh.load_state_dict(plain.state_dict())


# ---------------------------------------------------------------------------------------------- refusals
def test_mismatched_priors_are_refused_before_the_lifetime(prior_stores: Path) -> None:
    envs = make_envs(2)
    with pytest.raises(PriorError, match="no prior file"):
        build(envs, prior_stores / "missing.prior")
    # Other observations (every registered world shares Meadow's spaces, so a world of a 5x5 view is made up).
    space = envs.single_observation_space
    view = space["view"]
    small = gym.spaces.Dict({"view": gym.spaces.Box(view.low[:5, :5], view.high[:5, :5], (5, 5, view.shape[2]),
                                                    view.dtype), "vitals": space["vitals"]})
    save_prior(prior_stores / "small.prior", BehaviourPrior(small, envs.single_action_space, seed=0, **SIZES),
               seed=0)
    with pytest.raises(PriorError, match=r"another observation space than this world's \(view"):
        build(envs, prior_stores / "small.prior")
    # A prior of other actions: a hand-made space.
    foreign = BehaviourPrior(envs.single_observation_space, gym.spaces.Discrete(5), seed=0, **SIZES)
    save_prior(prior_stores / "five.prior", foreign, seed=0)
    with pytest.raises(PriorError, match="another action space"):
        build(envs, prior_stores / "five.prior")
    # A skill prior.
    from openworld.priors.skill_vae import SkillVAE

    skills = SkillVAE(envs.single_observation_space, envs.single_action_space, seed=0)
    save_prior(prior_stores / "skills.prior", skills, seed=0)
    with pytest.raises(PriorError, match="behaviour prior"):
        build(envs, prior_stores / "skills.prior")
    # init_from_prior with other sizes names the settings to match.
    wide = make_prior(prior_stores / "wide.prior", hidden_size=32)
    build(envs, wide)  # fine without the warm start
    with pytest.raises(PriorError, match=r"hidden_size=32 in the prior, 16 here"):
        build(envs, wide, init_from_prior=True)
    with pytest.raises(PriorError, match="kl_schedule"):
        build(envs, wide, kl_schedule="cosine")


# ---------------------------------------------------------------------------------------------- the command
def test_cli_run_records_the_prior_and_refuses_a_resume_with_another(prior_stores: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from openworld.tools.cli import main

    monkeypatch.chdir(prior_stores)
    first = make_prior(prior_stores / "p.prior", seed=0)
    args = ["run", "world=meadow", "agent=ppo-prior", f"agent.prior={first}", "agent.channels=4",
            "agent.hidden_size=16", "agent.rollout_steps=16", "agent.num_minibatches=2", "num_envs=2",
            "checkpoint_every=100", "report=off", "progress=off", "hydra.run.dir=run",
            "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]
    assert main([*args, "steps=200"]) == 0
    header = read_header(prior_stores / "run" / "checkpoints" / "last.ckpt")
    saved = read_header(first)
    assert header["experience"]["prior"]["sha256"] == saved["sha256"]
    make_prior(first, seed=1)  # another prior under the same path
    assert read_header(first)["sha256"] != saved["sha256"]
    capsys.readouterr()
    assert main([*args, "steps=300", "resume=true"]) == 2
    assert "other prior experience" in capsys.readouterr().err
