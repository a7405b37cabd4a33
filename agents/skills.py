"""A controller over skills discovered without reward (``skills-v0``): a high-level PPO that picks one of a
``diayn`` or ``metra`` library's ``K`` skills every ``H`` steps; the library's skill policy acts.

Papers: the skill libraries are DIAYN (Eysenbach et al., ICLR 2019, arXiv:1802.06070) and METRA (Park et al.,
ICLR 2024, arXiv:2310.08887); both papers evaluate their skills downstream the same way: a meta-controller
``pi_hi(z | s)`` trained on the task's reward chooses a frozen skill every few steps (hierarchical RL). The
optional fine-tuning of the skill policy is KL-regularised RL towards a fixed behaviour prior (Tirumala et al.,
JMLR 2022, as ``ppo-prior``), with the library's skill policy as the prior.

Objective: the shared high-level PPO of :mod:`openworld.agents.skill_control` (its formulas), with a categorical
``pi_hi`` over the ``K`` one-hot skills, an entropy bonus and **no** KL term: a library's skill prior is uniform
(``sample_skill`` draws ``z ~ U{1..K}``), so ``KL(pi_hi || U) = log K - H(pi_hi)`` and the entropy bonus is that
regulariser already. ``pi_hi`` starts near uniform (its output layer is initialised at scale 0.01).

Fine-tuning the skill policy (``fine_tune: true``; off by default, and then the agent is bit-identical to the
frozen controller): the acting policy ``pi_lo(a | s, z)`` is a trainable copy of the library's ``pi_0(a | s, z)``
(kept frozen as the anchor), trained on the world's reward on the same world steps as the high level, after the high
level's update, with PPO plus a KL to the original (the discrete analogue of fine-tuning under a behaviour prior,
as ``ppo-prior`` does for a BC policy)::

    L_lo = E_t[max(-A_t r_t, -A_t clip(r_t, 1 - eps, 1 + eps))] + c_v E_t[(V_lo(s_t, z_t) - G_t)^2] / 2
           + kl_coef E_t[KL(pi_lo(. | s_t, z_t) || pi_0(. | s_t, z_t))],      r_t = pi_lo(a_t | s_t, z_t) / pi_old(...)
    delta_t = r'_t + gamma (1 - d_t) V_lo(s_{t+1}, z_{t+1}) - V_lo(s_t, z_t),
    A_t = delta_t + gamma lambda (1 - d_t - trunc_t) A_{t+1},   G_t = A_t + V_lo(s_t, z_t)

per world step ``t`` of the ``rollout_decisions * H`` steps (``r'_t`` the reward times ``reward_scale``, ``d_t`` a
death: terminal), advantages normalised per minibatch (so ``kl_coef`` is in those units). The chain runs across
skill changes: the low level serves the world's return and the high level's next choice is part of its world, so
``V_lo(s, z)`` is the return from ``s`` holding ``z`` for now, under the whole hierarchy. The rollout ends at a
decision, whose skill is not yet drawn: the last step bootstraps from ``sum_z pi_hi(z | s') V_lo(s', z)`` (exact for
``K`` skills). The steps learnt are those the high level learns from: the autoreset step and a respawn's unrecorded
remainder are excluded (``skill_control``), as are deaths' successors. ``V_lo`` is a two-layer head on the frozen
``pi_0``'s trunk features (its encoder and ReLU layer over ``[features, z]``): those come from the same forward pass
that gives the KL's ``pi_0`` logits, so the critic costs almost nothing, its inputs do not drift as ``pi_lo`` learns,
and its loss cannot move the skills (no shared trunk: only the advantage and the anchor act on ``pi_lo``); the price
is a critic limited to what the library's features encode. The high level's ``num_epochs``, ``num_minibatches``,
``clip_coef``, ``gamma``, ``gae_lambda``, ``value_coef`` and ``max_grad_norm`` are reused (one set of PPO settings;
a low-level minibatch is then ``rollout_decisions * H * num_envs / num_minibatches`` steps, 3,200 by default), with
its own Adam (``fine_tune_learning_rate``) over ``pi_lo`` (not its unused intrinsic value head) and ``V_lo``; no
entropy bonus (the anchor keeps ``pi_lo`` as stochastic as ``pi_0``). The critic is initialised from a generator of
its own, so until the first update a fine-tuning agent acts draw for draw as the frozen one with the same seed. The
state gains ``pi_lo``, ``V_lo``, their optimiser and the low-level rollout (``extra``); the experience stays the
library's file. Metrics: ``losses/skill_policy_loss``, ``skill_value_loss``, ``skill_prior_kl`` (the anchor's
KL), ``skill_approx_kl``, ``skill_clip_fraction``, ``charts/skill_steps_learnt``.

What differs here: discrete actions (the libraries' PPO-trained skill policies), ``Dict`` observations (every network
reads a :class:`~openworld.agent.networks.ViewEncoder`), reset-free (one decision clock for all worlds, deaths end a
skill as a terminal, the autoreset step excluded, a fresh skill at each respawn: see ``skill_control``). The papers
keep the skills frozen downstream; fine-tuning them on-policy with a KL anchor is this module's option, and its KL is
a loss term only (``ppo-prior`` also charges it in the reward, pricing divergence to come; here the anchor only holds
each skill near ``pi_0`` where it is used, which is what keeps the high level's choices meaningful).

Defaults: ``skill_steps: null`` is the ``skill_steps`` the library was trained with (its file's ``training`` record;
50, the training default, when absent), 16 decisions per world per update, 4 epochs of 4 minibatches, Adam 3e-4,
``gamma`` 0.998 per world step, ``entropy_coef`` 0.01; ``fine_tune`` false, ``fine_tune_learning_rate`` 1e-4,
``kl_coef`` 0.1.

Costs (one CPU thread, 16 worlds, the defaults, busy 2-core machine): the skill policy's forward pass on every
world step dominates acting. With a default-size (untrained) DIAYN library, ``H = 50``, ``openworld run
world=meadow agent=skills agent.prior=<file> steps=2000`` took 11.9 s against 7.6 s for ``steps=200``: about 6,800
agent-steps per second once started. Fine-tuning adds one low-level update per rollout (two no-grad passes of the
skill policy over its ``800 x 16`` steps, then 4 x 4 minibatch passes with gradients). With a METRA library
pretrained small (``openworld pretrain prior=metra world=meadow steps=2000``), ``openworld run world=meadow
agent=skills agent.prior=<file> steps=3000 num_envs=16 report=off progress=off`` took 17.1 s and 15.7 s frozen
(about 3,000 agent-steps per second over the whole command; 7,100 once started, against 9.4 s for ``steps=200``)
and 27.5 s and 26.3 s with ``agent.fine_tune=true`` (1,800 over the command; 2,700 once started, against 9.5 s for
``steps=200``, which has no update): about 3.5 s per low-level update (load average near 5 on the 2 cores, timings
noisy). In those 3,000 steps the anchor's KL reached 0.003 nats per step and the alive fraction was 0.853 against
0.857 frozen (one seed: no evidence either way of a gain).

Learning (``benchmarks/agent_evidence.py``: 5 seeds x 16 worlds x 12,000 steps of Meadow-v0, alive fraction in the
last quarter against random's 0.848 [0.834, 0.863]): over a METRA library of 32,000 agent-steps 0.849 [0.843,
0.853] (fine-tuned 0.858 [0.843, 0.870]); over one of 200,000 (``--skill-steps 25000``) 0.787 [0.781, 0.792]
(fine-tuned 0.786), below random: the longer-trained skills walk and rarely interact (5% of actions against
random's 14%), so no choice among them eats or drinks (docs/agents.md).

Example:
    >>> import gymnasium as gym, tempfile, os
    >>> import openworld
    >>> from openworld.prior.format import save_prior
    >>> from openworld.priors.diayn import DIAYN
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> path = os.path.join(tempfile.mkdtemp(), "p.prior")
    >>> _ = save_prior(path, DIAYN(envs.single_observation_space, envs.single_action_space, num_skills=4,
    ...                            hidden_size=16, channels=4), seed=0, training={"skill_steps": 8})
    >>> agent = Skills(envs.single_observation_space, envs.single_action_space, 2, 0, prior=path,
    ...                rollout_decisions=2, num_minibatches=2)
    >>> agent.skill_steps, agent.distribution.kind, agent.distribution.skill_dim
    (8, 'discrete', 4)
    >>> tuned = Skills(envs.single_observation_space, envs.single_action_space, 2, 0, prior=path,
    ...                rollout_decisions=2, num_minibatches=2, fine_tune=True)
    >>> type(tuned.skill_policy).__name__, tuned.experience == agent.experience, agent.skill_policy is None
    ('SkillPolicy', True, True)
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from openworld.agent.losses import clipped_surrogate, masked_mean, normalised_advantages
from openworld.agent.networks import initialise_module, observation_tensors
from openworld.agent.protocol import Transition
from openworld.agents.ppo import generalized_advantages
from openworld.agents.skill_control import SkillController
from openworld.errors import PriorError
from openworld.prior.base import Prior
from openworld.priors.skill_discovery import SkillDiscovery, SkillPolicy, SkillSettings
from openworld.registry import register_agent


class Skills(SkillController):
    """A high-level PPO over a discovered-skill library, optionally fine-tuning its skill policy (module docstring).

    Args: those of :class:`~openworld.agents.skill_control.SkillController`, and
        fine_tune: train a copy of the library's skill policy ``pi_lo(a | s, z)`` on the world's reward (PPO with a
            KL anchor to the original); ``False``: the library's policy acts, frozen.
        fine_tune_learning_rate: Adam step size of ``pi_lo`` and of the low-level critic ``V_lo(s, z)``.
        kl_coef: weight of ``KL(pi_lo(. | s, z) || pi_0(. | s, z))`` in the low-level loss (in units of the
            normalised advantage, like the clipped surrogate).
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 prior: Any, skill_steps: int | None = None, rollout_decisions: int = 16,
                 learning_rate: float = 3e-4, num_epochs: int = 4, num_minibatches: int = 4, gamma: float = 0.998,
                 gae_lambda: float = 0.95, clip_coef: float = 0.2, entropy_coef: float = 0.01,
                 value_coef: float = 0.5, max_grad_norm: float = 0.5, reward_scale: float | None = None,
                 embedding_dim: int = 4, channels: int = 16, hidden_size: int = 128, fine_tune: bool = False,
                 fine_tune_learning_rate: float = 1e-4, kl_coef: float = 0.1) -> None:
        if not isinstance(fine_tune, bool):
            raise ValueError(f"skills: fine_tune must be true or false, got {fine_tune!r}")
        if not float(fine_tune_learning_rate) >= 0.0:
            raise ValueError(f"skills: fine_tune_learning_rate must be >= 0, got {fine_tune_learning_rate!r}")
        if not float(kl_coef) >= 0.0:
            raise ValueError(f"skills: kl_coef must be >= 0, got {kl_coef!r}")
        super().__init__(observation_space, action_space, num_envs, seed, prior, skill_steps, rollout_decisions,
                         learning_rate, num_epochs, num_minibatches, gamma, gae_lambda, clip_coef, entropy_coef,
                         value_coef, max_grad_norm, reward_scale, embedding_dim, channels, hidden_size)
        self.fine_tune = fine_tune
        self.fine_tune_learning_rate, self.kl_coef = float(fine_tune_learning_rate), float(kl_coef)
        # Nothing below exists without fine_tune: the agent, its draws and its state stay those of the frozen
        # controller, bit for bit.
        self.skill_policy: SkillPolicy | None = None  # pi_lo, trained
        self.anchor: SkillPolicy | None = None  # pi_0, the library's, frozen
        self.critic: nn.Sequential | None = None  # V_lo(s, z), on pi_0's features
        self.low_optimizer: torch.optim.Optimizer | None = None
        self.low: dict[str, torch.Tensor] = {}  # the low-level rollout, (T, n, ...) with T = rollout_decisions * H
        self._end: tuple[torch.Tensor, torch.Tensor] | None = None  # the rollout's last next_obs, until _learn
        if fine_tune:
            self._build_low_level(seed)

    def _build_low_level(self, seed: int) -> None:
        library = self.prior
        assert isinstance(library, SkillDiscovery)  # check_prior
        self.anchor = library.skill_policy
        self.skill_policy = copy.deepcopy(library.skill_policy)
        self.skill_policy.requires_grad_(True)
        self.skill_policy.value.requires_grad_(False)  # the library's intrinsic value: unused, not trained
        hidden = library.hidden_size
        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG: contain it
            self.critic = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        # Initialised from a generator of its own: until the first update the agent draws (and acts) exactly as
        # the frozen controller with the same seed, a like-for-like control.
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence([int(seed), 0xF17E]).generate_state(1)[0]))
        initialise_module(self.critic, generator)
        last = self.critic[-1]
        assert isinstance(last, nn.Linear)
        nn.init.orthogonal_(last.weight, 1.0, generator=generator)  # as PPO's value head
        self.low_optimizer = torch.optim.Adam(self._low_parameters(), lr=self.fine_tune_learning_rate, eps=1e-5)
        T, n = self.rollout_decisions * self.skill_steps, self.num_envs
        view_shape, vitals_shape = self.buffer["view"].shape[2:], self.buffer["vitals"].shape[2:]
        self.low = {
            "view": torch.zeros((T, n, *view_shape), dtype=torch.uint8), "vitals": torch.zeros((T, n, *vitals_shape)),
            "skill": torch.zeros((T, n, library.skill_dim)), "action": torch.zeros((T, n), dtype=torch.long),
            "reward": torch.zeros((T, n)), "terminated": torch.zeros((T, n), dtype=torch.bool),
            "truncated": torch.zeros((T, n), dtype=torch.bool), "valid": torch.zeros((T, n), dtype=torch.bool),
        }

    def _low_parameters(self) -> list[nn.Parameter]:
        assert self.skill_policy is not None and self.critic is not None
        return [p for p in self.skill_policy.parameters() if p.requires_grad] + list(self.critic.parameters())

    # ------------------------------------------------------------------ the library
    def check_prior(self, prior: Prior) -> None:
        if not isinstance(prior, SkillDiscovery):
            kind = prior.provenance.get("prior", type(prior).__name__)
            hint = ("a behaviour prior has no skills" if prior.skill_kind == "none"
                    else "use agent=spirl for a skill-vae prior")
            raise PriorError(f"skills needs a discovered-skill library (diayn or metra), got a {kind} prior from "
                             f"{prior.provenance.get('path')}: {hint}; train one with openworld pretrain prior=diayn "
                             "...")

    def default_skill_steps(self, prior: Prior) -> int:
        # The skills were discovered (and their discriminator trained) over skill_steps-long stretches.
        trained = prior.provenance.get("training", {}) or {}
        return int(trained.get("skill_steps", SkillSettings.skill_steps))

    def prior_kl(self, view: torch.Tensor, vitals: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
        """``KL(pi_lo(. | s, z) || pi_0(. | s, z))`` ``(N,)`` (zeros without ``fine_tune``: pi_lo is pi_0)."""
        if self.skill_policy is None or self.anchor is None:
            return torch.zeros(int(view.shape[0]))
        with torch.no_grad():
            log_p = torch.log_softmax(self.skill_policy(view, vitals, skill)[0], 1)
            log_q = torch.log_softmax(self.anchor(view, vitals, skill)[0], 1)
            return (log_p.exp() * (log_p - log_q)).sum(1)

    # ------------------------------------------------------------------ acting
    def low_level_logits(self, view: torch.Tensor, vitals: torch.Tensor) -> torch.Tensor:
        """The library's skill policy acts; with ``fine_tune``, its trainable copy ``pi_lo``."""
        if self.skill_policy is None:
            return super().low_level_logits(view, vitals)
        logits, _ = self.skill_policy(view, vitals, self.skill)
        return logits  # type: ignore[no-any-return]

    def acted(self, view: torch.Tensor, vitals: torch.Tensor, actions: torch.Tensor) -> None:
        """With ``fine_tune``, the step joins the low-level rollout."""
        if self.skill_policy is None:
            return
        t, low = self.position * self.skill_steps + self.clock, self.low
        low["view"][t], low["vitals"][t], low["skill"][t] = view, vitals, self.skill
        low["action"][t] = actions
        # Learnt where the high level learns: not the autoreset step, not a respawn's unrecorded remainder.
        low["valid"][t] = self.recording

    # ------------------------------------------------------------------ learning
    def observe(self, transition: Transition) -> None:
        """The controller's ``observe``; with ``fine_tune`` the step's outcome joins the low-level rollout first."""
        if self.skill_policy is not None:
            t, low = self.position * self.skill_steps + self.clock, self.low
            low["reward"][t] = torch.as_tensor(np.asarray(transition.reward, dtype=np.float32)) * self.reward_scale
            terminated = torch.as_tensor(np.asarray(transition.terminated, dtype=bool))
            low["terminated"][t] = terminated
            low["truncated"][t] = torch.as_tensor(np.asarray(transition.truncated, dtype=bool)) & ~terminated
            if t == low["valid"].shape[0] - 1:  # the update comes within this call: keep what it bootstraps from
                view, vitals = observation_tensors(transition.next_obs)
                self._end = (view.clone(), vitals.clone())
        super().observe(transition)

    def _learn(self) -> None:
        super()._learn()
        if self.skill_policy is not None:
            self.metrics.update(self._fine_tune())

    def _anchor_features(self, view: torch.Tensor, vitals: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
        """``pi_0``'s trunk features ``(N, h)`` of ``(s, z)``: the input of both its logits and ``V_lo``."""
        assert self.anchor is not None
        return self.anchor.trunk(torch.cat([self.anchor.encoder(view, vitals), skill], 1))  # type: ignore

    def _bootstrap(self, view: torch.Tensor, vitals: torch.Tensor) -> torch.Tensor:
        """``E_{z ~ pi_hi(. | s')} V_lo(s', z)`` ``(n,)``: the rollout ends at a decision, so the skill that follows
        is not drawn yet; the expectation over the (updated) high level's choice is exact for ``K`` skills."""
        assert self.anchor is not None and self.critic is not None
        params, _ = self.model(view, vitals)
        probs = torch.softmax(params, 1)
        encoded = self.anchor.encoder(view, vitals)
        K = self.prior.skill_dim
        values = [self.critic(self.anchor.trunk(torch.cat([encoded, nn.functional.one_hot(
            torch.full((int(view.shape[0]),), k), K).float()], 1))).squeeze(1) for k in range(K)]
        return (probs * torch.stack(values, 1)).sum(1)

    def _fine_tune(self) -> dict[str, float]:
        """One low-level PPO update on the rollout's world steps (module docstring); returns its metrics."""
        assert self.skill_policy is not None and self.anchor is not None and self.critic is not None
        assert self.low_optimizer is not None and self._end is not None
        low = self.low
        T, n = low["valid"].shape
        flat = {key: value.flatten(0, 1) for key, value in low.items()}
        valid, action = flat["valid"], flat["action"]
        with torch.no_grad():
            features = self._anchor_features(flat["view"], flat["vitals"], flat["skill"])
            anchor_log_p = torch.log_softmax(self.anchor.policy(features), 1)
            old_logits, _ = self.skill_policy(flat["view"], flat["vitals"], flat["skill"])
            old_log_prob = torch.log_softmax(old_logits, 1).gather(1, action[:, None]).squeeze(1)
            values = self.critic(features).squeeze(1)
            bootstrap = self._bootstrap(*self._end)
            advantages = generalized_advantages(low["reward"], values.view(T, n), bootstrap, low["terminated"],
                                                low["truncated"], low["valid"], self.gamma,
                                                self.gae_lambda).flatten()
            returns = advantages + values
        self._end = None
        parameters = self._low_parameters()
        sums: dict[str, float] = {}
        count = 0
        for _ in range(self.num_epochs):
            order = torch.randperm(T * n, generator=self.generator)
            for indices in order.tensor_split(self.num_minibatches):
                mask = valid[indices]
                if not mask.any():
                    continue
                logits, _ = self.skill_policy(flat["view"][indices], flat["vitals"][indices], flat["skill"][indices])
                log_p = torch.log_softmax(logits, 1)
                log_ratio = log_p.gather(1, action[indices, None]).squeeze(1) - old_log_prob[indices]
                ratio = log_ratio.exp()
                adv, _ = normalised_advantages(advantages[indices], mask)
                policy_loss = clipped_surrogate(ratio, adv, mask, self.clip_coef)
                value_loss = 0.5 * masked_mean((self.critic(features[indices]).squeeze(1) - returns[indices]) ** 2,
                                               mask)
                kl = masked_mean((log_p.exp() * (log_p - anchor_log_p[indices])).sum(1), mask)
                loss = policy_loss + self.value_coef * value_loss + self.kl_coef * kl
                self.low_optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                nn.utils.clip_grad_norm_(parameters, self.max_grad_norm)
                self.low_optimizer.step()
                with torch.no_grad():
                    figures = {"losses/skill_policy_loss": policy_loss, "losses/skill_value_loss": value_loss,
                               "losses/skill_prior_kl": kl,
                               "losses/skill_approx_kl": masked_mean((ratio - 1) - log_ratio, mask),
                               "losses/skill_clip_fraction": masked_mean(
                                   ((ratio - 1).abs() > self.clip_coef).float(), mask)}
                for key, value in figures.items():
                    sums[key] = sums.get(key, 0.0) + float(value.detach())
                count += 1
        metrics = {key: value / max(count, 1) for key, value in sums.items()}
        metrics["charts/skill_steps_learnt"] = float(valid.sum())
        return metrics

    # ------------------------------------------------------------------ checkpoints
    def extra_state(self) -> dict[str, Any]:
        """With ``fine_tune``: ``pi_lo``, ``V_lo``, their optimiser and the low-level rollout (the frozen ``pi_0``
        comes back from the library's file); nothing without."""
        if self.skill_policy is None:
            return {}
        assert self.critic is not None and self.low_optimizer is not None
        return {"skill_policy": self.skill_policy.state_dict(), "critic": self.critic.state_dict(),
                "optimizer": self.low_optimizer.state_dict(), "low": self.low}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if (self.skill_policy is None) != (not state):
            raise ValueError(f"skills state {'has' if state else 'lacks'} fine-tuned skill-policy weights but this "
                             f"agent has fine_tune={str(self.skill_policy is not None).lower()}")
        if self.skill_policy is None:
            return
        assert self.critic is not None and self.low_optimizer is not None
        for key, value in state["low"].items():
            if key not in self.low or self.low[key].shape != value.shape:
                raise ValueError(f"skills state does not fit this agent: low[{key!r}] has shape {tuple(value.shape)}, "
                                 f"expected {tuple(self.low.get(key, value).shape)}")
        self.skill_policy.load_state_dict(state["skill_policy"])
        self.critic.load_state_dict(state["critic"])
        self.low_optimizer.load_state_dict(state["optimizer"])
        for key, value in state["low"].items():
            self.low[key].copy_(value)


register_agent("skills-v0", Skills, "a high-level PPO choosing among diayn or metra skills (fine-tuned optionally)",
               num_envs=16)
