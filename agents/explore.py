"""ExPLORe (Li, Hao, Wei, Levine et al. 2023, "Accelerating Exploration with Unlabeled Prior Data"), discrete.

RLPD whose prior data carry **no rewards**: each update's prior rows are labelled *optimistically* with the
current reward model and a novelty bonus, so the agent is drawn to the parts of the prior data it has not
visited yet, and learns from their transitions without ever being told their rewards.

Objective (one update; everything else is :class:`~openworld.agents.offpolicy.DiscreteSoftQ`'s: its docstring
has the soft TD target, the critics' Boltzmann policy and the temperature loss):

* **batch**: ``round(prior_fraction * B)`` rows from the dataset, the rest online (RLPD's symmetric sampling); the
  online rows with ``n_step``-step returns, the prior rows one-step (a label is one step's: an ``n``-step sum of
  labels would run the models ``n`` times a row).
* **labels** (no gradient), for the prior rows only, *of the state and the action taken* ``(s, a)`` as in the
  paper (its ``r_UCB(s, a)``; not of ``s'``)::

      r_UCB(s, a) = r_hat(s, a) + bonus_scale * n(s, a),   n(s, a) = e(s, a) / sqrt(m),
      e(s, a) = mean_k (f_theta(s, a)_k - f_bar(s, a)_k)^2

  ``r_hat`` is the reward model, ``f_bar`` a fixed random target network, ``f_theta`` the RND predictor (Burda
  et al. 2019) and ``m`` a running mean of ``e^2`` over the prior rows labelled (an exponential average,
  rate ``novelty_scale_rate`` per update, kept in the state), so the bonus has a root mean square of
  ``bonus_scale`` in reward units whatever the raw error's scale, and ``bonus_scale`` means something.
  The labels replace the prior rows' rewards (NaN in a reward-free dataset) before the TD target, which
  scales them by ``reward_scale`` as any reward. **Online rows keep their true rewards, without a bonus**: the
  paper's runs label only the prior data (the authors' ``use_rnd_online=False``).
* **reward model** (an extra loss term): ``L_r = mean_online (r_hat(s, a) - r)^2 / 2`` on the batch's online rows
  and their true one-step rewards (``Batch.step_rewards``): it is regressed online, as the paper's is.
* **RND predictor** (an extra loss term): ``L_rnd = mean_online e(s, a)``, on the online rows, so what the agent
  has done stops being novel, while what only the prior data did stays novel (and optimistic) until visited.

Networks. The reward model and RND have **their own small encoders**, not heads on the shared critic trunk:
the paper's reward model is a separate network; labels are computed *before* the update (in
:meth:`Explore.sample_batch`), where the trunk's features of the prior rows do not exist yet (a head on it
would cost one more convolutional forward pass per update); and a separate input keeps the reward model from
moving with the critics' features. Their input (:class:`StateActionInput`) is each view cell's channel codes,
embedded (4 numbers a code, learned; the RND target's random and fixed), and the action's one-hot, into two
hidden layers; the reward model also reads the vitals (the alive reward depends on health), RND does not (a
bonus for rare vitals would pay the agent to go hungry, as ``agents/rnd.py`` argues).

What differs from the paper: discrete actions (an ``(s, a)`` input is the one-hot action, as in the authors'
state-action RND); Dict observations; reset-free (deaths terminal, the NEXT_STEP autoreset step never sampled,
constant learning rates); the prior rows keep the dataset's terminations (a death is in the data; the authors'
reward model also predicts them); the reward model and RND train on each batch's online rows through the
learner's one optimiser (the paper: RND on the newest transition each step, the reward model on its own
batches); the novelty is normalised (the paper uses the raw error times 1); networks of 128/64 units (the
paper: 3 x 256); one update per batched step (the paper: 20 per transition). A dataset **with** rewards is
accepted and its rewards are **ignored** (replaced by the labels): ``rlpd`` is the agent that uses them.
Without a dataset the agent is refused (a ``DatasetError`` naming ``rlpd``): without prior data it would be
RND-augmented soft Q-learning, which is not what this agent is for.

Defaults (``agents/explore.yaml``): rlpd's (16 worlds, batch 64 half from the dataset, one update per batched
step, 10 critics (one random critic in the target), buffer 100,000, learning from 2,000 stored transitions, gamma
0.99, Adam 1e-3, 10-step returns for the online rows)
plus ``bonus_scale`` 1.0 (the paper's coefficient), a reward model of 64 units, RND of 128 units and 32
outputs, novelty scale rate 0.01.

Cost (one CPU thread, the shared 2-core development machine under a load average of 5 to 7, 2026-12-02:
timings noisy): ``openworld run world=meadow agent=explore agent.dataset=openworld/meadow/forager-noreward-v0
steps=3000 num_envs=16`` (a strip-rewards copy of a 16,000-step forager dataset) took 96 s wall (start-up and
report included), its last logged rate about 525 agent-steps/s; ``agent=rlpd`` with the same dataset's rewarded
original, run just after, 74 s and about 750-830 agent-steps/s. An update costs about 1.5x rlpd's (23-25 ms
against 14-17 ms, the same machine): labelling 32 prior rows (~2 ms), the reward model's and RND's forward and
backward passes, the optimiser on their 238,000 parameters. Peak RSS 627 MB (rlpd 619 MB), a 20.6 MB checkpoint
at 48,000 transitions (rlpd 18.5 MB). Learning, that run: alive fraction 0.818 (rlpd 0.803, one seed each: no
evidence either way); the prior rows' labels about 1.9 (reward model ~1.0, normalised novelty ~0.9). Those runs
used a reward scale of 1 and the core's first policy (discrete SAC's head). Over 5 seeds x 16 worlds x 12,000
steps of Meadow-v0 (``benchmarks/agent_evidence.py``, 30%-random forager data without its rewards) it beats random
actions: alive fraction 0.887 [0.872, 0.895] in the last quarter against 0.848 [0.834, 0.863], above rlpd from
scratch (0.875 [0.865, 0.884]) and rlpd on the same data with their rewards (0.855 [0.844, 0.863]).

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> from openworld.agent.protocol import make_agent
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> from openworld.errors import DatasetError
    >>> try:  # it needs prior data: without them it names the agents to use instead
    ...     make_agent("explore", envs.single_observation_space, envs.single_action_space, 2, seed=0, dataset=None)
    ... except DatasetError as error:
    ...     print(str(error).split("; ")[1])
    without one use agent=rlpd (off-policy from scratch) or agent=ppo-rnd (RND exploration)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from gymnasium import spaces
from torch import nn
from torch.nn import functional

from openworld.agent.networks import initialise_module, space_shape, view_code_sizes
from openworld.agents.offpolicy import Batch, DiscreteSoftQ, PriorBuffer, UpdateTerms, core_settings
from openworld.errors import DatasetError
from openworld.registry import register_agent

CODE_DIM = 4
"""Width of the learned code of each view channel in the reward model's and RND's inputs (as the shared
encoder's ``embedding_dim``)."""


class StateActionInput(nn.Module):
    """``(s, a)`` as a flat vector: each view cell's channel codes embedded (``CODE_DIM`` each), and the action's
    one-hot: ``V * V * C * CODE_DIM + |A|`` features (595 for a 7x7x3 view).

    Why not the one-hot of the codes (as ``ppo-rnd``'s RND): openworld's code space has room for kinds no world
    uses yet (97 codes a cell in Meadow), so a first layer on it has 4,760 x 128 weights per network, which the
    optimiser steps densely every update (measured: 38-45 ms an update, against rlpd's 16).
    """

    offsets: torch.Tensor  # (C,) the first code index of each channel

    def __init__(self, observation_space: spaces.Space, num_actions: int) -> None:
        super().__init__()
        code_sizes = view_code_sizes(observation_space)
        assert isinstance(observation_space, spaces.Dict)  # checked by view_code_sizes
        view_size = space_shape(observation_space["view"])[0]
        self.register_buffer("offsets", torch.cumsum(torch.tensor((0, *code_sizes[:-1])), 0), persistent=False)
        self.codes = nn.Embedding(int(sum(code_sizes)), CODE_DIM)
        self.num_actions = int(num_actions)
        self.out_features = view_size * view_size * len(code_sizes) * CODE_DIM + self.num_actions

    def forward(self, view: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``(N, out_features)`` from ``(N, V, V, C)`` uint8 views and ``(N,)`` actions."""
        codes = self.codes(view.long() + self.offsets).flatten(1)
        return torch.cat([codes, functional.one_hot(actions.long(), self.num_actions).to(codes.dtype)], 1)


class RewardModel(nn.Module):
    """``r_hat(s, a)``: ``(s, a)`` (and the vitals) -> hidden -> hidden -> a reward."""

    def __init__(self, observation_space: spaces.Space, num_actions: int, hidden_size: int) -> None:
        super().__init__()
        assert isinstance(observation_space, spaces.Dict)
        (num_vitals,) = space_shape(observation_space["vitals"])
        self.input = StateActionInput(observation_space, num_actions)
        self.net = nn.Sequential(nn.Linear(self.input.out_features + num_vitals, hidden_size), nn.ReLU(),
                                 nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 1))

    def forward(self, view: torch.Tensor, vitals: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Predicted rewards ``(N,)``."""
        return self.net(torch.cat([self.input(view, actions), vitals], 1)).squeeze(1)  # type: ignore[no-any-return]


class StateActionNovelty(nn.Module):
    """RND on ``(s, a)``: a fixed random target, a trained predictor, and the running scale of their error.

    Args:
        observation_space: one env's ``Dict(view, vitals)`` space (the view is read, not the vitals).
        num_actions: ``|A|``.
        hidden_size: hidden width of both networks.
        output_size: size of the embedding the predictor must match.
        scale_rate: weight of each batch in the running mean of the squared error (``m``).
    """

    mean_square: torch.Tensor  # float64 scalar: running mean of e^2 over the prior rows labelled (m)
    scale_started: torch.Tensor  # bool scalar: m has seen a batch

    def __init__(self, observation_space: spaces.Space, num_actions: int, hidden_size: int, output_size: int,
                 scale_rate: float) -> None:
        super().__init__()

        def network(activation: type[nn.Module]) -> nn.Sequential:
            first = StateActionInput(observation_space, num_actions)
            return nn.Sequential(first, nn.Linear(first.out_features, hidden_size), activation(),
                                 nn.Linear(hidden_size, hidden_size), activation(),
                                 nn.Linear(hidden_size, output_size))

        # As Burda et al.: the target with leaky ReLUs, the predictor with ReLUs; each has its own codes (the
        # target's random and fixed).
        self.target = network(nn.LeakyReLU).requires_grad_(False)
        self.predictor = network(nn.ReLU)
        self.scale_rate = float(scale_rate)
        self.register_buffer("mean_square", torch.ones((), dtype=torch.float64))
        self.register_buffer("scale_started", torch.zeros((), dtype=torch.bool))

    @staticmethod
    def embed(network: nn.Sequential, view: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return network[1:](network[0](view, actions))  # type: ignore[no-any-return]

    def error(self, view: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``e(s, a)`` ``(N,)``, the predictor's mean squared error (with gradient into the predictor)."""
        return ((self.embed(self.predictor, view, actions) - self.embed(self.target, view, actions)) ** 2).mean(1)

    def update_scale(self, error: torch.Tensor) -> None:
        """Merge a batch of errors into ``m`` (the first batch sets it)."""
        batch = (error.detach().double() ** 2).mean()
        if not bool(self.scale_started):
            self.mean_square.copy_(batch)
            self.scale_started.fill_(True)
        else:
            self.mean_square.lerp_(batch, self.scale_rate)

    def normalise(self, error: torch.Tensor) -> torch.Tensor:
        """``n = e / sqrt(m)``."""
        return (error.double() / (self.mean_square.sqrt() + 1e-12)).to(error.dtype)


class Explore(DiscreteSoftQ):
    """RLPD on reward-free prior data labelled ``r_hat + bonus_scale * novelty`` (see the module docstring).

    Args:
        dataset: a local dataset id (``openworld collect``, then ``openworld datasets strip-rewards``); required.
            Its rewards, if it has any, are ignored.
        prior_fraction: share of each batch drawn from the dataset.
        bonus_scale: weight of the normalised novelty in the prior rows' labels (root mean square, reward units).
        reward_hidden_size: width of the reward model's hidden layers.
        rnd_hidden_size: width of RND's hidden layers.
        rnd_output_size: size of RND's embedding.
        novelty_scale_rate: weight of each batch in the running mean square of the novelty.
        The other arguments are :class:`~openworld.agents.offpolicy.DiscreteSoftQ`'s.

    Raises:
        DatasetError: no dataset (naming ``rlpd``), an unknown one, or one of other spaces.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 dataset: str | None, prior_fraction: float = 0.5, bonus_scale: float = 1.0,
                 reward_hidden_size: int = 64, rnd_hidden_size: int = 128, rnd_output_size: int = 32,
                 novelty_scale_rate: float = 0.01, learning_rate: float = 1e-3,
                 temperature_learning_rate: float = 3e-3, batch_size: int = 64, buffer_capacity: int = 100_000,
                 learning_starts: int = 2000, updates_per_step: int = 1, gamma: float = 0.99, tau: float = 0.005,
                 ensemble_size: int = 10, target_subset: int = 1, init_temperature: float = 0.1,
                 target_entropy_ratio: float = 0.5, reward_scale: float | None = None, max_grad_norm: float = 10.0,
                 embedding_dim: int = 4, channels: int = 8, hidden_size: int = 128,
                 critic_hidden_size: int = 64, n_step: int = 10,
                 diagnostics_every: int = 100, plasticity: Sequence[str | Mapping[str, Any]] | None = None) -> None:
        if dataset is None:
            raise DatasetError("explore learns from a reward-free dataset (agent.dataset=<id>: openworld collect, "
                               "then openworld datasets strip-rewards); without one use agent=rlpd (off-policy from "
                               "scratch) or agent=ppo-rnd (RND exploration)")
        self.prior_rows = round(float(prior_fraction) * int(batch_size))
        if not 0.0 < prior_fraction < 1.0 or not 0 < self.prior_rows < int(batch_size):
            raise ValueError(f"prior_fraction must leave prior and online rows in each batch of {batch_size}, "
                             f"got {prior_fraction}")
        if bonus_scale < 0.0 or not 0.0 < novelty_scale_rate <= 1.0:
            raise ValueError(f"need bonus_scale >= 0 and 0 < novelty_scale_rate <= 1; got {bonus_scale}, "
                             f"{novelty_scale_rate}")
        for name, value in (("reward_hidden_size", reward_hidden_size), ("rnd_hidden_size", rnd_hidden_size),
                            ("rnd_output_size", rnd_output_size)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.bonus_scale = float(bonus_scale)
        self._sizes = (int(reward_hidden_size), int(rnd_hidden_size), int(rnd_output_size), float(novelty_scale_rate))
        # Loaded before any network is built: a bad dataset is refused before the lifetime starts.
        self.prior_data = PriorBuffer.load([str(dataset)], observation_space, action_space)
        (dataset_experience,) = self.prior_data.experience()
        self.experience = {"dataset": dataset_experience}
        self.label_metrics: dict[str, float] = {}
        super().__init__(observation_space, action_space, num_envs, seed, **core_settings(locals()))

    # ------------------------------------------------------------------ hooks of the core
    def build_extra_modules(self, generator: torch.Generator) -> nn.ModuleDict:
        """The reward model and RND (target frozen), initialised from the agent's generator."""
        reward_hidden, rnd_hidden, rnd_output, scale_rate = self._sizes
        assert isinstance(self.action_space, spaces.Discrete)
        num_actions = int(self.action_space.n)
        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG: contain it
            reward_model = RewardModel(self.observation_space, num_actions, reward_hidden)
            novelty = StateActionNovelty(self.observation_space, num_actions, rnd_hidden, rnd_output, scale_rate)
        initialise_module(reward_model, generator)
        initialise_module(novelty, generator)
        return nn.ModuleDict({"reward_model": reward_model, "novelty": novelty})

    def sample_batch(self) -> Batch:
        """Symmetric sampling (the online rows first, with ``n_step`` returns), the prior rows labelled by
        :meth:`label_batch` (one-step: a label is a step's, and a sum of labels along a dataset episode would need
        the model ``n`` times a row)."""
        online = self.replay.sample(self.batch_size - self.prior_rows, self.generator, self.n_step, self.gamma,
                                    self.num_envs)
        return self.label_batch(Batch.cat([online, self.prior_data.sample(self.prior_rows, self.generator)]))

    def extra_losses(self, batch: Batch, terms: UpdateTerms) -> dict[str, torch.Tensor]:
        """The reward model's regression and RND's predictor loss, both on the online rows."""
        online = ~batch.from_prior
        view, vitals, actions = batch.view[online], batch.vitals[online], batch.actions[online]
        predicted = self.extra["reward_model"](view, vitals, actions)
        return {"reward_model": 0.5 * ((predicted - batch.step_rewards[online]) ** 2).mean(),
                "rnd": self.extra["novelty"].error(view, actions).mean()}

    # ------------------------------------------------------------------ labels
    def reward_and_novelty(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """``r_hat(s, a)`` and the normalised novelty ``n(s, a)`` of every row (no gradient, no state change)."""
        with torch.no_grad():
            reward = self.extra["reward_model"](batch.view, batch.vitals, batch.actions)
            novelty = self.extra["novelty"]
            return reward, novelty.normalise(novelty.error(batch.view, batch.actions))

    def label_batch(self, batch: Batch) -> Batch:
        """The batch with its prior rows' rewards replaced by ``r_hat + bonus_scale * n`` (computed without
        gradient, from the current reward model and RND, after merging their novelty into the running scale);
        online rows keep their true rewards."""
        prior = batch.from_prior
        rows = Batch(**{name: value[prior] for name, value in vars(batch).items()})
        with torch.no_grad():
            novelty_model = self.extra["novelty"]
            error = novelty_model.error(rows.view, rows.actions)
            novelty_model.update_scale(error)
            novelty = novelty_model.normalise(error)
            reward = self.extra["reward_model"](rows.view, rows.vitals, rows.actions)
            rewards = batch.rewards.clone()
            rewards[prior] = reward + self.bonus_scale * novelty
        self.label_metrics = {"charts/prior_reward_hat": float(reward.mean()),
                              "charts/prior_novelty": float(novelty.mean()),
                              "charts/prior_label": float(rewards[prior].mean())}
        return replace(batch, rewards=rewards, step_rewards=torch.where(prior, rewards, batch.step_rewards))

    def update(self) -> None:
        """The core's update, with the last labels' means in :attr:`metrics`."""
        super().update()
        self.metrics.update(self.label_metrics)


register_agent("explore-v0", Explore, "ExPLORe (RLPD on reward-free prior data labelled with a learned reward "
               "model plus an RND novelty bonus)", num_envs=16)

