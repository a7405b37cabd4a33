"""Continual PPO regularised towards a behaviour prior: the reward pays for staying close to pi0.

Objective (Tirumala et al., "Behavior Priors for Efficient Reinforcement Learning", JMLR 2022, sections 3-4: the
KL-regularised objective with a fixed behaviour prior):

    J(pi) = E_pi [ sum_t gamma^t ( r_t - alpha_t * KL(pi(. | s_t) || pi0(. | s_t)) ) ],

    KL(pi || pi0)(s) = sum_a pi(a | s) (log pi(a | s) - log pi0(a | s))       (analytic: both are categorical)

where pi0 is a behaviour-cloning prior (``priors/bc.py``), frozen. Learning is :class:`~openworld.agents.ppo.PPO`
on the shaped reward ``r'_t = r_t - alpha_t * KL_t`` (in the world's reward units; PPO's ``reward_scale`` then
multiplies it), with ``KL_t`` computed at acting time from the logits that chose the action, plus the KL's own
gradient as a direct loss term (``kl_loss``, on by default):

    L = L_PPO + alpha * reward_scale / std(A) * mean_valid KL(pi_theta(. | s) || pi0(. | s)).

Why both: the analytic ``KL_t`` depends on the policy at ``s_t`` but not on the action ``a_t`` drawn there, so the
score-function gradient of the shaped return carries none of its immediate gradient ``-alpha grad KL_theta(s_t)``
(``KL_t`` acts like a baseline at ``t``); the reward carries only the KL's effect on the states the agent will
visit (Tirumala's "KL in the return"), and the loss term supplies the immediate gradient, exactly. (RLHF-style
implementations that put the KL in the reward alone use the *sampled* ``log pi(a_t | s_t) - log pi0(a_t | s_t)``,
whose score-function gradient does contain it.) ``1 / std(A)`` is the factor PPO's advantage normalisation
applies to the policy gradient, so the two keep the ratio the objective gives them. ``kl_loss=false`` is the
ablation "KL in the reward only"; measured (tests/agents/test_ppo_prior.py, alpha = 100, no extrinsic reward, ten
updates): with the loss term KL(pi || pi0) fell from 3.55 to 0.008 nats, without it it rose to 4.62.

The coefficient ``alpha`` (``kl_coef`` at the start) follows ``kl_schedule``:

* ``constant``: ``alpha_t = kl_coef``.
* ``linear``: ``alpha_t = kl_coef + (kl_final - kl_coef) * min(1, t / kl_anneal_steps)``, ``t`` the world steps
  lived so far (``observe`` calls): a continual lifetime has no end to anneal towards, so it anneals by steps.
* ``adaptive`` (PPO's adaptive KL penalty, Schulman et al. 2017, section 4): after each update, with ``d`` the
  mean acting-time KL over the rollout's valid steps, ``alpha`` is halved when ``d < kl_target / 1.5`` and doubled
  when ``d > kl_target * 1.5``, kept within [:data:`MIN_KL_COEF`, :data:`MAX_KL_COEF`] (a lifetime is long: a KL that
  stays below target must not drive alpha to denormals).

``alpha`` and the step count are part of the state, so a resumed agent continues exactly.

``init_from_prior=true`` copies the prior's ``encoder.*`` and ``policy.*`` weights (and ``memory.*``, recurrent)
into PPO's ``ActorCritic`` (the BC prior is built with PPO's layout and parameter names): the lifetime starts
from pi = pi0 (KL 0) and fine-tunes; only the value head starts fresh. The prior's ``embedding_dim``,
``channels``, ``hidden_size`` and ``recurrent`` must then equal the agent's (refused otherwise, naming them).

What differs from the paper: discrete actions (categorical KL, analytic rather than sampled), Dict observations
(the shared ``ViewEncoder``), reset-free (no episodes: the schedule is over world steps; deaths are terminals;
the autoreset step after a death gets no penalty and is excluded from every loss, as in PPO); the prior is
learnt offline from a dataset (``openworld pretrain prior=bc``) rather than alongside the policy, and stays fixed.
A recurrent prior carries its own memory, zeroed at the first observation of each life (it was trained on
windows inside one life).

Defaults (``agents/ppo-prior.yaml``): PPO's, ``kl_coef=0.1`` (one nat of divergence costs a tenth of a step
alive), ``kl_schedule=constant``, ``init_from_prior=false``, 16 worlds.

Costs (one CPU thread, 16 worlds, the defaults, Meadow; process CPU time of ``act`` + ``observe``, the world
excluded, 3 x 512 steps each, on the busy 2-core development machine): about 4,650 agent-steps per CPU second
against plain PPO's 5,400 (86%): one extra prior forward pass per batched step while acting (about the cost of
the policy's) and a ``(T, n, A)`` buffer of prior log-probabilities; the update costs what PPO's does (the prior's
log-probabilities are stored at acting time, never recomputed; the KL term is a few tensor ops per minibatch).

Example:
    >>> import gymnasium as gym, tempfile, os
    >>> import openworld
    >>> from openworld.prior.format import save_prior
    >>> from openworld.priors.bc import BehaviourPrior
    >>> from openworld.agent.protocol import make_agent
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> path = os.path.join(tempfile.mkdtemp(), "p.prior")
    >>> prior = BehaviourPrior(envs.single_observation_space, envs.single_action_space, hidden_size=16, channels=4)
    >>> _ = save_prior(path, prior, seed=0)
    >>> agent = make_agent("ppo-prior", envs.single_observation_space, envs.single_action_space, 2, seed=0,
    ...                    prior=path, hidden_size=16, channels=4, init_from_prior=True, rollout_steps=8)
    >>> agent.experience["prior"]["kind"]
    'bc-v0'
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from openworld.agent.losses import masked_mean
from openworld.agent.networks import observation_tensors
from openworld.agent.protocol import Transition
from openworld.agents.ppo import PPO
from openworld.errors import PriorError, brief
from openworld.prior.base import Prior
from openworld.prior.format import load_agent_prior, prior_experience
from openworld.priors.bc import BehaviourPrior
from openworld.registry import register_agent

KL_SCHEDULES = ("constant", "linear", "adaptive")
MIN_KL_COEF, MAX_KL_COEF = 1e-6, 1e6  # bounds of the adaptive coefficient
ADAPTIVE_BAND = 1.5  # Schulman et al.'s tolerance: adapt when the KL leaves [target / 1.5, target * 1.5]
ADAPTIVE_FACTOR = 2.0
MATCHED_SETTINGS = ("embedding_dim", "channels", "hidden_size", "recurrent")  # for init_from_prior


def categorical_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """``KL(p || q)`` per row of two ``(N, A)`` log-probability tables.

    Example:
        >>> p = torch.tensor([[0.5, 0.5]]).log()
        >>> round(float(categorical_kl(p, torch.tensor([[0.25, 0.75]]).log())), 4)  # 0.5 ln 2 + 0.5 ln(2/3)
        0.1438
    """
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def linear_kl_coef(start: float, final: float, anneal_steps: int, step: int) -> float:
    """The linear schedule's alpha after ``step`` world steps (``final`` from ``anneal_steps`` on).

    Example:
        >>> linear_kl_coef(1.0, 0.0, 100, 25), linear_kl_coef(1.0, 0.0, 100, 400)
        (0.75, 0.0)
    """
    return start + (final - start) * min(1.0, step / anneal_steps)


def adapted_kl_coef(coef: float, measured: float, target: float) -> float:
    """PPO's adaptive penalty: alpha halved below ``target / 1.5``, doubled above ``target * 1.5``, else kept.

    Example:
        >>> adapted_kl_coef(0.1, 0.01, 0.05), adapted_kl_coef(0.1, 0.05, 0.05), adapted_kl_coef(0.1, 0.2, 0.05)
        (0.05, 0.1, 0.2)
    """
    if measured < target / ADAPTIVE_BAND:
        coef /= ADAPTIVE_FACTOR
    elif measured > target * ADAPTIVE_BAND:
        coef *= ADAPTIVE_FACTOR
    return min(MAX_KL_COEF, max(MIN_KL_COEF, coef))


class PPOPrior(PPO):
    """Continual PPO with a KL penalty towards a behaviour prior (see the module docstring).

    Args:
        observation_space, action_space, num_envs, seed: as :class:`~openworld.agents.ppo.PPO`.
        prior: the behaviour prior (``skill_kind == "none"``): a path or store id, or the ``prior`` node of
            ``openworld run prior=<name>`` (loaded by :func:`~openworld.prior.format.load_agent_prior`).
        kl_coef: alpha at the start of the lifetime (world-reward units per nat).
        kl_schedule: ``constant``, ``linear`` (to ``kl_final`` over ``kl_anneal_steps`` world steps) or
            ``adaptive`` (towards ``kl_target``).
        kl_final: the linear schedule's final alpha.
        kl_anneal_steps: the linear schedule's length in world steps.
        kl_target: the adaptive schedule's target KL (nats per step).
        kl_loss: add the KL's direct gradient as a loss term (besides the reward penalty).
        init_from_prior: start the policy from the prior's weights (sizes must match).
        learning_rate ... reset_memory_on_death: PPO's (same defaults).

    Raises:
        PriorError: a missing or unreadable prior, one of other spaces, a skill prior, or (``init_from_prior``)
            one whose network settings differ from the agent's; bad schedule settings.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 prior: Any, kl_coef: float = 0.1, kl_schedule: str = "constant", kl_final: float = 0.0,
                 kl_anneal_steps: int = 100_000, kl_target: float = 0.1, kl_loss: bool = True,
                 init_from_prior: bool = False, learning_rate: float = 1e-3, rollout_steps: int = 128,
                 num_epochs: int = 2, num_minibatches: int = 8, gamma: float = 0.998, gae_lambda: float = 0.95,
                 clip_coef: float = 0.2, entropy_coef: float = 0.01, value_coef: float = 0.5,
                 max_grad_norm: float = 0.5, reward_scale: float | None = None, embedding_dim: int = 4,
                 channels: int = 16, hidden_size: int = 128, recurrent: bool = False,
                 reset_memory_on_death: bool = False) -> None:
        # Everything about the prior and the schedule is checked before PPO builds its networks.
        loaded = load_agent_prior(prior, observation_space, action_space)
        where = loaded.provenance.get("path", brief(prior))
        if loaded.skill_kind != "none":
            raise PriorError(f"ppo-prior: {where} is a {loaded.provenance.get('prior')} prior with "
                             f"{loaded.skill_kind} skills; ppo-prior regularises towards a behaviour prior pi0(a | s) "
                             "(skill_kind 'none': openworld pretrain prior=bc ...)")
        if kl_schedule not in KL_SCHEDULES:
            raise PriorError(f"ppo-prior: kl_schedule={brief(kl_schedule)}; choose one of {', '.join(KL_SCHEDULES)}")
        for name, value in (("kl_coef", kl_coef), ("kl_final", kl_final)):
            if not float(value) >= 0.0:
                raise PriorError(f"ppo-prior: {name} must be >= 0, got {brief(value)}")
        if kl_schedule == "linear" and int(kl_anneal_steps) < 1:
            raise PriorError(f"ppo-prior: kl_anneal_steps must be >= 1, got {brief(kl_anneal_steps)}")
        if kl_schedule == "adaptive" and not (float(kl_target) > 0.0 and float(kl_coef) > 0.0):
            raise PriorError(f"ppo-prior: the adaptive schedule needs kl_target > 0 and kl_coef > 0, got "
                             f"{brief(kl_target)} and {brief(kl_coef)}")
        wanted = {"embedding_dim": int(embedding_dim), "channels": int(channels), "hidden_size": int(hidden_size),
                  "recurrent": bool(recurrent)}
        if init_from_prior:
            settings = loaded.config()
            differing = [f"{key}={settings.get(key)!r} in the prior, {wanted[key]!r} here" for key in MATCHED_SETTINGS
                         if settings.get(key) != wanted[key]]
            if differing:
                names = ", ".join(MATCHED_SETTINGS)
                raise PriorError(f"ppo-prior: init_from_prior=true copies {where}'s weights, whose network differs "
                                 f"from the agent's: {'; '.join(differing)}. Set agent.{{{names}}} to the prior's, "
                                 "or init_from_prior=false")
        super().__init__(observation_space, action_space, num_envs, seed, learning_rate=learning_rate,
                         rollout_steps=rollout_steps, num_epochs=num_epochs, num_minibatches=num_minibatches,
                         gamma=gamma, gae_lambda=gae_lambda, clip_coef=clip_coef, entropy_coef=entropy_coef,
                         value_coef=value_coef, max_grad_norm=max_grad_norm, reward_scale=reward_scale,
                         embedding_dim=embedding_dim, channels=channels, hidden_size=hidden_size,
                         recurrent=recurrent, reset_memory_on_death=reset_memory_on_death)
        self.prior: Prior = loaded.eval().requires_grad_(False)
        self.experience = {"prior": prior_experience(loaded)}
        self.kl_schedule = str(kl_schedule)
        self.kl_start, self.kl_final = float(kl_coef), float(kl_final)
        self.kl_anneal_steps, self.kl_target = int(kl_anneal_steps), float(kl_target)
        self.kl_loss = bool(kl_loss)
        self.kl_coef = self.kl_start  # alpha now
        self.world_steps = 0
        if init_from_prior:
            self._copy_prior_weights()
        self.recurrent_prior = isinstance(loaded, BehaviourPrior) and loaded.recurrent
        width = loaded.hidden_size if isinstance(loaded, BehaviourPrior) and loaded.recurrent else 0
        self.prior_memory = torch.zeros((self.num_envs, width))
        self.pending_prior: torch.Tensor | None = None  # log pi0 (n, A) of the observation being acted on
        T, n = self.rollout_steps, self.num_envs
        self.buffer["prior_log_probs"] = torch.zeros((T, n, self.num_actions))
        self.buffer["kl_prior"] = torch.zeros((T, n))
        self._kl_loss_sum, self._kl_loss_count = 0.0, 0

    def _copy_prior_weights(self) -> None:
        """The prior's ``encoder.*``, ``memory.*`` and ``policy.*`` into the ActorCritic (same names, same shapes:
        the settings were checked); the value head keeps its own initialisation."""
        ours = self.model.state_dict()
        copied = {name: tensor.detach().clone() for name, tensor in self.prior.state_dict().items()
                  if name.split(".")[0] in ("encoder", "memory", "policy")}
        for name, tensor in copied.items():
            if name not in ours or ours[name].shape != tensor.shape:
                raise PriorError(f"ppo-prior: the prior's weight {name} {tuple(tensor.shape)} has no counterpart of "
                                 f"that shape in PPO's network; init_from_prior=false")
        self.model.load_state_dict({**ours, **copied})

    # ------------------------------------------------------------------ acting
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """PPO's action, and pi0's log-probabilities for the same observation (for the penalty of this step)."""
        starts_life = self.next_starts_life.clone()  # read before PPO acts (it does not change it, but be plain)
        actions = super().act(obs)
        view, vitals = observation_tensors(obs)
        with torch.no_grad():
            if self.recurrent_prior:
                assert isinstance(self.prior, BehaviourPrior)
                memory = self.prior_memory * (~starts_life).unsqueeze(1).to(self.prior_memory.dtype)
                logits, self.prior_memory = self.prior.step({"view": view, "vitals": vitals}, memory)
            else:
                logits = self.prior.action_logits({"view": view, "vitals": vitals})
            self.pending_prior = torch.log_softmax(logits.float(), 1)
        return actions

    # ------------------------------------------------------------------ learning
    def current_kl_coef(self) -> float:
        """alpha for the step about to be observed."""
        if self.kl_schedule == "linear":
            return linear_kl_coef(self.kl_start, self.kl_final, self.kl_anneal_steps, self.world_steps)
        return self.kl_coef

    def observe(self, transition: Transition) -> None:
        """Shape the reward with ``-alpha * KL(pi || pi0)`` and hand the step to PPO (which may update)."""
        if self.pending is None or self.pending_prior is None:
            raise RuntimeError("PPOPrior.observe() must follow act() on the same observations (one act per step)")
        prior_log_probs, self.pending_prior = self.pending_prior, None
        with torch.no_grad():
            kl = categorical_kl(torch.log_softmax(self.pending.logits, 1), prior_log_probs)
            kl = kl * (~self.after_done).to(kl.dtype)  # the autoreset step: its action was ignored, no penalty
        self.kl_coef = self.current_kl_coef()
        t = self.position
        self.buffer["prior_log_probs"][t] = prior_log_probs
        self.buffer["kl_prior"][t] = kl
        reward = np.asarray(transition.reward, dtype=np.float32) - np.float32(self.kl_coef) * kl.numpy()
        updates = self.updates
        super().observe(dataclasses.replace(transition, reward=reward))  # a new Transition: the input is untouched
        self.world_steps += 1
        if self.updates != updates:
            self._after_update()

    def _after_update(self) -> None:
        """Adapt alpha (adaptive schedule) from the rollout's mean KL, and record the figures."""
        valid = self.buffer["valid"]
        measured = float(masked_mean(self.buffer["kl_prior"], valid))
        self.metrics["losses/kl_prior"] = measured
        if self._kl_loss_count:
            self.metrics["losses/kl_prior_loss"] = self._kl_loss_sum / self._kl_loss_count
        self._kl_loss_sum, self._kl_loss_count = 0.0, 0
        if self.kl_schedule == "adaptive":
            self.kl_coef = adapted_kl_coef(self.kl_coef, measured, self.kl_target)
        self.metrics["charts/kl_coef"] = self.current_kl_coef()

    def auxiliary_loss(self, log_probs: torch.Tensor, flat: dict[str, torch.Tensor], indices: torch.Tensor,
                       mask: torch.Tensor, advantage_std: torch.Tensor) -> torch.Tensor | None:
        """``alpha * reward_scale / std(A) * mean KL(pi_theta || pi0)`` over the minibatch's valid rows."""
        if not self.kl_loss or self.kl_coef == 0.0:
            return None
        kl = masked_mean(categorical_kl(log_probs, flat["prior_log_probs"][indices]), mask)
        self._kl_loss_sum += float(kl.detach())
        self._kl_loss_count += 1
        return kl * (self.kl_coef * self.reward_scale) / advantage_std

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["ppo_prior"] = {
            "kl_coef": self.kl_coef, "world_steps": self.world_steps, "prior_memory": self.prior_memory.clone(),
            "pending_prior": None if self.pending_prior is None else self.pending_prior.clone(),
            "kl_loss_sum": self._kl_loss_sum, "kl_loss_count": self._kl_loss_count}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`.

        Raises:
            ValueError: a state without ppo-prior's part (a plain PPO's), or of another shape.
        """
        own = state.get("ppo_prior")
        if not isinstance(own, dict):
            raise ValueError("the state is not a ppo-prior agent's (no 'ppo_prior' part): a plain PPO state cannot "
                             "continue as ppo-prior")
        missing = {"prior_log_probs", "kl_prior"} - set(state.get("buffer", {}))
        if missing:
            raise ValueError(f"ppo-prior state lacks buffer[{sorted(missing)}]")
        if tuple(own["prior_memory"].shape) != tuple(self.prior_memory.shape):
            raise ValueError(f"ppo-prior state's prior memory has shape {tuple(own['prior_memory'].shape)}, expected "
                             f"{tuple(self.prior_memory.shape)} (another prior or num_envs)")
        super().load_state_dict(state)
        self.kl_coef, self.world_steps = float(own["kl_coef"]), int(own["world_steps"])
        self.prior_memory = own["prior_memory"].clone()
        pending = own["pending_prior"]
        self.pending_prior = None if pending is None else pending.clone()
        self._kl_loss_sum, self._kl_loss_count = float(own["kl_loss_sum"]), int(own["kl_loss_count"])


# 16 worlds, as ppo-v0 (a PPO learner: world steps/s fall with more worlds).
register_agent("ppo-prior-v0", PPOPrior, "continual PPO regularised towards a BC prior: reward - alpha * KL(pi || pi0)",
               num_envs=16)
