"""The off-policy core: continual discrete soft Q-learning with a replay buffer and a critic ensemble.

Every off-policy agent of openworld (``rlpd``, ``explore``, ``offline-online``) is this learner plus a small
module of what differs. Its seams:

* :class:`ReplayBuffer`: a bounded ring of online transitions (uint8 views, obs and next obs, reward,
  terminal) with a **validity mask**: the NEXT_STEP autoreset step is stored but never sampled.
* :class:`PriorBuffer`: a dataset's steps (``load_transitions``) sampled the same way; rewards come from the
  dataset (NaN in a reward-free one: :attr:`PriorBuffer.has_rewards` says which).
* :class:`DiscreteSoftQ`: the learner. Hooks a subclass overrides: :meth:`DiscreteSoftQ.sample_batch` (where a
  batch comes from: RLPD mixes online and prior data), :meth:`DiscreteSoftQ.extra_losses` (terms added to the
  loss: a CQL penalty, a reward model's regression) and :meth:`DiscreteSoftQ.build_extra_modules` (networks
  such a term trains: they join the optimiser and the state).

Why soft Q-learning with the critics' Boltzmann policy (Haarnoja et al. 2017, "Reinforcement Learning with Deep
Energy-Based Policies"; for discrete actions as in Munchausen-DQN's soft targets, Vieillard et al. 2020) and not
discrete SAC's separate policy head (Christodoulou 2019), which this core used first: with 7 actions the soft
value is an exact sum and the soft-greedy policy ``softmax(Q / alpha)`` needs no network of its own. The head
was measured to be the failure: on Meadow-v0 its action preferences lagged the critics' by thousands of updates,
the temperature wound down to 1e-5 meanwhile, and the policy then settled on one action in every state (west in
69 to 88% of steps), below random actions (alive fraction 0.790 against 0.848; docs/agents.md). A policy read
off the critics follows them at once, state by state: with it, the value-level initialisation below and rlpd's
defaults, rlpd from scratch ends at 0.875 [0.865, 0.884] over 5 seeds (``benchmarks/agent_evidence.py``).

Objective (one gradient step on a batch of ``B`` transitions ``(s, a, r, s', d)``; ``E`` critics
``Q_1..Q_E``, their Polyak-averaged targets ``Q'_i``, temperature ``alpha``):

* policy: ``pi(a|s) = softmax_a(mean_i Q_i(s, a) / alpha)`` (acting, from the online critics); at ``s'``, in the
  target, ``pi'`` is the same of the target critics (as M-DQN; it saves an online pass over ``s'``).
* target: ``y = c r + gamma (1 - d) sum_a' pi'(a'|s') [min_{i in Z} Q'_i(s', a') - alpha log pi'(a'|s')]``, where
  ``Z`` is a random subset of ``target_subset`` critics drawn per update (REDQ's in-target minimisation; RLPD
  uses 2 of 10), ``c`` the ``reward_scale`` and ``d`` a death (a truncation bootstraps). With ``n_step = n > 1``
  (Rainbow's multi-step returns): ``r`` is ``sum_{j<k} gamma^j r_{t+j}``, ``s'`` is ``s_{t+k}`` and ``gamma``
  becomes ``gamma^k``, where the horizon ``k <= n`` stops early at a death, a cut or the newest step stored; the
  intermediate entropy terms are left out and no off-policy correction is made (as in Rainbow).
* critics: ``L_Q = mean_{i, batch} (Q_i(s, a) - y)^2 / 2``.
* temperature: ``L_alpha = (H_batch(alpha) - H_target)^2``, the batch's mean entropy of ``pi`` as a function of
  ``alpha`` with Q detached, ``H_target = target_entropy_ratio * log |A|``. Not SAC's dual ``log(alpha) (H -
  H_target)``: that integrates the error, and while the critics cannot yet tell actions apart it winds
  ``alpha`` down without bound; the squared error has no memory, so ``alpha`` tracks the current critics.
* plus the hook's ``extra_losses``; all summed into one backward pass and one Adam step.
* targets: ``theta' <- (1 - tau) theta' + tau theta`` after every step.
* value level: at the first update every critic's output bias is set to the value of earning the batch's reward
  rate forever (:meth:`DiscreteSoftQ.initialise_value_level`), instead of climbing there from 0 through the
  bootstrap.

Networks: one shared encoder trunk (:class:`~openworld.agent.networks.ViewEncoder`, as PPO's), trained by the
critic loss; the critics are an ensemble of small heads ``Linear -> LayerNorm -> ReLU -> Linear(|A|)`` on it,
evaluated as batched matrix products (RLPD's layer-normalised critics keep Q bounded when the data are far from
the policy's). The encoder dominates the cost, so a shared trunk makes an ensemble of 10 about as cheap as one
critic; the price is that the members are less independent (they differ only in their heads).

Continual (no episodes): a death is a terminal (no bootstrap past it); the step after a termination or
truncation is the NEXT_STEP autoreset step (its action was ignored, its ``next_obs`` is the respawned body):
it is stored with ``valid = False`` and never sampled. The learning rate is constant.

Determinism: all randomness (initialisation, actions, batch indices, the target subset) comes from one
``torch.Generator`` seeded with ``seed``; modules are built inside ``torch.random.fork_rng`` and
re-initialised from it. :meth:`DiscreteSoftQ.state_dict` holds the networks, target networks, optimiser,
generator, the replay buffer and the autoreset flags (plain tensors), so a loaded agent continues exactly.
A dataset is not part of the state: the agent reloads it from its id (its card hash is in ``experience``).

Costs (one CPU thread, rlpd's defaults: batch 64, 10 heads of 64 units on an 8-channel encoder, 10-step returns;
the 2-core development machine, a cProfile of 300 batched steps at 16 worlds, 2026-12-02): an update takes about
7 ms of CPU (the backward pass about a third of it, the encoder's convolutions on ``s`` and, in the target, ``s'``
a sixth, the ten heads' batched products a tenth); acting 0.3 to 0.5 ms a batched step. The shared trunk is what
makes the ensemble affordable: ten full critics would cost ten encoders.
The replay buffer costs about 340 bytes a transition, in memory and in the checkpoint (36 MB at 100,000).

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> from openworld.agent.protocol import Transition
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> agent = DiscreteSoftQ(envs.single_observation_space, envs.single_action_space, 2, seed=0,
    ...                     batch_size=8, learning_starts=8, buffer_capacity=64, channels=4, hidden_size=16)
    >>> obs, info = envs.reset(seed=0)
    >>> for _ in range(6):
    ...     actions = agent.act(obs)
    ...     next_obs, rewards, terminated, truncated, info = envs.step(actions)
    ...     agent.observe(Transition(obs, actions, rewards, next_obs, terminated, truncated, info))
    ...     obs = next_obs
    >>> agent.replay.size, agent.updates  # updates start once 8 transitions are stored
    (12, 3)
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.nn import functional

from openworld.agent.networks import ViewEncoder, initialise_module, observation_tensors, space_shape, view_code_sizes
from openworld.agent.plasticity import build_options
from openworld.agent.plasticity.diagnostics import measure as measure_plasticity
from openworld.agent.protocol import Transition
from openworld.errors import DatasetError, brief
from openworld.prior.transitions import TransitionData, load_transitions

STATE_VERSION = 2  # 2: no policy head (the policy is the critics' Boltzmann), value-level initialisation


# ---------------------------------------------------------------------------------------------- data
@dataclass
class Batch:
    """Transitions for one update (``B`` rows).

    Attributes:
        view, next_view: ``(B, V, V, C)`` uint8.
        vitals, next_vitals: ``(B, K)`` float32.
        actions: ``(B,)`` int64.
        rewards: ``(B,)`` float32, the world's reward (NaN from a reward-free dataset), not yet scaled; with
            ``n``-step returns, the discounted sum ``sum_{j<k} gamma^j r_{t+j}`` over the row's horizon ``k``.
        terminals: ``(B,)`` bool: a death (no bootstrap) at the horizon's last step.
        next_view, next_vitals: the observation the target bootstraps from, ``k`` steps on.
        from_prior: ``(B,)`` bool: the row came from a dataset, not from this lifetime.
        horizons: ``(B,)`` int64: ``k``, the steps between the row and its bootstrap (1 for one-step returns;
            shorter than ``n`` where a life ended, a segment was cut or the data end).
        step_rewards: ``(B,)`` float32, the reward of the row's own step ``r_t`` (``rewards`` when ``k = 1``): what a
            model of the reward regresses on.
    """

    view: torch.Tensor
    vitals: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    terminals: torch.Tensor
    next_view: torch.Tensor
    next_vitals: torch.Tensor
    from_prior: torch.Tensor
    horizons: torch.Tensor
    step_rewards: torch.Tensor

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    @staticmethod
    def cat(batches: Sequence[Batch]) -> Batch:
        """The rows of ``batches``, in order."""
        return Batch(**{f.name: torch.cat([getattr(b, f.name) for b in batches]) for f in fields(Batch)})


class ReplayBuffer:
    """A bounded ring of online transitions; the oldest are overwritten once ``capacity`` is reached.

    Each row is one env's step: views as uint8 codes (about ``2 * (V * V * C + 4 * K) + 14`` bytes a row: 330 bytes
    for the 7x7 view, so 33 MB at 100,000 rows). ``valid`` marks rows that may be sampled: the NEXT_STEP autoreset
    step is stored (the ring stays in step with the envs) but never drawn.

    Example:
        >>> buffer = ReplayBuffer(4, view_shape=(3, 3, 1), num_vitals=2)
        >>> view, vitals = torch.zeros((2, 3, 3, 1), dtype=torch.uint8), torch.zeros((2, 2))
        >>> for valid in ([True, True], [False, True], [True, True]):
        ...     buffer.add(view, vitals, torch.zeros(2, dtype=torch.long), torch.ones(2), view, vitals,
        ...                torch.zeros(2, dtype=torch.bool), torch.tensor(valid))
        >>> buffer.size, buffer.position, buffer.valid_count  # 6 rows written to a ring of 4
        (4, 2, 3)
    """

    def __init__(self, capacity: int, view_shape: tuple[int, ...], num_vitals: int) -> None:
        if int(capacity) < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        c = self.capacity
        self.storage: dict[str, torch.Tensor] = {
            "view": torch.zeros((c, *view_shape), dtype=torch.uint8),
            "vitals": torch.zeros((c, num_vitals)),
            "actions": torch.zeros(c, dtype=torch.long),
            "rewards": torch.zeros(c),
            "terminals": torch.zeros(c, dtype=torch.bool),
            "next_view": torch.zeros((c, *view_shape), dtype=torch.uint8),
            "next_vitals": torch.zeros((c, num_vitals)),
            "valid": torch.zeros(c, dtype=torch.bool),
        }
        self.position = 0  # the next row written
        self.size = 0  # rows filled

    @property
    def valid_count(self) -> int:
        """Rows that may be sampled."""
        return int(self.storage["valid"][: self.size].sum())

    def add(self, view: torch.Tensor, vitals: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
            next_view: torch.Tensor, next_vitals: torch.Tensor, terminals: torch.Tensor, valid: torch.Tensor) -> None:
        """Append ``n`` rows (one per env), wrapping around the ring."""
        n = int(actions.shape[0])
        rows = (self.position + torch.arange(n)) % self.capacity
        for key, value in (("view", view), ("vitals", vitals), ("actions", actions), ("rewards", rewards),
                           ("next_view", next_view), ("next_vitals", next_vitals), ("terminals", terminals),
                           ("valid", valid)):
            self.storage[key][rows] = value.to(self.storage[key].dtype)
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator, n_step: int = 1, gamma: float = 1.0,
               stride: int = 1) -> Batch:
        """``batch_size`` valid rows drawn uniformly with replacement, with ``n_step``-step returns.

        For ``n_step > 1`` the rows must have been added ``stride`` at a time (one row per env, every call) into a
        ring whose capacity is a multiple of ``stride``, so that the same env's next step is ``stride`` rows on.
        A row's horizon stops early at the end of a life or segment (the next row is the invalid autoreset step)
        and at the newest step stored. The random draws are the same whatever ``n_step``.

        Raises:
            RuntimeError: when no valid row is stored yet.
        """
        candidates = torch.nonzero(self.storage["valid"][: self.size]).squeeze(1)
        if candidates.numel() == 0:
            raise RuntimeError("the replay buffer holds no valid transition yet")
        rows = candidates[torch.randint(candidates.numel(), (batch_size,), generator=generator)]
        s = self.storage
        if n_step == 1:
            return Batch(view=s["view"][rows], vitals=s["vitals"][rows], actions=s["actions"][rows],
                         rewards=s["rewards"][rows], terminals=s["terminals"][rows], next_view=s["next_view"][rows],
                         next_vitals=s["next_vitals"][rows], from_prior=torch.zeros(batch_size, dtype=torch.bool),
                         horizons=torch.ones(batch_size, dtype=torch.long), step_rewards=s["rewards"][rows])
        if self.capacity % stride:
            raise ValueError(f"n-step sampling needs a capacity ({self.capacity}) that is a multiple of the stride "
                             f"({stride})")
        offsets = torch.arange(n_step)
        window = (rows.unsqueeze(1) + stride * offsets) % self.capacity  # (B, n): the same env's next steps
        # Steps of this env written after the row's own: the ring's newest step bounds the horizon.
        written_after = ((self.position - (rows - rows % stride) - stride) % self.capacity) // stride
        usable = (s["valid"][window] & (offsets <= written_after.unsqueeze(1))).long().cumprod(1).bool()
        horizons = usable.sum(1)  # >= 1: the sampled row itself is valid
        rewards = torch.where(usable, s["rewards"][window], 0.0) * (gamma ** offsets.to(torch.float32))
        last = window.gather(1, (horizons - 1).unsqueeze(1)).squeeze(1)
        return Batch(view=s["view"][rows], vitals=s["vitals"][rows], actions=s["actions"][rows],
                     rewards=rewards.sum(1), terminals=s["terminals"][last], next_view=s["next_view"][last],
                     next_vitals=s["next_vitals"][last], from_prior=torch.zeros(batch_size, dtype=torch.bool),
                     horizons=horizons, step_rewards=s["rewards"][rows])

    def state_dict(self) -> dict[str, Any]:
        """The filled rows only (a young buffer checkpoints small), the ring position and capacity."""
        return {"capacity": self.capacity, "position": self.position, "size": self.size,
                "storage": {key: value[: self.size].clone() for key, value in self.storage.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`.

        Raises:
            ValueError: when the state comes from a buffer of another capacity or row shape.
        """
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"replay buffer state has capacity {state['capacity']}, this agent {self.capacity}")
        size = int(state["size"])
        for key, value in state["storage"].items():
            if key not in self.storage or tuple(value.shape) != (size, *self.storage[key].shape[1:]):
                raise ValueError(f"replay buffer state does not fit: {key!r} has shape {tuple(value.shape)}")
        for key, target in self.storage.items():
            target.zero_()
            target[:size] = state["storage"][key]
        self.position, self.size = int(state["position"]), size


class PriorBuffer:
    """A dataset's steps (:func:`~openworld.prior.transitions.load_transitions`), sampled as :class:`Batch` es.

    The next observation of step ``s`` is the row after the one it acted from (Minari stores ``N + 1``
    observations per episode); a dataset has no autoreset steps (an episode ends at a death or a cut), a
    truncated step bootstraps and a terminated one does not.

    Args:
        data: the loaded steps.
    """

    def __init__(self, data: TransitionData) -> None:
        self.data = data
        self.view = torch.from_numpy(data.view)
        self.vitals = torch.from_numpy(data.vitals)
        self.obs_index = torch.from_numpy(data.obs_index)
        self.actions = torch.from_numpy(data.actions)
        self.rewards = torch.from_numpy(data.rewards)
        self.terminals = torch.from_numpy(data.terminations)
        position = np.arange(data.num_steps) - data.episode_starts[data.episode]
        self.remaining = torch.from_numpy(data.episode_lengths[data.episode] - position)  # steps to the episode's end

    @classmethod
    def load(cls, dataset_ids: Sequence[str], observation_space: spaces.Space,
             action_space: spaces.Space) -> PriorBuffer:
        """Load local datasets whose spaces must be the agent's.

        Raises:
            DatasetError: an unknown id, or observations or actions of other spaces.
        """
        data = load_transitions(list(dataset_ids), observation_space=observation_space)
        if data.action_space != action_space:
            raise DatasetError(f"dataset {', '.join(dataset_ids)}: its actions are {data.action_space}, this agent's "
                               f"{action_space}")
        return cls(data)

    @property
    def num_steps(self) -> int:
        return self.data.num_steps

    @property
    def has_rewards(self) -> bool:
        """False for a reward-free dataset (``openworld datasets strip-rewards``: every reward NaN)."""
        return bool(torch.isfinite(self.rewards).all())

    def experience(self) -> list[dict[str, Any]]:
        """``{"id", "card_sha256"}`` of each dataset, for the agent's ``experience``."""
        return [{"id": d["id"], "card_sha256": d["card_sha256"]} for d in self.data.datasets]

    def sample(self, batch_size: int, generator: torch.Generator, n_step: int = 1, gamma: float = 1.0) -> Batch:
        """``batch_size`` steps drawn uniformly with replacement, with ``n_step``-step returns that stop at the
        episode's end (a death or a cut). The random draws are the same whatever ``n_step``."""
        return self.batch(torch.randint(self.num_steps, (batch_size,), generator=generator), n_step, gamma)

    def batch(self, steps: torch.Tensor, n_step: int = 1, gamma: float = 1.0) -> Batch:
        """The steps ``steps`` (int64 indices into the dataset's steps) as a :class:`Batch`; a learner that keeps
        a per-step quantity of its own (Cal-QL's Monte-Carlo returns) draws the indices and reads both."""
        batch_size = int(steps.shape[0])
        rows = self.obs_index[steps]
        ones = torch.ones(batch_size, dtype=torch.bool)
        if n_step == 1:
            return Batch(view=self.view[rows], vitals=self.vitals[rows], actions=self.actions[steps],
                         rewards=self.rewards[steps], terminals=self.terminals[steps], next_view=self.view[rows + 1],
                         next_vitals=self.vitals[rows + 1], from_prior=ones, horizons=torch.ones_like(steps),
                         step_rewards=self.rewards[steps])
        offsets = torch.arange(n_step)
        horizons = torch.minimum(self.remaining[steps], torch.tensor(n_step))
        usable = offsets < horizons.unsqueeze(1)
        window = torch.where(usable, steps.unsqueeze(1) + offsets, steps.unsqueeze(1))
        rewards = torch.where(usable, self.rewards[window], 0.0) * (gamma ** offsets.to(torch.float32))
        last = steps + horizons - 1
        next_rows = self.obs_index[last] + 1
        return Batch(view=self.view[rows], vitals=self.vitals[rows], actions=self.actions[steps],
                     rewards=rewards.sum(1), terminals=self.terminals[last], next_view=self.view[next_rows],
                     next_vitals=self.vitals[next_rows], from_prior=ones, horizons=horizons,
                     step_rewards=self.rewards[steps])


# ---------------------------------------------------------------------------------------------- networks
class EnsembleLinear(nn.Module):
    """``E`` independent linear layers as one batched product: ``(B, in)`` or ``(E, B, in)`` -> ``(E, B, out)``."""

    def __init__(self, ensemble_size: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(ensemble_size, 1, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.weight.shape[0], -1, -1)
        return torch.baddbmm(self.bias, x, self.weight)

    def initialise(self, generator: torch.Generator, gain: float) -> None:
        """Each member orthogonal (as ``nn.Linear`` layers are here), zero biases."""
        with torch.no_grad():
            for member in range(self.weight.shape[0]):
                matrix = torch.empty(self.weight.shape[2], self.weight.shape[1])  # (out, in), as nn.Linear's
                nn.init.orthogonal_(matrix, gain, generator=generator)
                self.weight[member] = matrix.T
        nn.init.zeros_(self.bias)


class CriticEnsemble(nn.Module):
    """``E`` heads ``Linear -> LayerNorm -> ReLU -> Linear(|A|)`` on shared features: Q-values ``(E, B, A)``."""

    def __init__(self, ensemble_size: int, in_features: int, hidden_size: int, num_actions: int) -> None:
        super().__init__()
        self.hidden = EnsembleLinear(ensemble_size, in_features, hidden_size)
        self.norm_weight = nn.Parameter(torch.ones(ensemble_size, 1, hidden_size))
        self.norm_bias = nn.Parameter(torch.zeros(ensemble_size, 1, hidden_size))
        self.out = EnsembleLinear(ensemble_size, hidden_size, num_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h = self.hidden(features)
        h = functional.layer_norm(h, h.shape[-1:]) * self.norm_weight + self.norm_bias
        return self.out(torch.relu(h))  # type: ignore[no-any-return]

    def initialise(self, generator: torch.Generator) -> None:
        self.hidden.initialise(generator, math.sqrt(2))
        self.out.initialise(generator, 1.0)
        nn.init.ones_(self.norm_weight)
        nn.init.zeros_(self.norm_bias)


class SoftQNetworks(nn.Module):
    """The shared encoder and the critic ensemble (the policy is their Boltzmann; the temperature is the learner's,
    so that the plasticity options, which act on this module, leave it alone)."""

    def __init__(self, encoder: ViewEncoder, hidden_size: int, critic_hidden_size: int, num_actions: int,
                 ensemble_size: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.critics = CriticEnsemble(ensemble_size, hidden_size, critic_hidden_size, num_actions)

    def initialise(self, generator: torch.Generator) -> None:
        """Orthogonal weights, all from ``generator``."""
        initialise_module(self.encoder, generator)
        self.critics.initialise(generator)

    def heads(self) -> list[nn.Module]:
        """The critics' output layer (what the ``head_reset`` plasticity option re-initialises)."""
        return [self.critics.out]

    def initialise_heads(self, generator: torch.Generator) -> None:
        """New output weights for every critic, drawn as at the start; the biases stay, since they hold the value level
        (:meth:`DiscreteSoftQ.initialise_value_level`) that critics starting from 0 take thousands of updates to
        climb back to."""
        biases = self.critics.out.bias.detach().clone()
        self.critics.out.initialise(generator, 1.0)
        with torch.no_grad():
            self.critics.out.bias.copy_(biases)


# ---------------------------------------------------------------------------------------------- learner
@dataclass
class UpdateTerms:
    """What one update computed, for :meth:`DiscreteSoftQ.extra_losses`.

    Attributes:
        features: ``(B, F)`` encoder features of ``batch.view`` (with gradient: an extra term may shape them).
        q_values: ``(E, B, A)`` online critics at ``s`` (with gradient).
        q_taken: ``(E, B)`` at the actions taken.
        targets: ``(B,)`` the soft TD targets ``y`` (no gradient).
        log_probs: ``(B, A)`` the policy's log-probabilities at ``s`` (no gradient).
        alpha: the temperature (detached).
    """

    features: torch.Tensor
    q_values: torch.Tensor
    q_taken: torch.Tensor
    targets: torch.Tensor
    log_probs: torch.Tensor
    alpha: torch.Tensor


class DiscreteSoftQ:
    """Continual discrete soft Q-learning over a batch of worlds (see the module docstring for the objective and seams).

    Subclasses set their own attributes, then call ``super().__init__`` (which calls
    :meth:`build_extra_modules`), and override :meth:`sample_batch` and :meth:`extra_losses`.

    Args:
        observation_space: one env's ``Dict(view, vitals)`` space.
        action_space: one env's ``Discrete`` space.
        num_envs: worlds driven at once.
        seed: seeds the agent's ``torch.Generator``.
        learning_rate: Adam step size of every network, constant.
        temperature_learning_rate: Adam step size of ``log(alpha)``.
        batch_size: transitions per update.
        buffer_capacity: online transitions kept (all envs together).
        learning_starts: valid online transitions stored before the first update.
        updates_per_step: gradient steps per batched env step (one step of all ``num_envs`` worlds).
        gamma: discount.
        tau: Polyak rate of the target networks.
        ensemble_size: critics ``E``.
        target_subset: critics the target's minimum is taken over (a random subset per update).
        init_temperature: initial entropy temperature ``alpha``.
        target_entropy_ratio: the entropy target as a fraction of the uniform policy's ``log |A|``.
        reward_scale: multiplies the reward; ``None`` means ``1 - gamma`` (values of ``reward: alive`` in [0, 1]).
        max_grad_norm: global gradient-norm clip.
        embedding_dim, channels, hidden_size: the shared encoder (as PPO's).
        critic_hidden_size: width of each critic head.
        n_step: steps of the return before bootstrapping (1: one-step TD). Above 1 the buffer's capacity is rounded
            down to whole steps of all ``num_envs`` worlds.
        diagnostics_every: every this many updates, measure the networks' plasticity on the update's batch
            (:mod:`openworld.agent.plasticity.diagnostics`: the encoder's dormant units, its features' stable rank,
            the weight norm of encoder and critics) into :attr:`metrics` as ``plasticity/...``; 0: never. The
            gradient norm before clipping is logged at every update.
        plasticity: plasticity-preserving options (:mod:`openworld.agent.plasticity`), names or ``{name:
            {settings}}``, applied to the encoder and critics (not to the temperature or an extra module).
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 learning_rate: float = 3e-4, temperature_learning_rate: float = 3e-3, batch_size: int = 64,
                 buffer_capacity: int = 100_000,
                 learning_starts: int = 2000, updates_per_step: int = 1, gamma: float = 0.99, tau: float = 0.005,
                 ensemble_size: int = 10, target_subset: int = 2, init_temperature: float = 0.1,
                 target_entropy_ratio: float = 0.5, reward_scale: float | None = None, max_grad_norm: float = 10.0,
                 embedding_dim: int = 4, channels: int = 8, hidden_size: int = 128,
                 critic_hidden_size: int = 64, n_step: int = 1, diagnostics_every: int = 100,
                 plasticity: Sequence[str | Mapping[str, Any]] | None = None) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise TypeError(f"{type(self).__name__} needs a Discrete action space, got {action_space}")
        if int(diagnostics_every) < 0:
            raise ValueError(f"diagnostics_every must be >= 0 (0: never), got {diagnostics_every}")
        self.diagnostics_every = int(diagnostics_every)
        self.plasticity = build_options(plasticity)  # an unknown or malformed option is refused before anything else
        code_sizes = view_code_sizes(observation_space)
        assert isinstance(observation_space, spaces.Dict)  # checked by view_code_sizes
        for name, value in (("num_envs", num_envs), ("batch_size", batch_size), ("learning_starts", learning_starts),
                            ("updates_per_step", updates_per_step), ("ensemble_size", ensemble_size),
                            ("target_subset", target_subset), ("n_step", n_step)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {brief(value)}")
        if target_subset > ensemble_size:
            raise ValueError(f"target_subset ({target_subset}) cannot exceed ensemble_size ({ensemble_size})")
        if not 0.0 < tau <= 1.0 or not 0.0 <= gamma < 1.0 or init_temperature <= 0.0:
            raise ValueError(f"need 0 < tau <= 1, 0 <= gamma < 1, init_temperature > 0; got tau={tau}, "
                             f"gamma={gamma}, init_temperature={init_temperature}")
        if buffer_capacity < max(batch_size, learning_starts, num_envs):
            raise ValueError(f"buffer_capacity ({buffer_capacity}) must hold batch_size, learning_starts and a step "
                             f"of every env ({max(batch_size, learning_starts, num_envs)})")
        self.observation_space, self.action_space = observation_space, action_space
        view_shape = space_shape(observation_space["view"])
        (num_vitals,) = space_shape(observation_space["vitals"])
        self.num_envs, self.num_actions = int(num_envs), int(action_space.n)
        self.batch_size, self.learning_starts = int(batch_size), int(learning_starts)
        self.updates_per_step, self.n_step = int(updates_per_step), int(n_step)
        self.gamma, self.tau = float(gamma), float(tau)
        # 1 - gamma keeps the values of `reward: alive` near [0, 1]: LayerNorm critics reach a value of ~100 only by
        # growing their output weights, which Adam does at about its learning rate per update (measured: Q still
        # climbing linearly after 5,000 updates at a scale of 1). PPO's default, for the same reason.
        self.reward_scale = 1.0 - self.gamma if reward_scale is None else float(reward_scale)
        self.target_subset, self.max_grad_norm = int(target_subset), float(max_grad_norm)
        self.target_entropy = float(target_entropy_ratio) * math.log(self.num_actions)

        self.generator = torch.Generator().manual_seed(int(seed))
        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG: contain it
            encoder = ViewEncoder(view_shape[0], code_sizes, num_vitals, embedding_dim, channels, hidden_size,
                                  **self.plasticity.network_settings())
            self.model = SoftQNetworks(encoder, hidden_size, critic_hidden_size, self.num_actions, int(ensemble_size))
        self.model.initialise(self.generator)
        self.plasticity.attach(self.model)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(float(init_temperature))))
        self.extra = self.build_extra_modules(self.generator)
        # The target copies only what the targets read: the encoder and the critics.
        self.target = nn.ModuleDict({"encoder": copy.deepcopy(self.model.encoder),
                                     "critics": copy.deepcopy(self.model.critics)}).requires_grad_(False)
        networks = list(self.model.parameters()) + list(self.extra.parameters())
        self.trainable_parameters = [*networks, self.log_alpha]
        # The temperature gets its own, larger step: Adam moves log(alpha) by about its learning rate per update,
        # and at 3e-4 it took thousands of updates to reach the entropy target (measured on Meadow). fused: one
        # multi-tensor step (not the CPU's per-parameter default): 0.45 ms instead of 1.2 ms an update.
        groups: list[dict[str, Any]] = [{"params": networks},
                                        {"params": [self.log_alpha], "lr": temperature_learning_rate}]
        self.optimizer = torch.optim.Adam(groups, lr=learning_rate, fused=True,
                                          **self.plasticity.optimizer_settings())
        self._online_for_target: list[torch.Tensor] = [*self.model.encoder.parameters(),
                                                       *self.model.critics.parameters()]
        self._target_parameters: list[torch.Tensor] = list(self.target.parameters())

        # n-step returns find an env's next step num_envs rows on: the ring must hold whole steps.
        capacity = buffer_capacity - buffer_capacity % self.num_envs if self.n_step > 1 else buffer_capacity
        self.replay = ReplayBuffer(capacity, view_shape, num_vitals)
        self.after_done = torch.zeros(self.num_envs, dtype=torch.bool)  # the previous step ended a life
        self.updates = 0
        self.experience: dict[str, Any] = getattr(self, "experience", {})
        self.metrics: dict[str, float] = {}
        """The last update's diagnostics, ``losses/...`` and ``charts/...``."""

    # ------------------------------------------------------------------ hooks
    def build_extra_modules(self, generator: torch.Generator) -> nn.ModuleDict:
        """Networks an extra loss term trains (initialised from ``generator``): they join the optimiser and the
        state. Called once in ``__init__``, after the model is built. None here."""
        return nn.ModuleDict()

    def sample_batch(self) -> Batch:
        """The batch of the next update: ``batch_size`` valid online transitions here."""
        return self.replay.sample(self.batch_size, self.generator, self.n_step, self.gamma, self.num_envs)

    def extra_losses(self, batch: Batch, terms: UpdateTerms) -> dict[str, torch.Tensor]:
        """Loss terms added to the update (name -> scalar; each is logged as ``losses/<name>``). None here."""
        return {}

    # ------------------------------------------------------------------ acting
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Sample actions ``(n,)`` from the Boltzmann policy of the online critics' mean."""
        view, vitals = observation_tensors(obs)
        with torch.no_grad():
            logits = self.policy_logits(self.model.critics(self.model.encoder(view, vitals)))
            actions = torch.multinomial(torch.softmax(logits, 1), 1, generator=self.generator).squeeze(1)
        return actions.numpy().astype(np.int64)

    def policy_logits(self, q_values: torch.Tensor, log_alpha: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, A)`` logits ``mean_i Q_i(s, .) / alpha`` of the ensemble's ``(E, B, A)`` Q-values."""
        log_alpha = self.log_alpha.detach() if log_alpha is None else log_alpha
        return q_values.mean(0) / log_alpha.exp()

    # ------------------------------------------------------------------ learning
    def observe(self, transition: Transition) -> None:
        """Store the step (the autoreset step as invalid); then ``updates_per_step`` updates once enough is stored."""
        view, vitals = observation_tensors(transition.obs)
        next_view, next_vitals = observation_tensors(transition.next_obs)
        terminated = torch.as_tensor(np.asarray(transition.terminated, dtype=bool))
        truncated = torch.as_tensor(np.asarray(transition.truncated, dtype=bool))
        actions = torch.as_tensor(np.asarray(transition.action), dtype=torch.long)
        rewards = torch.as_tensor(np.asarray(transition.reward, dtype=np.float32))
        self.replay.add(view, vitals, actions, rewards, next_view, next_vitals, terminated, ~self.after_done)
        self.after_done = terminated | truncated
        if self.replay.valid_count >= self.learning_starts:
            for _ in range(self.updates_per_step):
                self.update()

    def update(self) -> None:
        """One gradient step on :meth:`sample_batch`'s batch, then the Polyak step of the targets."""
        batch = self.sample_batch()
        model = self.model
        if self.updates == 0:
            self.initialise_value_level(batch)
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad():
            next_q = self.target["critics"](self.target["encoder"](batch.next_view, batch.next_vitals))
            next_log_probs = torch.log_softmax(self.policy_logits(next_q), 1)
            subset = torch.randperm(next_q.shape[0], generator=self.generator)[: self.target_subset]
            next_min_q = next_q[subset].min(0).values
            next_value = (next_log_probs.exp() * (next_min_q - alpha * next_log_probs)).sum(1)
            alive = (~batch.terminals).to(next_value.dtype)
            # gamma^k for a k-step return (k = 1: the one-step target, computed exactly as before n-step existed).
            discount = self.gamma if self.n_step == 1 else self.gamma ** batch.horizons.to(next_value.dtype)
            targets = self.reward_scale * batch.rewards + discount * alive * next_value
        features = model.encoder(batch.view, batch.vitals)
        q_values = model.critics(features)
        index = batch.actions.view(1, -1, 1).expand(q_values.shape[0], -1, 1)
        q_taken = q_values.gather(2, index).squeeze(2)
        critic_loss = 0.5 * ((q_taken - targets) ** 2).mean()
        # The temperature that gives the batch the target entropy, found by gradient descent on log(alpha) alone.
        log_probs = torch.log_softmax(self.policy_logits(q_values.detach(), self.log_alpha), 1)
        entropy = -(log_probs.exp() * log_probs).sum(1).mean()
        temperature_loss = (entropy - self.target_entropy) ** 2
        extras = self.extra_losses(batch, UpdateTerms(features, q_values, q_taken, targets, log_probs.detach(), alpha))
        loss = critic_loss + temperature_loss + sum(extras.values(), torch.zeros(()))
        penalty = self.plasticity.loss(model)
        if penalty is not None:
            loss = loss + penalty
        self.optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        gradient_norm = nn.utils.clip_grad_norm_(self.trainable_parameters, self.max_grad_norm)
        self.optimizer.step()
        self.plasticity.after_step(model, self.optimizer, self.generator)
        with torch.no_grad():
            # One fused call instead of a loop over ~30 tensors (measured: 0.6 ms of a 15 ms update otherwise).
            torch._foreach_lerp_(self._target_parameters, self._online_for_target, self.tau)
        self.updates += 1
        self.metrics = {"losses/critic_loss": critic_loss.item(), "losses/entropy": entropy.item(),
                        "losses/alpha": float(alpha),
                        "losses/q_mean": float(q_taken.detach().mean()),
                        "charts/prior_fraction": float(batch.from_prior.float().mean()),
                        "charts/updates": float(self.updates), "plasticity/gradient_norm": float(gradient_norm)}
        self.metrics.update({f"losses/{name}": value.item() for name, value in extras.items()})
        self.metrics.update(self.plasticity.metrics())
        if self.diagnostics_every and self.updates % self.diagnostics_every == 0:
            encoder = model.encoder
            report = measure_plasticity(encoder, lambda: encoder(batch.view, batch.vitals),
                                        parameters=model.parameters())
            self.metrics.update(report.metrics())

    def initialise_value_level(self, batch: Batch) -> None:
        """Start every critic (online and target) at the value of a life that goes on as ``batch`` does.

        The output biases get ``c R_k / (1 - gamma^k)`` averaged over the batch's rows with a known reward (the
        online ones where there are any): the discounted value of earning the rows' reward rate forever, 1 for
        ``reward: alive`` at the default scale. Critics that start at 0 must climb to that level through the
        bootstrap, about ``1 / ((1 - gamma) tau)`` updates (measured on Meadow: still at 0.1 after 12,000), and
        their action preferences meanwhile follow which action was sampled most rather than what it did.
        """
        known = torch.isfinite(batch.rewards)  # a reward-free dataset's rows are NaN
        if (known & ~batch.from_prior).any():  # explore's prior rows carry an untrained model's labels: use online
            known &= ~batch.from_prior
        if not known.any():
            return
        horizons = batch.horizons[known].to(torch.float32)
        level = float((self.reward_scale * batch.rewards[known] / (1.0 - self.gamma ** horizons)).mean())
        with torch.no_grad():
            for critics in (self.model.critics, self.target["critics"]):
                assert isinstance(critics, CriticEnsemble)
                critics.out.bias.add_(level)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A deep copy of everything needed to continue exactly (plain tensors and numbers)."""
        return {
            "version": STATE_VERSION,
            "model": copy.deepcopy(self.model.state_dict()),
            "log_alpha": self.log_alpha.detach().clone(),
            "plasticity": self.plasticity.state_dict(),
            "target": copy.deepcopy(self.target.state_dict()),
            "extra": copy.deepcopy(self.extra.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "generator": self.generator.get_state(),
            "replay": self.replay.state_dict(),
            "after_done": self.after_done.clone(),
            "updates": self.updates,
            "metrics": dict(self.metrics),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (copied: the given dict stays untouched).

        Raises:
            ValueError: a state of another version, or of an agent with other shapes.
        """
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"{type(self).__name__} state version {state.get('version')!r}, expected {STATE_VERSION}")
        if tuple(state["after_done"].shape) != (self.num_envs,):
            raise ValueError(f"{type(self).__name__} state is for {state['after_done'].shape[0]} envs, "
                             f"this agent drives {self.num_envs}")
        self.plasticity.check_state(state["plasticity"], type(self).__name__)
        self.model.load_state_dict(state["model"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.plasticity.load_state_dict(state["plasticity"], type(self).__name__)
        self.target.load_state_dict(state["target"])
        self.extra.load_state_dict(state["extra"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.generator.set_state(state["generator"].clone())
        self.replay.load_state_dict(state["replay"])
        self.after_done = state["after_done"].clone()
        self.updates = int(state["updates"])
        self.metrics = dict(state["metrics"])


def core_settings(values: dict[str, Any]) -> dict[str, Any]:
    """:class:`DiscreteSoftQ`'s keyword settings found in ``values`` (a method's ``locals()``).

    A method on the core keeps an explicit signature (its YAML is checked against it) and hands the core's settings
    on with ``super().__init__(observation_space, action_space, num_envs, seed, **core_settings(locals()))``, so a
    setting the core gains is not one more line to copy into every method.
    """
    positional = {"self", "observation_space", "action_space", "num_envs", "seed"}
    return {name: values[name] for name in inspect.signature(DiscreteSoftQ.__init__).parameters
            if name in values and name not in positional}
