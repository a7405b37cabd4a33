"""RLPD (Ball et al. 2023, "Efficient Online Reinforcement Learning with Offline Data"), for discrete actions.

RLPD is off-the-shelf SAC made to use prior data well with three choices, kept here on a soft Q-learner:

* **symmetric sampling**: each batch is half online transitions (the replay buffer) and half prior
  transitions (the dataset), ``prior_fraction = 0.5``, so the prior data neither swamp the few online
  transitions early nor vanish later;
* **layer-normalised critics** (``Linear -> LayerNorm -> ReLU -> Linear``): LayerNorm bounds how far Q can
  extrapolate to actions the data do not cover, which is what makes learning from off-policy prior data stable
  without an explicit offline-RL penalty;
* **a large critic ensemble with in-target minimisation over a random subset** (REDQ: 10 critics, min over 2;
  here a subset of 1 by default, see below) and **several updates per environment step** (``updates_per_step``).

The learner and its objective are :class:`~openworld.agents.offpolicy.DiscreteSoftQ` (its docstring has the
formulas); this module only overrides :meth:`~openworld.agents.offpolicy.DiscreteSoftQ.sample_batch`. Without a
dataset, every batch is online and RLPD is the from-scratch off-policy baseline.

What differs from the paper: discrete actions, and no actor: the policy is the critics' Boltzmann
``softmax(mean_i Q_i / alpha)`` with the temperature set for an entropy of ``0.5 log 7`` (the core's docstring
says why: discrete SAC's policy head fell below random actions here); ``Dict`` observations through the shared
encoder trunk (one :class:`~openworld.agent.networks.ViewEncoder` under ten small critic heads, instead of ten
full critics, to be affordable on a CPU); reset-free (deaths are terminals, the NEXT_STEP autoreset step is never
sampled, the learning rate is constant); ``updates_per_step`` counts updates per *batched* step of all ``num_envs``
worlds (the paper's UTD of 20 is per single env step: ours is 1 per 16 transitions at the defaults, because
a CPU cannot afford more); the critics start at the value level of the first batch's reward rate; 10-step
returns, one random critic in the target and Adam 1e-3, which 2-seed diagnostics on Meadow favoured (the values
are in ``agents/rlpd.yaml`` and docs/agents.md). The dataset's rewards must be the world's reward as the run uses it
(``reward: alive`` for both by default); a reward-free dataset is refused (``explore`` is the agent for one).

Defaults: 16 worlds, batch 64, one update per batched step, 10 critics (one random critic in the target), buffer
100,000 transitions, learning from 2,000 stored transitions on, gamma 0.99, reward scale ``1 - gamma``, tau 0.005,
Adam 1e-3, 10-step returns (``n_step``).

Cost and learning (one CPU thread, the 2-core development machine, 2026-12-02): agent-steps per second in
docs/agents.md's throughput table (``benchmarks/agent_throughput.py``); the buffer is 32 MiB at capacity and a
checkpoint with it full 36 MB. On Meadow-v0 (5 seeds x 16 worlds x 12,000 steps, ``benchmarks/agent_evidence.py``)
it beats random actions from scratch: alive fraction 0.875 [0.865, 0.884] in the last quarter against 0.848
[0.834, 0.863]. With half of each batch from a 30%-random forager dataset it does not (0.855 [0.844, 0.863]): the
data slow it down rather than speed it up here.

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> from openworld.agent.protocol import make_agent
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> agent = make_agent("rlpd", envs.single_observation_space, envs.single_action_space, 2, seed=0)
    >>> agent.model.critics.out.weight.shape  # 10 critic heads of 7 actions on one trunk
    torch.Size([10, 64, 7])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gymnasium import spaces

from openworld.agents.offpolicy import Batch, DiscreteSoftQ, PriorBuffer, core_settings
from openworld.errors import DatasetError
from openworld.registry import register_agent


class RLPD(DiscreteSoftQ):
    """Discrete soft Q-learning with symmetric sampling of online and prior data (see the module docstring).

    Args:
        dataset: a local dataset id (``openworld collect``); ``None``: learn from scratch. Its rewards are used.
        prior_fraction: share of each batch drawn from the dataset.
        The other arguments are :class:`~openworld.agents.offpolicy.DiscreteSoftQ`'s.

    Raises:
        DatasetError: an unknown dataset, one of other spaces, or a reward-free one.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 dataset: str | None = None, prior_fraction: float = 0.5, learning_rate: float = 1e-3,
                 temperature_learning_rate: float = 3e-3,
                 batch_size: int = 64, buffer_capacity: int = 100_000, learning_starts: int = 2000,
                 updates_per_step: int = 1, gamma: float = 0.99, tau: float = 0.005, ensemble_size: int = 10,
                 target_subset: int = 1, init_temperature: float = 0.1, target_entropy_ratio: float = 0.5,
                 reward_scale: float | None = None, max_grad_norm: float = 10.0, embedding_dim: int = 4,
                 channels: int = 8, hidden_size: int = 128, critic_hidden_size: int = 64, n_step: int = 10,
                 diagnostics_every: int = 100, plasticity: Sequence[str | Mapping[str, Any]] | None = None) -> None:
        if not 0.0 <= prior_fraction < 1.0:
            raise ValueError(f"prior_fraction must lie in [0, 1), got {prior_fraction}")
        self.prior_fraction = float(prior_fraction)
        self.prior_data: PriorBuffer | None = None
        self.experience = {}
        if dataset is not None:
            # Loaded before any network is built: a bad dataset is refused before the lifetime starts.
            self.prior_data = PriorBuffer.load([str(dataset)], observation_space, action_space)
            if not self.prior_data.has_rewards:
                raise DatasetError(f"dataset {dataset} is reward-free (its rewards are NaN: a strip-rewards copy); "
                                   "rlpd learns from the dataset's rewards. Use agent=explore, which labels "
                                   "reward-free prior data with a learned reward model, or a dataset with rewards")
            (self.experience["dataset"],) = self.prior_data.experience()
        super().__init__(observation_space, action_space, num_envs, seed, **core_settings(locals()))

    def sample_batch(self) -> Batch:
        """Symmetric sampling: ``round(prior_fraction * batch_size)`` rows from the dataset, the rest online."""
        if self.prior_data is None:
            return super().sample_batch()
        from_prior = round(self.prior_fraction * self.batch_size)
        online = self.replay.sample(self.batch_size - from_prior, self.generator, self.n_step, self.gamma,
                                    self.num_envs)
        return Batch.cat([online, self.prior_data.sample(from_prior, self.generator, self.n_step, self.gamma)])


register_agent("rlpd-v0", RLPD, "RLPD (discrete soft Q-learning, LayerNorm critic ensemble, 50/50 online and prior "
               "data; from scratch without a dataset)", num_envs=16)
