"""Continual PPO: one lifetime, no episodes, learning inside ``observe`` every ``rollout_steps`` steps.

The agent drives ``num_envs`` worlds at once through the plug-in protocol (``act`` / ``observe`` /
``state_dict``) and learns online: every ``rollout_steps`` transitions it runs a PPO update on the
rollout just collected (clipped surrogate, generalized advantage estimation, entropy bonus) and
carries on. Nothing assumes episodes: the learning rate is constant (a lifetime has no end to anneal
towards), the rollout buffer wraps around, and memory carries over deaths.

Observations:
    ``view`` holds integer codes (terrain, resource, entity) per cell. Each channel's code gets a
    learned embedding (one table, offset per channel), the embeddings of a cell are concatenated, and
    two 3x3 convolutions read the grid. The flattened features are concatenated with ``vitals`` and
    pass one linear layer: the ``hidden_size`` features feed the policy and value heads (through a
    GRU cell first when ``recurrent``).

Deaths, respawns and bootstrapping (the vector env's ``NEXT_STEP`` autoreset):
    * A death is a terminal for the value: the step that returns ``terminated`` has the target
      ``r`` (the alive reward of that step, 0 for ``reward: alive`` since the body is dead after it)
      with no bootstrap, and the advantage chain is cut there.
    * The step after a termination (or truncation) is the autoreset step: its action was ignored and
      its ``next_obs`` is the respawned body. That transition is stored but **excluded from every loss**
      (``valid = False``); its advantage is 0 and nothing flows through it.
    * A truncation (never set by openworld's worlds, possibly by a runner's budget) bootstraps from
      the value of the final observation (in NEXT_STEP mode, the next step's ``obs``) and cuts the
      chain too.
    * The rollout's last step bootstraps from the value of its ``next_obs``.

Recurrence (``recurrent=True``):
    A GRU cell after the encoder. By default its state is **not** reset at death
    (``reset_memory_on_death=False``): the world persists through a death, so what the agent learned
    about it in this life (which food turned poisonous, how fast springs refill) stays true, and
    carrying it over is exactly the adaptation the scores reward. Only egocentric position memory is
    stale after a respawn, and a recurrent policy can learn to discount it (the respawn observation
    follows a terminal obs, and vitals reset). Set ``reset_memory_on_death=True`` to zero the state
    at the first observation of each new life instead (the episodic habit). Training replays each
    env's whole rollout from the hidden state stored at its start (truncated backpropagation through
    ``rollout_steps`` steps); minibatches are groups of envs.

Exploration bonus:
    ``bonus`` (see :class:`IntrinsicBonus`; :mod:`openworld.agents.rnd` provides random network
    distillation) adds a second value head for the intrinsic return, with its own discount. Each head
    gets its own advantages, combined as ``extrinsic_coef * A_ext + intrinsic_coef * A_int`` before
    normalisation.

Plasticity:
    ``plasticity=[...]`` composes the options of :mod:`openworld.agent.plasticity` (L2 towards the initial
    weights, shrink and perturb, Adam with equal betas, layer norm, weight decay, head resets): their loss terms join
    every minibatch's loss, their steps follow every optimiser step, their state is in :meth:`PPO.state_dict`. Every
    ``diagnostics_every`` updates the network's dormant units, stable rank and weight norm are measured on the
    rollout (``plasticity/...`` metrics; the gradient norm at every update); measuring draws nothing.

Determinism:
    All randomness (initialisation, action sampling, minibatch order, the bonus's sample mask) comes
    from one ``torch.Generator`` owned by the agent and seeded with ``seed``; the global torch and NumPy
    generators are never drawn from (the modules are built inside ``torch.random.fork_rng`` and
    re-initialised from the agent's generator). On the CPU the ops used are deterministic for a fixed
    thread count; ``torch.use_deterministic_algorithms(True)`` is compatible.
    :meth:`PPO.state_dict` holds the networks, the optimiser, the generator, the rollout buffer and
    its position, the recurrent state, and the autoreset flags: a loaded agent continues exactly.

Costs (one CPU thread, 16 worlds, the defaults; CPU time on the shared 2-core development machine): a batched
step costs about 1.8 ms: acting 0.4 ms, the env 0.3 ms, storing 0.1 ms and the update (128 x 16 transitions, two
epochs of 8 minibatches: about 128 ms every 128 steps) 1.0 ms (``python benchmarks/agent_throughput.py --agents
ppo`` measures it). One epoch would make a step 1.3 ms but learns less per step, so it is not the default
(``agents/ppo.yaml``). The convolutions' forward and backward passes dominate the update (the network is
compute-bound: ~20 us per transition forward and backward). More worlds raise agent-steps/s but not learning in
wall time: on Meadow, surviving takes about as many world steps at 64 worlds as at 16 (``--wallclock`` in that
benchmark).

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> from openworld.agent.protocol import Transition, make_agent
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> agent = make_agent("ppo", envs.single_observation_space, envs.single_action_space, 2, seed=0,
    ...                    rollout_steps=8, num_minibatches=2)
    >>> obs, info = envs.reset(seed=0)
    >>> for _ in range(16):
    ...     actions = agent.act(obs)
    ...     next_obs, rewards, terminated, truncated, info = envs.step(actions)
    ...     agent.observe(Transition(obs, actions, rewards, next_obs, terminated, truncated, info))
    ...     obs = next_obs
    >>> agent.updates
    2
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from openworld.agent.losses import clipped_surrogate, masked_mean, normalised_advantages
from openworld.agent.networks import ViewEncoder, initialise_module, observation_tensors, space_shape, view_code_sizes
from openworld.agent.plasticity import build_options
from openworld.agent.plasticity.diagnostics import PlasticityReport
from openworld.agent.plasticity.diagnostics import measure as measure_plasticity
from openworld.agent.protocol import Transition
from openworld.registry import register_agent

# 2: the view's code space became the shared, fixed one (openworld.enums.VIEW_CODES), which resized the
# embeddings; a version-1 state would not fit the networks.
STATE_VERSION = 2
PROBE_ROWS = 1024  # rows of a rollout the plasticity diagnostics read: enough for a stable rank of 128 features


# ---------------------------------------------------------------------------------------------- networks
class ActorCritic(nn.Module):
    """Encoder, optional GRU cell, a policy head and ``num_values`` value heads (one per return stream)."""

    def __init__(self, encoder: ViewEncoder, hidden_size: int, num_actions: int, recurrent: bool,
                 num_values: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.hidden_size = hidden_size if recurrent else 0
        self.memory = nn.GRUCell(hidden_size, hidden_size) if recurrent else None
        self.policy = nn.Linear(hidden_size, num_actions)
        self.value = nn.Linear(hidden_size, num_values)

    def forward(self, view: torch.Tensor, vitals: torch.Tensor,
                hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits ``(N, A)``, values ``(N, H)`` and the next hidden state (``(N, 0)`` when not recurrent)."""
        features = self.encoder(view, vitals)
        if self.memory is not None:
            hidden = self.memory(features, hidden)
            features = hidden
        return self.policy(features), self.value(features), hidden

    def initialise(self, generator: torch.Generator) -> None:
        """Orthogonal weights (gain sqrt 2; 0.01 for the policy, 1 for the values), zero biases,
        N(0, 1) embeddings, the GRU's own uniform scheme: all drawn from ``generator``."""
        initialise_module(self, generator)
        nn.init.orthogonal_(self.policy.weight, 0.01, generator=generator)
        nn.init.orthogonal_(self.value.weight, 1.0, generator=generator)

    def heads(self) -> list[nn.Module]:
        """The output layers (what the ``head_reset`` plasticity option re-initialises)."""
        return [self.policy, self.value]

    def initialise_heads(self, generator: torch.Generator) -> None:
        """The heads as :meth:`initialise` leaves them (policy gain 0.01, values 1, zero biases)."""
        nn.init.orthogonal_(self.policy.weight, 0.01, generator=generator)
        nn.init.orthogonal_(self.value.weight, 1.0, generator=generator)
        nn.init.zeros_(self.policy.bias)
        nn.init.zeros_(self.value.bias)


# ---------------------------------------------------------------------------------------------- bonus
class IntrinsicBonus(Protocol):
    """An exploration bonus PPO can learn from (random network distillation is one).

    Attributes:
        gamma: discount of the intrinsic return.
        extrinsic_coef: weight of the extrinsic advantages.
        intrinsic_coef: weight of the intrinsic advantages.
    """

    gamma: float
    extrinsic_coef: float
    intrinsic_coef: float

    def parameters(self) -> Iterator[nn.Parameter]: ...

    def rewards(self, next_view: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Normalised intrinsic rewards ``(T, n)`` for reaching ``next_view`` ``(T, n, V, V, C)``;
        updates the normaliser with the ``valid`` steps."""
        ...

    def loss(self, next_view: torch.Tensor, valid: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The bonus's own training loss on a minibatch of views ``(N, V, V, C)``."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


# ---------------------------------------------------------------------------------------------- returns
def generalized_advantages(rewards: torch.Tensor, values: torch.Tensor, bootstrap: torch.Tensor,
                           terminated: torch.Tensor, truncated: torch.Tensor, valid: torch.Tensor,
                           gamma: float, gae_lambda: float) -> torch.Tensor:
    """GAE over a ``(T, n)`` rollout with deaths and NEXT_STEP autoresets.

    ``values[t]`` is ``V(obs_t)``; ``bootstrap`` is ``V(next_obs)`` of the last step (in NEXT_STEP
    mode ``obs_{t+1}`` is always ``next_obs_t``, the final observation included). A terminated step
    does not bootstrap; a truncated one does; both cut the chain; an invalid (autoreset) step has
    advantage 0 and passes nothing back.

    Example:
        >>> ones = torch.ones(3, 1)
        >>> done = torch.tensor([[False], [True], [False]])
        >>> generalized_advantages(ones, torch.zeros(3, 1), torch.zeros(1), done, torch.zeros_like(done),
        ...                        torch.tensor([[True], [True], [False]]), 0.5, 1.0).flatten().tolist()
        [1.5, 1.0, 0.0]
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(steps)):
        next_value = bootstrap if t == steps - 1 else values[t + 1]
        alive = (~terminated[t]).to(rewards.dtype)
        delta = rewards[t] + gamma * alive * next_value - values[t]
        carry = alive * (~truncated[t]).to(rewards.dtype)
        running = (delta + gamma * gae_lambda * carry * running) * valid[t].to(rewards.dtype)
        advantages[t] = running
    return advantages


# ---------------------------------------------------------------------------------------------- agent
@dataclass
class _Pending:
    """What ``act`` computed for the observation ``observe`` will receive next."""

    logits: torch.Tensor  # (n, A)
    values: torch.Tensor  # (n, H)
    hidden_before: torch.Tensor  # (n, h) state before this step (before any reset)
    starts_life: torch.Tensor  # (n,) bool: memory reset before this step


class PPO:
    """Continual PPO over a batch of worlds (see the module docstring for the design).

    Args:
        observation_space: one env's ``Dict(view, vitals)`` space.
        action_space: one env's ``Discrete`` space.
        num_envs: worlds driven at once.
        seed: seeds the agent's own ``torch.Generator`` (initialisation, sampling, minibatches).
        learning_rate: Adam step size, constant for the whole lifetime.
        rollout_steps: transitions per env between updates.
        num_epochs: passes over each rollout.
        num_minibatches: minibatches per epoch (groups of envs when ``recurrent``: at most ``num_envs`` then).
        gamma: discount of the (extrinsic) return.
        gae_lambda: GAE's lambda.
        clip_coef: PPO's ratio clip.
        entropy_coef: weight of the entropy bonus.
        value_coef: weight of the value loss.
        max_grad_norm: global gradient-norm clip.
        reward_scale: multiplies the world's reward; ``None`` means ``1 - gamma``, which keeps the values of
            ``reward: alive`` (1 per step alive) in [0, 1] whatever the discount.
        embedding_dim: embedding width per view channel.
        channels: convolution channels of the encoder.
        hidden_size: width of the features (and of the GRU state).
        recurrent: add a GRU cell after the encoder.
        reset_memory_on_death: zero the GRU state at the first observation of each new life.
        bonus: an exploration bonus (:class:`IntrinsicBonus`); set by the ``ppo-rnd`` factory.
        diagnostics_every: every this many updates, measure the network's plasticity
            (:mod:`openworld.agent.plasticity.diagnostics`: dormant units, the features' stable rank, the weight
            norm) on the rollout just learnt from, into :attr:`metrics` as ``plasticity/...``; 0: never. The
            gradient norm before clipping (``plasticity/gradient_norm``) is logged at every update.
        plasticity: plasticity-preserving options (:mod:`openworld.agent.plasticity`), each a name or
            ``{name: {setting: value}}``, applied to the policy and value network (not to a bonus's networks).
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 learning_rate: float = 1e-3, rollout_steps: int = 128, num_epochs: int = 2,
                 num_minibatches: int = 8, gamma: float = 0.998, gae_lambda: float = 0.95, clip_coef: float = 0.2,
                 entropy_coef: float = 0.01, value_coef: float = 0.5, max_grad_norm: float = 0.5,
                 reward_scale: float | None = None, embedding_dim: int = 4, channels: int = 16,
                 hidden_size: int = 128, recurrent: bool = False, reset_memory_on_death: bool = False,
                 bonus: IntrinsicBonus | None = None, diagnostics_every: int = 10,
                 plasticity: Sequence[str | Mapping[str, Any]] | None = None) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise TypeError(f"PPO needs a Discrete action space, got {action_space}")
        code_sizes = view_code_sizes(observation_space)
        assert isinstance(observation_space, spaces.Dict)  # checked by view_code_sizes
        for name, value in (("num_envs", num_envs), ("rollout_steps", rollout_steps), ("num_epochs", num_epochs),
                            ("num_minibatches", num_minibatches)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if int(diagnostics_every) < 0:
            raise ValueError(f"diagnostics_every must be >= 0 (0: never), got {diagnostics_every}")
        self.diagnostics_every = int(diagnostics_every)
        self.plasticity = build_options(plasticity)  # an unknown or malformed option is refused before anything else
        if recurrent and num_minibatches > num_envs:
            raise ValueError(f"recurrent PPO splits minibatches by env: num_minibatches ({num_minibatches}) "
                             f"cannot exceed num_envs ({num_envs})")
        if not recurrent and (rollout_steps * num_envs) < num_minibatches:
            raise ValueError(f"num_minibatches ({num_minibatches}) exceeds the rollout's "
                             f"{rollout_steps * num_envs} transitions")
        V, _, C = space_shape(observation_space["view"])
        (K,) = space_shape(observation_space["vitals"])
        self.num_envs = int(num_envs)
        self.num_actions = int(action_space.n)
        self.rollout_steps = int(rollout_steps)
        self.num_epochs, self.num_minibatches = int(num_epochs), int(num_minibatches)
        self.gamma, self.gae_lambda = float(gamma), float(gae_lambda)
        self.clip_coef, self.entropy_coef, self.value_coef = float(clip_coef), float(entropy_coef), float(value_coef)
        self.max_grad_norm = float(max_grad_norm)
        self.reward_scale = 1.0 - self.gamma if reward_scale is None else float(reward_scale)
        self.recurrent, self.reset_memory_on_death = bool(recurrent), bool(reset_memory_on_death)
        self.bonus = bonus

        self.generator = torch.Generator().manual_seed(int(seed))
        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG: contain it
            encoder = ViewEncoder(V, code_sizes, K, embedding_dim, channels, hidden_size,
                                  **self.plasticity.network_settings())
            self.model = ActorCritic(encoder, hidden_size, self.num_actions, self.recurrent,
                                     num_values=1 if bonus is None else 2)
        self.model.initialise(self.generator)
        self.plasticity.attach(self.model)
        self.trainable_parameters = list(self.model.parameters())
        if bonus is not None:
            self.trainable_parameters += [p for p in bonus.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.trainable_parameters, lr=learning_rate,
                                          **{"eps": 1e-5, **self.plasticity.optimizer_settings()})

        T, n = self.rollout_steps, self.num_envs
        H = self.model.value.out_features
        self.buffer: dict[str, torch.Tensor] = {
            "view": torch.zeros((T, n, V, V, C), dtype=torch.uint8),
            "vitals": torch.zeros((T, n, K)),
            "next_view": torch.zeros((T, n, V, V, C), dtype=torch.uint8),
            "actions": torch.zeros((T, n), dtype=torch.long),
            "log_probs": torch.zeros((T, n)),
            "values": torch.zeros((T, n, H)),
            "rewards": torch.zeros((T, n)),
            "terminated": torch.zeros((T, n), dtype=torch.bool),
            "truncated": torch.zeros((T, n), dtype=torch.bool),
            "valid": torch.zeros((T, n), dtype=torch.bool),
            "starts_life": torch.zeros((T, n), dtype=torch.bool),
            "hidden_start": torch.zeros((n, self.model.hidden_size)),
        }
        self.position = 0  # next buffer row
        self.updates = 0
        self.hidden = torch.zeros((n, self.model.hidden_size))
        self.after_done = torch.zeros(n, dtype=torch.bool)  # the previous step terminated or truncated
        self.next_starts_life = torch.zeros(n, dtype=torch.bool)  # the previous step was an autoreset
        self.pending: _Pending | None = None
        self.metrics: dict[str, float] = {}
        """The last update's diagnostics, namespaced ``losses/...`` and ``charts/...`` (cleanrl's names)."""

    # ------------------------------------------------------------------ acting
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Sample actions ``(n,)`` from the policy (and advance the recurrent state)."""
        view, vitals = observation_tensors(obs)
        hidden_before = self.hidden
        starts_life = self.next_starts_life & self.reset_memory_on_death
        # inference_mode, not no_grad: no version counters or view tracking on a forward pass that never trains
        # (what act computes is only read later: copied into the buffer, or the next step's input)
        with torch.inference_mode():
            hidden = hidden_before * (~starts_life).unsqueeze(1).to(hidden_before.dtype)
            logits, values, self.hidden = self.model(view, vitals, hidden)
            probabilities = torch.softmax(logits, 1)
            actions = torch.multinomial(probabilities, 1, generator=self.generator).squeeze(1)
        self.pending = _Pending(logits, values, hidden_before, starts_life)
        return actions.numpy().astype(np.int64)

    # ------------------------------------------------------------------ learning
    def observe(self, transition: Transition) -> None:
        """Store the step; every ``rollout_steps`` steps, run a PPO update.

        Raises:
            RuntimeError: when ``act`` was not called for this step's observation.
        """
        if self.pending is None:
            raise RuntimeError("PPO.observe() must follow act() on the same observations (one act per step)")
        pending, self.pending = self.pending, None
        t, buffer = self.position, self.buffer
        actions = torch.as_tensor(np.asarray(transition.action), dtype=torch.long)
        view, vitals = observation_tensors(transition.obs)
        next_view, _ = observation_tensors(transition.next_obs)
        terminated = torch.as_tensor(np.asarray(transition.terminated, dtype=bool))
        truncated = torch.as_tensor(np.asarray(transition.truncated, dtype=bool))
        if t == 0:
            buffer["hidden_start"].copy_(pending.hidden_before)
        buffer["view"][t] = view
        buffer["vitals"][t] = vitals
        buffer["next_view"][t] = next_view
        buffer["actions"][t] = actions
        buffer["log_probs"][t] = torch.log_softmax(pending.logits, 1).gather(1, actions[:, None]).squeeze(1)
        buffer["values"][t] = pending.values
        buffer["rewards"][t] = torch.as_tensor(np.asarray(transition.reward, dtype=np.float32)) * self.reward_scale
        buffer["terminated"][t] = terminated
        buffer["truncated"][t] = truncated
        buffer["valid"][t] = ~self.after_done  # the autoreset step: its action was ignored
        buffer["starts_life"][t] = pending.starts_life
        self.next_starts_life = self.after_done.clone()
        self.after_done = terminated | truncated
        self.position += 1
        if self.position == self.rollout_steps:
            self._learn(transition.next_obs)
            self.position = 0

    def _learn(self, next_obs: dict[str, np.ndarray]) -> None:
        buffer = self.buffer
        valid = buffer["valid"]
        with torch.no_grad():
            next_view, next_vitals = observation_tensors(next_obs)
            starts_life = self.next_starts_life & self.reset_memory_on_death
            hidden = self.hidden * (~starts_life).unsqueeze(1).to(self.hidden.dtype)
            _, bootstrap, _ = self.model(next_view, next_vitals, hidden)
            streams = [(buffer["rewards"], self.gamma)]
            if self.bonus is not None:
                intrinsic = self.bonus.rewards(buffer["next_view"], valid)
                streams.append((intrinsic, self.bonus.gamma))
                self.metrics["charts/intrinsic_reward"] = float(masked_mean(intrinsic, valid))
            advantages = torch.stack([
                generalized_advantages(rewards, buffer["values"][..., h], bootstrap[:, h], buffer["terminated"],
                                       buffer["truncated"], valid, gamma, self.gae_lambda)
                for h, (rewards, gamma) in enumerate(streams)], -1)  # (T, n, H)
            returns = advantages + buffer["values"]
            weights = torch.ones(len(streams))
            if self.bonus is not None:
                weights = torch.tensor([self.bonus.extrinsic_coef, self.bonus.intrinsic_coef])
            combined = (advantages * weights).sum(-1)

        flat = {key: value.flatten(0, 1) for key, value in buffer.items() if key != "hidden_start"}
        flat_returns, flat_advantages, flat_valid = returns.flatten(0, 1), combined.flatten(0, 1), valid.flatten()
        sums: dict[str, float] = {}
        count = 0
        for _ in range(self.num_epochs):
            for indices, envs in self._minibatches():
                mask = flat_valid[indices]
                if not mask.any():
                    continue
                logits, values = self._evaluate(flat, indices, envs)
                log_probs_all = torch.log_softmax(logits, 1)
                log_probs = log_probs_all.gather(1, flat["actions"][indices, None]).squeeze(1)
                log_ratio = log_probs - flat["log_probs"][indices]
                ratio = log_ratio.exp()
                adv, std = normalised_advantages(flat_advantages[indices], mask)
                policy_loss = clipped_surrogate(ratio, adv, mask, self.clip_coef)
                value_loss = 0.5 * masked_mean(((values - flat_returns[indices]) ** 2).sum(1), mask)
                entropy = masked_mean(-(log_probs_all.exp() * log_probs_all).sum(1), mask)
                loss = policy_loss + self.value_coef * value_loss - self.entropy_coef * entropy
                if self.bonus is not None:
                    bonus_loss = self.bonus.loss(flat["next_view"][indices], mask, self.generator)
                    loss = loss + bonus_loss
                    sums["losses/bonus_loss"] = sums.get("losses/bonus_loss", 0.0) + bonus_loss.item()
                extra = self.auxiliary_loss(log_probs_all, flat, indices, mask, std)
                if extra is not None:
                    loss = loss + extra
                penalty = self.plasticity.loss(self.model)
                if penalty is not None:
                    loss = loss + penalty
                self.optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                gradient_norm = nn.utils.clip_grad_norm_(self.trainable_parameters, self.max_grad_norm)
                self.optimizer.step()
                self.plasticity.after_step(self.model, self.optimizer, self.generator)
                with torch.no_grad():
                    approx_kl = masked_mean((ratio - 1) - log_ratio, mask)
                    clip_fraction = masked_mean(((ratio - 1).abs() > self.clip_coef).float(), mask)
                for key, value in (("losses/policy_loss", policy_loss), ("losses/value_loss", value_loss),
                                   ("losses/entropy", entropy), ("losses/approx_kl", approx_kl),
                                   ("losses/clip_fraction", clip_fraction),
                                   ("plasticity/gradient_norm", gradient_norm)):
                    sums[key] = sums.get(key, 0.0) + value.item()
                count += 1
        self.updates += 1
        self.metrics.update({key: value / max(count, 1) for key, value in sums.items()})
        target, predicted = returns[..., 0][valid], buffer["values"][..., 0][valid]
        variance = float(target.var()) if target.numel() > 1 else 0.0
        self.metrics["losses/explained_variance"] = (
            float("nan") if variance == 0 else 1.0 - float((target - predicted).var()) / variance)
        self.metrics["charts/excluded_transitions"] = float((~valid).sum())
        self.metrics["charts/updates"] = float(self.updates)
        self.metrics.update(self.plasticity.metrics())
        if self.diagnostics_every and self.updates % self.diagnostics_every == 0:
            self.metrics.update(self.plasticity_report(flat, flat_valid).metrics())

    def plasticity_report(self, flat: dict[str, torch.Tensor], valid: torch.Tensor) -> PlasticityReport:
        """The network's plasticity on (the first 1,024 valid rows of) the rollout: ReLU units of the encoder, the
        encoder's features (before the GRU when recurrent), the weights of the whole model. No random draws."""
        rows = torch.nonzero(valid).squeeze(1)[:PROBE_ROWS]
        encoder = self.model.encoder
        return measure_plasticity(encoder, lambda: encoder(flat["view"][rows], flat["vitals"][rows]),
                                  parameters=self.model.parameters())

    def auxiliary_loss(self, log_probs: torch.Tensor, flat: dict[str, torch.Tensor], indices: torch.Tensor,
                       mask: torch.Tensor, advantage_std: torch.Tensor) -> torch.Tensor | None:
        """A subclass's extra loss term on one minibatch, added to PPO's (None here: plain PPO adds nothing).

        Args:
            log_probs: the policy's log-probabilities ``(N, A)`` of the minibatch rows (with gradients).
            flat: the rollout buffer flattened to ``(T * n, ...)`` rows (a subclass's own buffer keys included).
            indices: the minibatch's rows of ``flat``, in the order of ``log_probs``.
            mask: ``(N,)`` the rows that enter losses (autoreset steps excluded).
            advantage_std: the standard deviation the minibatch's advantages were divided by (plus 1e-8): a term
                derived from the return must be divided by it too to keep its ratio to the policy gradient.
        """
        return None

    def _minibatches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Flat indices into the ``T * n`` rollout (row ``t * n + env``), with the envs of the group when
        ``recurrent`` (then a minibatch is whole env sequences, in time order)."""
        T, n = self.rollout_steps, self.num_envs
        if self.recurrent:
            for envs in torch.randperm(n, generator=self.generator).tensor_split(self.num_minibatches):
                yield (torch.arange(T)[:, None] * n + envs[None, :]).flatten(), envs
        else:
            for indices in torch.randperm(T * n, generator=self.generator).tensor_split(self.num_minibatches):
                yield indices, None

    def _evaluate(self, flat: dict[str, torch.Tensor], indices: torch.Tensor,
                  envs: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(N, A)`` and values ``(N, H)`` of the minibatch rows ``indices``."""
        if envs is None:
            empty = torch.zeros((indices.shape[0], 0))
            logits, values, _ = self.model(flat["view"][indices], flat["vitals"][indices], empty)
            return logits, values
        buffer = self.buffer
        hidden = buffer["hidden_start"][envs]
        all_logits, all_values = [], []
        for t in range(self.rollout_steps):  # replay the rollout from its stored start state
            hidden = hidden * (~buffer["starts_life"][t, envs]).unsqueeze(1).to(hidden.dtype)
            logits, values, hidden = self.model(buffer["view"][t, envs], buffer["vitals"][t, envs], hidden)
            all_logits.append(logits)
            all_values.append(values)
        return torch.cat(all_logits), torch.cat(all_values)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A deep copy of everything needed to continue exactly (safe to keep while training goes on)."""
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "generator": self.generator.get_state(),
            "buffer": {key: value.clone() for key, value in self.buffer.items()},
            "position": self.position,
            "updates": self.updates,
            "hidden": self.hidden.clone(),
            "after_done": self.after_done.clone(),
            "next_starts_life": self.next_starts_life.clone(),
            "pending": None if self.pending is None else {
                key: value.clone() for key, value in vars(self.pending).items()},
            "metrics": dict(self.metrics),
        }
        if self.bonus is not None:
            state["bonus"] = copy.deepcopy(self.bonus.state_dict())
        if self.plasticity:
            state["plasticity"] = self.plasticity.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (copied: the given dict stays untouched and unshared).

        Raises:
            ValueError: when the state comes from an agent with another shape (envs, rollout, networks).
        """
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"PPO state version {state.get('version')!r}, expected {STATE_VERSION} (version 1 "
                             "predates the shared observation codes; retrain)")
        if ("bonus" in state) != (self.bonus is not None):
            raise ValueError("PPO state and agent disagree on the exploration bonus (ppo vs ppo-rnd)")
        self.plasticity.check_state(state.get("plasticity", {}), "PPO")
        for key, value in state["buffer"].items():
            if key not in self.buffer or self.buffer[key].shape != value.shape:
                raise ValueError(f"PPO state does not fit this agent: buffer[{key!r}] has shape "
                                 f"{tuple(value.shape)}, expected {tuple(self.buffer.get(key, value).shape)} "
                                 f"(num_envs={self.num_envs}, rollout_steps={self.rollout_steps})")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.generator.set_state(state["generator"].clone())
        for key, value in state["buffer"].items():
            self.buffer[key].copy_(value)
        self.position, self.updates = int(state["position"]), int(state["updates"])
        self.hidden = state["hidden"].clone()
        self.after_done = state["after_done"].clone()
        self.next_starts_life = state["next_starts_life"].clone()
        pending = state["pending"]
        self.pending = None if pending is None else _Pending(**{k: v.clone() for k, v in pending.items()})
        self.metrics = dict(state["metrics"])
        if self.bonus is not None:
            self.bonus.load_state_dict(copy.deepcopy(state["bonus"]))
        self.plasticity.load_state_dict(state.get("plasticity", {}), "PPO")




# 16 worlds: PPO pays a forward pass per step and an update per rollout, so world steps/s fall with more worlds
# (on 2 cores, about 150 at 16 and 40 at 256; docs/experiments.md). More worlds buy agent-steps/s, not learning in
# wall time: on Meadow, surviving (a 1,000-step window above 0.9 alive) takes about as many world steps at 64 worlds
# as at 16, each step costing 1.6x more, so 64 worlds took twice as long (benchmarks/agent_throughput.py --wallclock).
register_agent("ppo-v0", PPO, "continual PPO (torch): learns online every rollout, no episodes assumed", num_envs=16)
