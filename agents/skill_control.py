"""What the skill-level agents share (``spirl``, ``skills``): a high-level PPO that picks a skill every ``H`` world
steps, and a frozen prior's skill policy that acts.

Two levels:
    * **Low level** (frozen): the prior's ``pi(a | s, z)`` (:meth:`~openworld.prior.base.Prior.action_logits`), in
      eval mode and without gradients; the action is sampled from its logits with the agent's generator.
    * **High level** (learnt): ``pi_hi(z | s)`` and ``V_hi(s)`` on their own
      :class:`~openworld.agent.networks.ViewEncoder` s, trained with PPO on *high-level transitions*
      ``(s_d, z_d, R_d, s'_d, done_d)``: the state where skill ``z_d`` started, the discounted sum of the (scaled)
      rewards over its ``k_d`` steps ``R_d = sum_j gamma^j r_j``, the state where it ended, and whether the body died
      during it. Discrete skills (one-hot rows of ``K`` codes) get a categorical ``pi_hi``, continuous ones a
      diagonal Gaussian with a state-dependent mean and log-std.

High-level objective (per minibatch of valid transitions)::

    L = E[max(-A r, -A clip(r, 1 - eps, 1 + eps))] + c_v E[(V_hi(s) - G)^2] / 2 - c_H E[H(pi_hi(. | s))]
        + alpha * E[KL(pi_hi(. | s) || p(. | s))] / std(A)                      (spirl only)

with the semi-Markov advantages (a skill of ``k`` steps discounts its successor by ``gamma^k``)::

    delta_d = R_d - alpha KL_d + gamma^{k_d} (1 - done_d) V_hi(s'_d) - V_hi(s_d)
    A_d = delta_d + gamma^{k_d} lambda (1 - done_d - truncated_d) A_{d+1},   G_d = A_d + V_hi(s_d)

``KL_d`` (spirl) is the divergence of the behaviour policy from the skill prior at ``s_d`` and ``alpha`` its weight,
so the critic prices the divergences to come (SPiRL's KL-regularised target); the direct term gives the policy the
analytic gradient of its own divergence at ``s`` (SPiRL's actor loss), divided by the advantages' standard deviation
because the policy loss is normalised by it, which keeps ``alpha`` one coefficient in units of scaled reward.

One decision clock (why it is synchronous):
    All worlds decide together at every ``H``-th world step (a *period*), so the high-level rollout is a ``(D, n)``
    grid (``D = rollout_decisions`` periods, one transition per world each): GAE runs down each column and minibatches
    are rows of one tensor, exactly as in flat PPO. Deaths desynchronise worlds; they are handled thus:

    * a death ends the world's transition at once (``done``: no bootstrap, the advantage chain is cut there);
    * the vector env's ``NEXT_STEP`` autoreset step after it belongs to no transition (its action is ignored);
    * the respawned body gets a fresh skill from ``pi_hi`` **immediately** at its first observation (a dead
      skill must not steer a new life); if its world's transition of this period is already used (the death ended
      it), that remainder up to the next decision is acted but not learnt from, like the autoreset step; if not
      (the period began on the autoreset step), the remainder *is* the period's transition, shorter than ``H``;
    * a truncation (never set by openworld's worlds) ends the transition, bootstraps from its final observation
      and cuts the chain.

    The cost is at most ``H - 1`` unlearnt steps per death (deaths are hundreds of steps apart on Meadow). A period
    whose world never lived (``H = 1`` on an autoreset step) leaves its cell invalid (excluded from every loss).

Determinism: every draw (initialisation, skills, actions, minibatches) comes from one ``torch.Generator`` seeded with
``seed``; modules are built inside ``torch.random.fork_rng``. :meth:`SkillController.state_dict` holds the high-level
networks, the optimisers, ``alpha``, the generator, the rollout grid, the clock, each world's skill and its
transition in progress; not the frozen prior, which is reloaded from its file (the runner refuses a resume whose
prior file differs: ``experience``).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from openworld.agent.losses import clipped_surrogate, masked_mean, normalised_advantages
from openworld.agent.networks import ViewEncoder, initialise_module, observation_tensors, space_shape, view_code_sizes
from openworld.agent.protocol import Transition
from openworld.prior.base import Prior
from openworld.prior.format import load_agent_prior, prior_experience
from openworld.priors.skill_vae import LOG_STD_MAX, LOG_STD_MIN

STATE_VERSION = 1
HALF_LOG_TWO_PI_E = 0.5 * math.log(2 * math.pi * math.e)


# ---------------------------------------------------------------------------------------------- distributions
class SkillDistribution:
    """The high-level policy's distribution over skills, from a row of parameters.

    ``discrete``: ``K`` logits, skills are one-hot rows. ``continuous``: ``D`` means then ``D`` log-stds (clamped as
    the skill-vae clamps its own), skills are real vectors.
    """

    def __init__(self, kind: str, skill_dim: int) -> None:
        if kind not in ("discrete", "continuous"):
            raise ValueError(f"skills must be discrete or continuous, got {kind!r}")
        self.kind, self.skill_dim = kind, int(skill_dim)
        self.num_params = self.skill_dim * (2 if kind == "continuous" else 1)

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = params.chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, params: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Skills ``(N, skill_dim)``."""
        if self.kind == "discrete":
            codes = torch.multinomial(torch.softmax(params, -1), 1, generator=generator).squeeze(-1)
            return nn.functional.one_hot(codes, self.skill_dim).to(params.dtype)
        mean, log_std = self.split(params)
        return mean + log_std.exp() * torch.randn(mean.shape, generator=generator, dtype=mean.dtype)

    def log_prob(self, params: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
        """``log pi(z | s)`` ``(N,)``."""
        if self.kind == "discrete":
            return (torch.log_softmax(params, -1) * skill).sum(-1)
        mean, log_std = self.split(params)
        return (-0.5 * ((skill - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def entropy(self, params: torch.Tensor) -> torch.Tensor:
        """``H(pi(. | s))`` ``(N,)``."""
        if self.kind == "discrete":
            log_p = torch.log_softmax(params, -1)
            return -(log_p.exp() * log_p).sum(-1)
        return (self.split(params)[1] + HALF_LOG_TWO_PI_E).sum(-1)

    def kl(self, params: torch.Tensor, prior_params: torch.Tensor) -> torch.Tensor:
        """Analytic ``KL(pi(. | s) || p(. | s))`` ``(N,)``, both given by parameters of this kind.

        Example:
            >>> d = SkillDistribution("discrete", 2)
            >>> round(float(d.kl(torch.log(torch.tensor([[0.5, 0.5]])), torch.log(torch.tensor([[0.9, 0.1]])))), 4)
            0.5108
        """
        if self.kind == "discrete":
            log_p, log_q = torch.log_softmax(params, -1), torch.log_softmax(prior_params, -1)
            return (log_p.exp() * (log_p - log_q)).sum(-1)
        mean, log_std = self.split(params)
        prior_mean, prior_log_std = self.split(prior_params)
        return (prior_log_std - log_std + ((2 * log_std).exp() + (mean - prior_mean) ** 2)
                / (2 * (2 * prior_log_std).exp()) - 0.5).sum(-1)


# ---------------------------------------------------------------------------------------------- networks
class HighLevelPolicy(nn.Module):
    """``pi_hi(z | s)``: an encoder and a two-layer head to the distribution's parameters (the skill-vae prior
    head's shape, so SPiRL can start from it); ``V_hi(s)``: its own encoder and a linear value."""

    def __init__(self, actor_encoder: ViewEncoder, actor_hidden: int, critic_encoder: ViewEncoder,
                 critic_hidden: int, num_params: int) -> None:
        super().__init__()
        self.actor_encoder = actor_encoder
        self.actor_head = nn.Sequential(nn.Linear(actor_hidden, actor_hidden), nn.ReLU(),
                                        nn.Linear(actor_hidden, num_params))
        self.critic_encoder = critic_encoder
        self.value = nn.Linear(critic_hidden, 1)

    def forward(self, view: torch.Tensor, vitals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distribution parameters ``(N, P)`` and values ``(N,)``."""
        params = self.actor_head(self.actor_encoder(view, vitals))
        return params, self.value(self.critic_encoder(view, vitals)).squeeze(-1)

    def initialise(self, generator: torch.Generator) -> None:
        """As PPO: orthogonal (gain sqrt 2; 0.01 on the policy's output, so it starts near uniform / N(0, 1) with
        log-std 0; 1 on the value), zero biases, N(0, 1) embeddings; all from ``generator``."""
        initialise_module(self, generator)
        last = self.actor_head[-1]
        assert isinstance(last, nn.Linear)
        nn.init.orthogonal_(last.weight, 0.01, generator=generator)
        nn.init.orthogonal_(self.value.weight, 1.0, generator=generator)


def semi_markov_advantages(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
                           discounts: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor,
                           valid: torch.Tensor, gae_lambda: float) -> torch.Tensor:
    """GAE down a ``(D, n)`` grid of high-level transitions whose durations differ.

    ``discounts[d] = gamma^{k_d}`` for a skill held ``k_d`` steps; ``next_values[d] = V(s'_d)`` (its end state). A
    terminated transition does not bootstrap; a terminated or truncated one ends the chain; an invalid cell has
    advantage 0.

    Example:
        >>> ones, no = torch.ones(2, 1), torch.zeros(2, 1, dtype=torch.bool)
        >>> semi_markov_advantages(ones, torch.zeros(2, 1), ones, torch.full((2, 1), 0.5), no, no, ~no,
        ...                        1.0).flatten().tolist()
        [2.25, 1.5]
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for d in reversed(range(rewards.shape[0])):
        alive = (~terminated[d]).to(rewards.dtype)
        delta = rewards[d] + discounts[d] * alive * next_values[d] - values[d]
        carry = alive * (~truncated[d]).to(rewards.dtype)
        running = (delta + discounts[d] * gae_lambda * carry * running) * valid[d].to(rewards.dtype)
        advantages[d] = running
    return advantages


# ---------------------------------------------------------------------------------------------- the agent
class SkillController:
    """A high-level PPO over a frozen prior's skills (module docstring). Subclasses check the prior's kind
    (:meth:`check_prior`) and may regularise towards a skill prior (:meth:`skill_prior_params`).

    Args:
        observation_space: one env's ``Dict(view, vitals)`` space.
        action_space: one env's ``Discrete`` space.
        num_envs: worlds driven at once.
        seed: seeds the agent's generator.
        prior: the prior file (path or store id, or the run's ``prior`` node).
        skill_steps: ``H``, world steps a skill is held; ``None``: :meth:`default_skill_steps`.
        rollout_decisions: decisions (periods of ``H`` steps) per world between two updates.
        learning_rate: Adam step size of the high level, constant.
        num_epochs: passes over each high-level rollout.
        num_minibatches: minibatches per pass (of the ``rollout_decisions * num_envs`` transitions).
        gamma: discount per world step (a skill of ``k`` steps discounts the next by ``gamma^k``).
        gae_lambda: GAE's lambda, per decision.
        clip_coef: PPO's ratio clip.
        entropy_coef: weight of the high-level entropy bonus.
        value_coef: weight of the value loss.
        max_grad_norm: global gradient-norm clip.
        reward_scale: multiplies the world's reward; ``None``: ``1 - gamma``.
        embedding_dim: embedding width per view channel of the high level's encoders.
        channels: convolution channels of the high level's encoders.
        hidden_size: features of the high level's encoders.
    """

    kl_regularised = False  # whether skill_prior_params gives a prior to regularise towards (SPiRL)

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 prior: Any, skill_steps: int | None = None, rollout_decisions: int = 16,
                 learning_rate: float = 3e-4, num_epochs: int = 4, num_minibatches: int = 4, gamma: float = 0.998,
                 gae_lambda: float = 0.95, clip_coef: float = 0.2, entropy_coef: float = 0.01,
                 value_coef: float = 0.5, max_grad_norm: float = 0.5, reward_scale: float | None = None,
                 embedding_dim: int = 4, channels: int = 16, hidden_size: int = 128) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise TypeError(f"{type(self).__name__} needs a Discrete action space, got {action_space}")
        code_sizes = view_code_sizes(observation_space)
        assert isinstance(observation_space, spaces.Dict)  # checked by view_code_sizes
        self.prior: Prior = load_agent_prior(prior, observation_space, action_space)
        self.check_prior(self.prior)
        self.prior.eval()
        self.prior.requires_grad_(False)  # frozen: never part of an optimiser or of the state
        self.experience = {"prior": prior_experience(self.prior)}
        steps = self.default_skill_steps(self.prior) if skill_steps is None else skill_steps
        for name, value in (("num_envs", num_envs), ("skill_steps", steps), ("rollout_decisions", rollout_decisions),
                            ("num_epochs", num_epochs), ("num_minibatches", num_minibatches)):
            if isinstance(value, bool) or int(value) != value or int(value) < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be an integer >= 1, got {value!r}")
        if rollout_decisions * num_envs < num_minibatches:
            raise ValueError(f"num_minibatches ({num_minibatches}) exceeds the rollout's "
                             f"{rollout_decisions * num_envs} high-level transitions")
        self.num_envs, self.skill_steps = int(num_envs), int(steps)
        self.rollout_decisions = int(rollout_decisions)
        self.num_epochs, self.num_minibatches = int(num_epochs), int(num_minibatches)
        self.gamma, self.gae_lambda = float(gamma), float(gae_lambda)
        self.clip_coef, self.entropy_coef, self.value_coef = float(clip_coef), float(entropy_coef), float(value_coef)
        self.max_grad_norm = float(max_grad_norm)
        self.reward_scale = 1.0 - self.gamma if reward_scale is None else float(reward_scale)
        self.distribution = SkillDistribution(self.prior.skill_kind, self.prior.skill_dim)

        V, _, C = space_shape(observation_space["view"])
        (K,) = space_shape(observation_space["vitals"])
        actor_sizes = self.actor_sizes(embedding_dim, channels, hidden_size)
        self.generator = torch.Generator().manual_seed(int(seed))
        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG: contain it
            self.model = HighLevelPolicy(ViewEncoder(V, code_sizes, K, *actor_sizes), actor_sizes[2],
                                         ViewEncoder(V, code_sizes, K, embedding_dim, channels, hidden_size),
                                         hidden_size, self.distribution.num_params)
        self.model.initialise(self.generator)
        self.start_from_prior(self.model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=learning_rate, eps=1e-5)

        D, n, S = self.rollout_decisions, self.num_envs, self.prior.skill_dim
        P = self.distribution.num_params
        self.buffer: dict[str, torch.Tensor] = {
            "view": torch.zeros((D, n, V, V, C), dtype=torch.uint8), "vitals": torch.zeros((D, n, K)),
            "end_view": torch.zeros((D, n, V, V, C), dtype=torch.uint8), "end_vitals": torch.zeros((D, n, K)),
            "skill": torch.zeros((D, n, S)), "log_prob": torch.zeros((D, n)), "value": torch.zeros((D, n)),
            "prior_params": torch.zeros((D, n, P)), "kl": torch.zeros((D, n)), "reward": torch.zeros((D, n)),
            "discount": torch.ones((D, n)), "terminated": torch.zeros((D, n), dtype=torch.bool),
            "truncated": torch.zeros((D, n), dtype=torch.bool), "valid": torch.zeros((D, n), dtype=torch.bool),
        }
        self.position = 0  # the period (row of the grid) under way
        self.clock = 0  # world steps into the period; all worlds decide when it is 0
        self.updates = 0
        self.skill = torch.zeros((n, S))  # each world's current skill
        self.recording = torch.zeros(n, dtype=torch.bool)  # its current skill is the period's transition
        self.row_used = torch.zeros(n, dtype=torch.bool)  # its cell of this period holds a transition
        self.reward_sum = torch.zeros(n)  # sum_j gamma^j r_j of the transition under way
        self.discount = torch.ones(n)  # gamma^j: its steps so far
        self.after_done = torch.zeros(n, dtype=torch.bool)  # the previous step terminated or truncated
        self.respawned = torch.zeros(n, dtype=torch.bool)  # the previous step was an autoreset step
        self.metrics: dict[str, float] = {}
        """The last update's diagnostics (``losses/...``, ``charts/...``)."""

    # ------------------------------------------------------------------ what subclasses choose
    def check_prior(self, prior: Prior) -> None:
        """Refuse a prior this agent cannot use (raise :class:`~openworld.errors.PriorError`)."""

    def default_skill_steps(self, prior: Prior) -> int:
        """``H`` when ``skill_steps`` is not given."""
        raise NotImplementedError

    def actor_sizes(self, embedding_dim: int, channels: int, hidden_size: int) -> tuple[int, int, int]:
        """``(embedding_dim, channels, hidden_size)`` of the policy's encoder (the critic's are the settings)."""
        return embedding_dim, channels, hidden_size

    def start_from_prior(self, model: HighLevelPolicy) -> None:
        """Overwrite the freshly initialised policy with the prior's (SPiRL); nothing by default."""

    def skill_prior_params(self, view: torch.Tensor, vitals: torch.Tensor) -> torch.Tensor | None:
        """The skill prior ``p(z | s)``'s parameters (the policy's kind), or None for no KL regularisation."""
        return None

    @property
    def alpha(self) -> float:
        """The weight of the KL to the skill prior (0 without one)."""
        return 0.0

    def tune_alpha(self, kl: torch.Tensor) -> None:
        """One step of the KL weight towards its target, given a minibatch's divergences (no-op by default)."""

    # ------------------------------------------------------------------ acting
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Choose skills where a decision is due, then sample every world's action from the prior's skill policy."""
        view, vitals = observation_tensors(obs)
        live = ~self.after_done  # an autoreset step's action is ignored: nothing to decide there
        decide = live & ((self.clock == 0) | self.respawned)
        if decide.any():
            self._decide(decide.nonzero().squeeze(1), view, vitals)
        with torch.no_grad():
            logits = self.low_level_logits(view, vitals)
            actions = torch.multinomial(torch.softmax(logits.float(), 1), 1, generator=self.generator).squeeze(1)
        self.acted(view, vitals, actions)
        return actions.numpy().astype(np.int64)

    def low_level_logits(self, view: torch.Tensor, vitals: torch.Tensor) -> torch.Tensor:
        """The acting policy's logits ``(n, |A|)`` for each world's current skill: the prior's skill policy here."""
        return self.prior.action_logits({"view": view, "vitals": vitals}, self.skill)

    def acted(self, view: torch.Tensor, vitals: torch.Tensor, actions: torch.Tensor) -> None:
        """Called after each step's actions are drawn (a low-level learner records them); nothing here."""

    def _decide(self, worlds: torch.Tensor, view: torch.Tensor, vitals: torch.Tensor) -> None:
        """New skills for ``worlds``; those whose cell of the period is free start recording its transition."""
        with torch.no_grad():
            params, values = self.model(view[worlds], vitals[worlds])
            skills = self.distribution.sample(params, self.generator)
            prior_params = self.skill_prior_params(view[worlds], vitals[worlds])
        self.skill[worlds] = skills
        record = ~self.row_used[worlds]
        self.recording[worlds] = record
        chosen = worlds[record]
        if chosen.numel() == 0:
            return
        d, buffer = self.position, self.buffer
        self.row_used[chosen] = True
        buffer["view"][d, chosen] = view[chosen]
        buffer["vitals"][d, chosen] = vitals[chosen]
        buffer["skill"][d, chosen] = skills[record]
        buffer["log_prob"][d, chosen] = self.distribution.log_prob(params[record], skills[record])
        buffer["value"][d, chosen] = values[record]
        kl = torch.zeros(int(chosen.numel()))
        if prior_params is not None:
            buffer["prior_params"][d, chosen] = prior_params[record]
            kl = self.distribution.kl(params[record], prior_params[record])
        buffer["kl"][d, chosen] = kl
        self.reward_sum[chosen] = -self.alpha * kl  # SPiRL: the divergence is paid when the skill is chosen
        self.discount[chosen] = 1.0

    # ------------------------------------------------------------------ learning
    def observe(self, transition: Transition) -> None:
        """Add the step to the transitions under way; close those that end; update after ``rollout_decisions``
        periods."""
        rewards = torch.as_tensor(np.asarray(transition.reward, dtype=np.float32)) * self.reward_scale
        terminated = torch.as_tensor(np.asarray(transition.terminated, dtype=bool))
        truncated = torch.as_tensor(np.asarray(transition.truncated, dtype=bool))
        recording = self.recording
        self.reward_sum += torch.where(recording, self.discount * rewards, torch.zeros_like(rewards))
        self.discount = torch.where(recording, self.discount * self.gamma, self.discount)
        period_end = self.clock == self.skill_steps - 1
        ending = recording & (terminated | truncated | period_end)
        if ending.any():
            worlds = ending.nonzero().squeeze(1)
            end_view, end_vitals = observation_tensors(transition.next_obs)
            d, buffer = self.position, self.buffer
            buffer["end_view"][d, worlds] = end_view[worlds]
            buffer["end_vitals"][d, worlds] = end_vitals[worlds]
            buffer["reward"][d, worlds] = self.reward_sum[worlds]
            buffer["discount"][d, worlds] = self.discount[worlds]
            buffer["terminated"][d, worlds] = terminated[worlds]
            buffer["truncated"][d, worlds] = truncated[worlds] & ~terminated[worlds]
            buffer["valid"][d, worlds] = True
            self.recording = recording & ~ending
        self.respawned = self.after_done.clone()
        self.after_done = terminated | truncated
        self.clock += 1
        if self.clock == self.skill_steps:  # the period ends: every transition under way closed above
            self.clock = 0
            self.row_used.zero_()
            self.position += 1
            if self.position == self.rollout_decisions:
                self._learn()
                self.position = 0
            self.buffer["valid"][self.position] = False

    def _learn(self) -> None:
        buffer = self.buffer
        valid = buffer["valid"]
        with torch.no_grad():
            _, next_values = self.model(buffer["end_view"].flatten(0, 1), buffer["end_vitals"].flatten(0, 1))
            advantages = semi_markov_advantages(buffer["reward"], buffer["value"], next_values.view_as(valid),
                                                buffer["discount"], buffer["terminated"], buffer["truncated"], valid,
                                                self.gae_lambda)
            returns = advantages + buffer["value"]
        flat = {key: value.flatten(0, 1) for key, value in buffer.items()}
        flat_advantages, flat_returns, flat_valid = advantages.flatten(), returns.flatten(), valid.flatten()
        sums: dict[str, float] = {}
        count = 0
        for _ in range(self.num_epochs):
            order = torch.randperm(flat_valid.numel(), generator=self.generator)
            for indices in order.tensor_split(self.num_minibatches):
                mask = flat_valid[indices]
                if not mask.any():
                    continue
                params, values = self.model(flat["view"][indices], flat["vitals"][indices])
                log_probs = self.distribution.log_prob(params, flat["skill"][indices])
                log_ratio = log_probs - flat["log_prob"][indices]
                ratio = log_ratio.exp()
                adv, std = normalised_advantages(flat_advantages[indices], mask)
                policy_loss = clipped_surrogate(ratio, adv, mask, self.clip_coef)
                value_loss = 0.5 * masked_mean((values - flat_returns[indices]) ** 2, mask)
                entropy = masked_mean(self.distribution.entropy(params), mask)
                loss = policy_loss + self.value_coef * value_loss - self.entropy_coef * entropy
                figures = {"losses/policy_loss": policy_loss, "losses/value_loss": value_loss,
                           "losses/entropy": entropy}
                if self.kl_regularised:
                    kl = masked_mean(self.distribution.kl(params, flat["prior_params"][indices]), mask)
                    loss = loss + self.alpha * kl / std  # the policy loss is in units of std: so is this term
                    self.tune_alpha(kl.detach())
                    figures["losses/prior_kl"] = kl
                self.optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
                self.optimizer.step()
                with torch.no_grad():
                    figures["losses/approx_kl"] = masked_mean((ratio - 1) - log_ratio, mask)
                    figures["losses/clip_fraction"] = masked_mean(((ratio - 1).abs() > self.clip_coef).float(), mask)
                for key, value in figures.items():
                    sums[key] = sums.get(key, 0.0) + float(value.detach())
                count += 1
        self.updates += 1
        self.metrics = {key: value / max(count, 1) for key, value in sums.items()}
        self.metrics["charts/alpha"] = self.alpha
        self.metrics["charts/high_level_transitions"] = float(valid.sum())
        self.metrics["charts/skill_deaths"] = float(buffer["terminated"][valid].sum())
        self.metrics["charts/updates"] = float(self.updates)

    # ------------------------------------------------------------------ checkpoints
    def extra_state(self) -> dict[str, Any]:
        """A subclass's own state (the KL weight's)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of everything needed to continue exactly, except the frozen prior (reloaded from its file)."""
        return {
            "version": STATE_VERSION, "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()), "generator": self.generator.get_state(),
            "buffer": {key: value.clone() for key, value in self.buffer.items()},
            "position": self.position, "clock": self.clock, "updates": self.updates,
            "worlds": {key: getattr(self, key).clone() for key in WORLD_STATE},
            "extra": copy.deepcopy(self.extra_state()), "metrics": dict(self.metrics),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (copied).

        Raises:
            ValueError: a state of another version or shape (worlds, rollout, skills).
        """
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"{type(self).__name__} state version {state.get('version')!r}, expected {STATE_VERSION}")
        for key, value in state["buffer"].items():
            if key not in self.buffer or self.buffer[key].shape != value.shape:
                raise ValueError(f"{type(self).__name__} state does not fit this agent: buffer[{key!r}] has shape "
                                 f"{tuple(value.shape)}, expected {tuple(self.buffer.get(key, value).shape)} "
                                 f"(num_envs={self.num_envs}, rollout_decisions={self.rollout_decisions}, "
                                 f"skill_dim={self.prior.skill_dim})")
        if not 0 <= int(state["clock"]) < self.skill_steps:
            raise ValueError(f"{type(self).__name__} state's clock {state['clock']} does not fit skill_steps "
                             f"{self.skill_steps}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.generator.set_state(state["generator"].clone())
        for key, value in state["buffer"].items():
            self.buffer[key].copy_(value)
        self.position, self.clock, self.updates = int(state["position"]), int(state["clock"]), int(state["updates"])
        for key in WORLD_STATE:
            setattr(self, key, state["worlds"][key].clone())
        self.load_extra_state(copy.deepcopy(state["extra"]))
        self.metrics = dict(state["metrics"])


WORLD_STATE = ("skill", "recording", "row_used", "reward_sum", "discount", "after_done", "respawned")
