"""PPO with random network distillation (RND, Burda et al. 2018): novelty as an exploration bonus.

A fixed, randomly initialised *target* network maps a view to a vector; a *predictor* network is
trained to match it on the views the agent reaches. Where the predictor is still wrong, the view is
novel: the squared error is the intrinsic reward.

Design choices:

* **Input: the view only**, one-hot per channel and flattened. Not the vitals: low vitals are rare,
  and a bonus for rare vitals would pay the agent to go hungry.
* **Normalisation** (as in the paper): the intrinsic reward is divided by the running standard
  deviation of a discounted sum of intrinsic rewards (per env, never reset: it is a scale estimate,
  not a return). Autoreset transitions are left out of it, and out of the predictor's loss.
* **Two value heads** on the shared trunk of :class:`~openworld.agents.ppo.PPO`: one for the
  extrinsic return (discount ``gamma``), one for the intrinsic return (``intrinsic_gamma``). The two
  returns differ in scale and in stationarity (novelty wears off), so one head fitting their sum would
  chase a moving target; with two heads each advantage is estimated separately and combined as
  ``extrinsic_coef * A_ext + intrinsic_coef * A_int``.
* **Death ends both returns.** The paper treats the intrinsic return as non-episodic so that an
  Atari agent is not afraid of losing a life it gets back for free. Here death is the thing being
  scored and costs world time, so a death cuts the intrinsic return too: the novelty the body would
  have found in the rest of this life is lost, which adds to the cost of dying rather than making a
  respawn at a fresh place look attractive.
* The predictor trains with the PPO minibatches, on a random ``update_proportion`` of each (drawn
  from the agent's generator), through the same optimiser.

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> from openworld.agent.protocol import make_agent
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> agent = make_agent("ppo-rnd", envs.single_observation_space, envs.single_action_space, 2, seed=0)
    >>> agent.model.value.out_features  # extrinsic and intrinsic value heads
    2
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from torch import nn
from torch.nn import functional

from openworld.agent.losses import masked_mean
from openworld.agent.networks import initialise_module, space_shape, view_code_sizes
from openworld.agents.ppo import PPO
from openworld.registry import register_agent


class RandomNetworkDistillation(nn.Module):
    """Novelty of views: a trained predictor's error against a fixed random target (an ``IntrinsicBonus``).

    Args:
        observation_space: one env's ``Dict(view, vitals)`` space.
        num_envs: worlds (one running discounted sum each, for the normaliser).
        generator: draws the initial weights of both networks.
        hidden_size: width of the hidden layers.
        output_size: size of the embedding the predictor must match.
        gamma: discount of the intrinsic return (and of the normaliser's running sum).
        update_proportion: fraction of each minibatch the predictor trains on.
        extrinsic_coef: weight of the extrinsic advantages.
        intrinsic_coef: weight of the intrinsic advantages.
    """

    offsets: torch.Tensor  # (C,) first one-hot index of each channel
    running_sum: torch.Tensor  # (n,) float64: discounted sum of intrinsic rewards per env
    sum_mean: torch.Tensor  # running moments of those sums
    sum_var: torch.Tensor
    sum_count: torch.Tensor

    def __init__(self, observation_space: spaces.Space, num_envs: int, generator: torch.Generator,
                 hidden_size: int = 256, output_size: int = 64, gamma: float = 0.99,
                 update_proportion: float = 0.25, extrinsic_coef: float = 1.0, intrinsic_coef: float = 0.5) -> None:
        super().__init__()
        if not 0.0 < update_proportion <= 1.0:
            raise ValueError(f"update_proportion must lie in (0, 1], got {update_proportion}")
        code_sizes = view_code_sizes(observation_space)
        assert isinstance(observation_space, spaces.Dict)  # checked by view_code_sizes
        view_size = space_shape(observation_space["view"])[0]
        offsets = torch.cumsum(torch.tensor((0, *code_sizes[:-1])), 0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.num_codes = int(sum(code_sizes))
        in_features = view_size * view_size * self.num_codes
        self.gamma = float(gamma)
        self.update_proportion = float(update_proportion)
        self.extrinsic_coef, self.intrinsic_coef = float(extrinsic_coef), float(intrinsic_coef)
        with torch.random.fork_rng(devices=[]):
            self.target = nn.Sequential(nn.Linear(in_features, hidden_size), nn.LeakyReLU(),
                                        nn.Linear(hidden_size, hidden_size), nn.LeakyReLU(),
                                        nn.Linear(hidden_size, output_size))
            self.predictor = nn.Sequential(nn.Linear(in_features, hidden_size), nn.ReLU(),
                                           nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                                           nn.Linear(hidden_size, output_size))
        initialise_module(self.target, generator)
        initialise_module(self.predictor, generator)
        self.target.requires_grad_(False)
        # The normaliser: per-env discounted sums and the running moments of their values (float64).
        self.register_buffer("running_sum", torch.zeros(num_envs, dtype=torch.float64))
        self.register_buffer("sum_mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("sum_var", torch.ones((), dtype=torch.float64))
        self.register_buffer("sum_count", torch.full((), 1e-4, dtype=torch.float64))

    def encode(self, view: torch.Tensor) -> torch.Tensor:
        """One-hot codes of a ``(N, V, V, C)`` view, flattened to ``(N, V * V * num_codes)``: the
        networks' input by definition (:meth:`embed` computes their first layer on it without building it)."""
        one_hot = functional.one_hot(view.long() + self.offsets, self.num_codes).sum(-2)
        return one_hot.flatten(1).float()

    def one_hot_positions(self, view: torch.Tensor) -> torch.Tensor:
        """``(N, V * V * C)``: where the ones of :meth:`encode` are, for each view."""
        cells = torch.arange(view.shape[1] * view.shape[2], device=view.device).reshape(view.shape[1], view.shape[2], 1)
        return (view.long() + self.offsets + cells * self.num_codes).flatten(1)

    def embed(self, network: nn.Sequential, positions: torch.Tensor) -> torch.Tensor:
        """``network(encode(view))`` from :meth:`one_hot_positions`: the first linear layer on a one-hot
        input is the sum of the weight columns at its ones. The shared code space has room for kinds
        no world uses yet (most of the one-hot is always 0), so the dense product would cost several
        times more for the same result."""
        first = network[0]
        assert isinstance(first, nn.Linear)
        hidden = functional.embedding_bag(positions, first.weight.t().contiguous(), mode="sum") + first.bias
        return network[1:](hidden)  # type: ignore[no-any-return]

    def novelty(self, view: torch.Tensor) -> torch.Tensor:
        """Unnormalised intrinsic reward ``(N,)``: mean squared prediction error."""
        x = self.one_hot_positions(view)
        return ((self.embed(self.predictor, x) - self.embed(self.target, x)) ** 2).mean(1)

    def rewards(self, next_view: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Normalised intrinsic rewards ``(T, n)`` for the views reached; updates the normaliser."""
        T, n = valid.shape
        with torch.no_grad():
            raw = self.novelty(next_view.flatten(0, 1)).reshape(T, n).double()
            sums = []
            for t in range(T):  # the running sum skips autoreset steps
                self.running_sum.copy_(torch.where(valid[t], self.running_sum * self.gamma + raw[t],
                                                   self.running_sum))
                sums.append(self.running_sum[valid[t]].clone())
            self._update_moments(torch.cat(sums))
            return (raw / (self.sum_var.sqrt() + 1e-8) * valid).float()

    def _update_moments(self, x: torch.Tensor) -> None:
        """Merge a batch into the running mean and variance (Chan et al.'s parallel algorithm)."""
        if x.numel() == 0:
            return
        batch_mean, batch_var, batch_count = x.mean(), x.var(unbiased=False), float(x.numel())
        delta = batch_mean - self.sum_mean
        total = self.sum_count + batch_count
        m2 = self.sum_var * self.sum_count + batch_var * batch_count + delta ** 2 * self.sum_count * batch_count / total
        self.sum_mean.copy_(self.sum_mean + delta * batch_count / total)
        self.sum_var.copy_(m2 / total)
        self.sum_count.copy_(total)

    def loss(self, next_view: torch.Tensor, valid: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The predictor's mean squared error on a random ``update_proportion`` of the valid rows."""
        keep = valid & (torch.rand(valid.shape, generator=generator) < self.update_proportion)
        x = self.one_hot_positions(next_view)
        error = ((self.embed(self.predictor, x) - self.embed(self.target, x).detach()) ** 2).mean(1)
        return masked_mean(error, keep)


def ppo_rnd(observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
            intrinsic_coef: float = 0.5, extrinsic_coef: float = 1.0, intrinsic_gamma: float = 0.99,
            rnd_hidden_size: int = 256, rnd_output_size: int = 64, rnd_update_proportion: float = 0.25,
            **ppo_config: Any) -> PPO:
    """PPO with an RND bonus. ``ppo_config`` takes every :class:`~openworld.agents.ppo.PPO` argument.

    The RND networks are initialised from their own generator, seeded from ``seed`` (offset so that
    they differ from the policy's initial weights); every later draw uses the agent's generator.

    Args:
        intrinsic_coef: weight of the intrinsic advantages.
        extrinsic_coef: weight of the extrinsic advantages.
        intrinsic_gamma: discount of the intrinsic return.
        rnd_hidden_size: hidden width of the target and predictor networks.
        rnd_output_size: size of the target's embedding.
        rnd_update_proportion: fraction of each minibatch the predictor trains on.
    """
    generator = torch.Generator().manual_seed(int(seed) + 0x52_4E_44)  # "RND"
    bonus = RandomNetworkDistillation(observation_space, num_envs, generator, hidden_size=rnd_hidden_size,
                                      output_size=rnd_output_size, gamma=intrinsic_gamma,
                                      update_proportion=rnd_update_proportion, extrinsic_coef=extrinsic_coef,
                                      intrinsic_coef=intrinsic_coef)
    return PPO(observation_space, action_space, num_envs, seed, bonus=bonus, **ppo_config)


register_agent("ppo-rnd-v0", ppo_rnd, "continual PPO with a random-network-distillation exploration bonus",
               num_envs=16)  # a PPO learner (see ppo-v0)
