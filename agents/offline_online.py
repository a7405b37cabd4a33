"""Offline, then online: discrete CQL with Cal-QL's calibration, pretrained on a dataset, fine-tuned in the world.

The lecture's recipe: learn offline from a large dataset of poor behaviour (the garbage heap), then keep
learning in the world with the same losses. The learner is :class:`~openworld.agents.offpolicy.DiscreteSoftQ`
(its docstring has the losses: soft TD targets over a random subset of the LayerNorm critic ensemble, the
critics' Boltzmann policy and the temperature loss); this module adds one ``extra_losses`` term, the conservative
penalty, and the two phases.

Objective (a batch of ``B`` rows ``(s, a, r, s', d)``, ``E`` critics ``Q_i``, ``A`` = the 7 actions):

* CQL(H) (Kumar et al. 2020, "Conservative Q-Learning for Offline Reinforcement Learning"), whose expectation
  over actions is exact for discrete actions (a log-sum-exp, no sampled actions)::

      L_CQL = cql_alpha * mean_i mean_batch [ log sum_a exp Q~_i(s, a) - Q_i(s, a_data) ]

  It pushes every action's value down (softly, the largest most) and the dataset's action up: the critics
  cannot overvalue actions the data never tried, which is what lets a soft Q-learner learn from a fixed dataset.
* Cal-QL (Nakamoto et al. 2023, "Cal-QL: Calibrated Offline RL Pre-Training for Efficient Online
  Fine-Tuning"): inside the log-sum-exp, ``Q~_i(s, a) = max(Q_i(s, a), V_mu(s))``, where ``V_mu(s)`` is the
  Monte-Carlo discounted return of the dataset's behaviour from ``s``. A value already below the behaviour's
  return is not pushed further down (its gradient is cut), so the pretrained critics stay conservative but
  *calibrated*: no lower than a policy known to reach ``V_mu``. Without it, CQL's values sit far below the
  true returns, and the first online updates spend themselves "unlearning" the pessimism (the dip at the
  start of fine-tuning that Cal-QL removes). ``calibrate=false`` is plain CQL (``Q~ = Q``).
* ``V_mu``, computed once at load from the dataset's rewards, per episode, with the agent's ``gamma`` and
  ``reward_scale`` (the units of Q): ``G_t = c r_t + gamma (1 - d_t) G_{t+1}``, ``G = 0`` after an episode's
  last step. An episode ends at a death (``d = 1``: the return is exact, as the critics' targets also stop
  there) or at a **cut** (``openworld collect``'s ``segment_steps``, or the end of the collection): the lifetime
  went on, so the sum misses the rest of it and ``V_mu`` is a **lower bound** of the behaviour's return there
  (for a non-negative reward such as ``reward: alive``; a cut ``k`` steps ahead loses at most
  ``gamma^k`` times the value there). A lower bound is what the calibration needs (Cal-QL's theory asks for
  ``V_mu <= V^mu``); it is merely looser near the cuts. The MC return has no entropy bonus, while the
  core's soft targets add ``-alpha log pi >= 0``: one more reason it sits below the soft values.
* **Online rows are not calibrated** (``V = -inf``: plain CQL there). A reset-free lifetime has no episode
  end, so an online row has no Monte-Carlo return: the sum over its future is never complete, and rows of the
  last hundred steps would have almost none of it. A bootstrapped estimate (``max_a Q'(s, a)`` or the soft
  value of the target critics) would make the floor the critics' own opinion, which the penalty would then
  protect from itself: the calibration's point is an *independent* reference value, which only the dataset
  has. So online rows get plain CQL's conservatism (their values are pushed down softly, never floored).

Phases: **offline**, ``offline_steps`` gradient steps on dataset-only batches, run lazily at the first
:meth:`act` (not in the constructor: building an agent stays cheap, and a resumed run finds
``offline_done`` in its state and does not pretrain again); its batches and the target subsets are drawn from
the agent's generator, so it is deterministic. **Online**: the same losses on batches of
``prior_fraction`` dataset rows and the rest online rows (Cal-QL fine-tunes with 50/50 mixing, as RLPD does);
``learning_starts`` counts valid online rows, as the core does.

Metrics: ``losses/cql_penalty`` (the weighted term), ``charts/calibrated_fraction`` (the share of the dataset
rows' ``Q_i(s, a)`` replaced by ``V_mu(s)``), ``charts/offline_phase`` (1 for an update of the offline phase, 0
online), ``charts/offline_updates``; with the core's losses.

What differs from the papers: discrete actions (the log-sum-exp over the 7 actions replaces CQL's importance-
sampled actions, and Cal-QL's clip applies to every action inside it); the core's shared encoder trunk under a
10-critic LayerNorm ensemble (the papers use separate full critics); ``Dict`` observations; reset-free (deaths are
terminals, the NEXT_STEP autoreset step is never sampled, constant learning rates, no MC returns online: see
above); CQL's weight is fixed (no Lagrangian ``alpha'``), and the TD target keeps the core's soft value.
The dataset's rewards must be the world's reward as the run uses it; a reward-free dataset is refused
(``explore`` labels those with a learned reward model).

Defaults: 16 worlds, batch 64, 10 critics with the target minimum over 2, buffer 100,000, learning online from
2,000 stored transitions, gamma 0.99, tau 0.005, Adam 3e-4, one-step returns (the core's settings as measured
here; rlpd's 1e-3, 10-step returns and single target critic were chosen without a CQL term), plus
``offline_steps`` 5,000, ``cql_alpha`` 1.0 (discrete CQL's weight on Atari), ``calibrate`` true, ``prior_fraction`` 0.5.

Cost (one torch thread on the shared 2-core development machine, load average 4 to 7 while measuring, so the
wall times are noisy; 2026-12-02): an update costs what an rlpd update does plus a log-sum-exp over ``(E, B, 7)``
values. On a forager dataset of 31,996 steps (``openworld collect world=meadow agent=forager steps=2000
num_envs=16``), loading it and its Monte-Carlo returns took 2 s of CPU; the offline phase at the defaults
took 6.7 to 8.4 ms of CPU an update: 4,000 updates in 27 s wall (a quieter moment), 5,000 in 42 s of CPU
(85 s wall at load 7). ``openworld run world=meadow agent=offline-online agent.dataset=<that> steps=3000
num_envs=16`` (48,000 agent-steps): 196 s wall, 85 s of user CPU, peak RSS 585 MB; rlpd on the same command:
75 s wall, 37 s of user CPU, 578 MB. So about 570 agent-steps per CPU second against rlpd's 1,300 on this
short run; the 5,000 offline updates (about 45 s of CPU) are nearly all of the difference, and on a longer
lifetime they are paid once.

Learning (``benchmarks/agent_evidence.py``: 5 seeds x 16 worlds x 12,000 steps of Meadow-v0, a forager dataset with
30% random actions, reward scale ``1 - gamma``): it beats random actions, alive fraction 0.904 [0.884, 0.918] in the
last quarter against 0.848 [0.834, 0.863], the best of the off-policy agents (rlpd on the same data: 0.855; the
timings above are of the core's first policy, a SAC head, whose online pass over ``s'`` the update no longer makes).

Example:
    >>> import numpy as np
    >>> # Two episodes: one ends at a death (step 2), one is cut after 2 steps (the lifetime went on).
    >>> returns = monte_carlo_returns(np.ones(5, np.float32), np.array([0, 0, 1, 0, 0], bool),
    ...                               np.array([3, 2]), gamma=0.5)
    >>> returns.tolist()  # 1 + 0.5 (1 + 0.5 * 1); the cut's 1 + 0.5 * 1 is a lower bound
    [1.75, 1.5, 1.0, 1.5, 1.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from openworld.agents.offpolicy import Batch, DiscreteSoftQ, PriorBuffer, UpdateTerms, core_settings
from openworld.errors import DatasetError, brief
from openworld.registry import register_agent

STATE_KEY = "offline_online"


def monte_carlo_returns(rewards: np.ndarray, terminations: np.ndarray, episode_lengths: np.ndarray,
                        gamma: float) -> np.ndarray:
    """The discounted return ``G_t = r_t + gamma (1 - d_t) G_{t+1}`` of every step, per episode (float32).

    ``G`` is 0 after an episode's last step: exact at a death, a lower bound at a cut (for non-negative
    rewards). Episodes are consecutive runs of ``episode_lengths`` steps.

    Raises:
        ValueError: when the lengths do not add up to the number of steps.
    """
    lengths = np.asarray(episode_lengths, np.int64)
    if int(lengths.sum()) != len(rewards) or len(terminations) != len(rewards) or (lengths < 0).any():
        raise ValueError(f"episode lengths adding up to {int(lengths.sum())} for {len(rewards)} rewards and "
                         f"{len(terminations)} terminations")
    # Plain Python floats: a backward scan has no vector form, and lists are ~10x faster than NumPy scalars.
    reward = np.asarray(rewards, np.float64).tolist()
    alive = (~np.asarray(terminations, bool)).tolist()
    returns = [0.0] * len(reward)
    end = 0
    for length in lengths.tolist():
        start, end = end, end + length
        following = 0.0
        for t in range(end - 1, start - 1, -1):
            following = reward[t] + (gamma * following if alive[t] else 0.0)
            returns[t] = following
    return np.asarray(returns, np.float32)


@dataclass
class CalibratedBatch(Batch):
    """A :class:`~openworld.agents.offpolicy.Batch` with each row's calibration value.

    Attributes:
        values: ``(B,)`` ``V_mu(s)`` of a dataset row (in Q's units), ``-inf`` for an online row (no floor).
    """

    values: torch.Tensor


class OfflineOnline(DiscreteSoftQ):
    """Discrete soft Q-learning + the (calibrated) CQL penalty, pretrained offline then fine-tuned (see the module
    docstring).

    Args:
        dataset: a local dataset id (``openworld collect``) with rewards: the offline data, and the prior
            share of every online batch. Required.
        offline_steps: gradient steps on dataset-only batches before the first online action.
        cql_alpha: weight of the CQL penalty (offline and online).
        calibrate: Cal-QL's floor ``max(Q, V_mu)`` inside the log-sum-exp; false: plain CQL.
        prior_fraction: share of each online-phase batch drawn from the dataset.
        The other arguments are :class:`~openworld.agents.offpolicy.DiscreteSoftQ`'s.

    Raises:
        DatasetError: no dataset, an unknown one, one of other spaces, or a reward-free one (before anything
            is built, so before the lifetime starts).
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 dataset: str, offline_steps: int = 5000, cql_alpha: float = 1.0, calibrate: bool = True,
                 prior_fraction: float = 0.5, learning_rate: float = 3e-4, temperature_learning_rate: float = 3e-3,
                 batch_size: int = 64, buffer_capacity: int = 100_000, learning_starts: int = 2000,
                 updates_per_step: int = 1, gamma: float = 0.99, tau: float = 0.005, ensemble_size: int = 10,
                 target_subset: int = 2, init_temperature: float = 0.1, target_entropy_ratio: float = 0.5,
                 reward_scale: float | None = None, max_grad_norm: float = 10.0, embedding_dim: int = 4,
                 channels: int = 8, hidden_size: int = 128, critic_hidden_size: int = 64,
                 diagnostics_every: int = 100, plasticity: Sequence[str | Mapping[str, Any]] | None = None) -> None:
        if dataset is None or not str(dataset).strip():
            raise DatasetError("offline-online learns offline from a dataset before it acts, then fine-tunes on it: "
                               "give agent.dataset=<id> (made by openworld collect; openworld datasets lists "
                               "them). agent=rlpd learns from scratch without one")
        if isinstance(offline_steps, bool) or not isinstance(offline_steps, int) or offline_steps < 0:
            raise ValueError(f"offline_steps must be an integer >= 0, got {brief(offline_steps)}")
        if not cql_alpha >= 0.0:
            raise ValueError(f"cql_alpha must be >= 0, got {brief(cql_alpha)}")
        if not 0.0 <= prior_fraction < 1.0:
            raise ValueError(f"prior_fraction must lie in [0, 1), got {brief(prior_fraction)}")
        self.offline_steps, self.cql_alpha = int(offline_steps), float(cql_alpha)
        self.calibrate, self.prior_fraction = bool(calibrate), float(prior_fraction)
        # Loaded before any network is built: a bad dataset is refused before the lifetime starts.
        self.prior_data = PriorBuffer.load([str(dataset)], observation_space, action_space)
        if not self.prior_data.has_rewards:
            raise DatasetError(f"dataset {dataset} is reward-free (its rewards are NaN: a strip-rewards copy); "
                               "offline-online learns from the dataset's rewards and calibrates with their returns. "
                               "Use agent=explore, which labels reward-free prior data with a learned reward "
                               "model, or a dataset with rewards")
        self.experience = {}
        (self.experience["dataset"],) = self.prior_data.experience()
        data = self.prior_data.data
        # V_mu in Q's units (the targets use reward_scale * r); a fixed function of the dataset and the settings,
        # so not in the state: a resume reloads the dataset (its card hash is in experience) and recomputes it.
        scale = 1.0 - float(gamma) if reward_scale is None else float(reward_scale)  # as DiscreteSoftQ resolves it
        self.behaviour_values = torch.from_numpy(
            monte_carlo_returns(scale * data.rewards, data.terminations, data.episode_lengths, float(gamma)))
        self.offline_done = False  # the offline phase has run (part of the state: a resume does not repeat it)
        self.offline_updates = 0
        self._offline_phase = False  # an update of the offline phase is running: dataset-only batches
        self._term_metrics: dict[str, float] = {}
        super().__init__(observation_space, action_space, num_envs, seed, **core_settings(locals()))

    # ------------------------------------------------------------------ phases
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Sample actions; the first call runs the offline phase first (once per lifetime, resumes included)."""
        if not self.offline_done:
            self.pretrain()
        return super().act(obs)

    def pretrain(self) -> None:
        """The offline phase: the remaining of ``offline_steps`` updates on dataset-only batches."""
        self._offline_phase = True
        try:
            while self.offline_updates < self.offline_steps:
                self.update()
                self.offline_updates += 1
        finally:
            self._offline_phase = False
        self.offline_done = True

    # ------------------------------------------------------------------ hooks
    def sample_batch(self) -> CalibratedBatch:
        """Dataset rows only in the offline phase; then ``round(prior_fraction * batch_size)`` of them, the rest
        online (online rows first, as rlpd's). Each dataset row carries its ``V_mu``, each online row ``-inf``."""
        from_prior = self.batch_size if self._offline_phase else round(self.prior_fraction * self.batch_size)
        parts: list[Batch] = []
        if from_prior < self.batch_size:
            parts.append(self.replay.sample(self.batch_size - from_prior, self.generator))
        steps = torch.randint(self.prior_data.num_steps, (from_prior,), generator=self.generator)
        parts.append(self.prior_data.batch(steps))
        batch = Batch.cat(parts)
        values = torch.cat([torch.full((self.batch_size - from_prior,), -torch.inf), self.behaviour_values[steps]])
        return CalibratedBatch(**{f.name: getattr(batch, f.name) for f in fields(Batch)}, values=values)

    def extra_losses(self, batch: Batch, terms: UpdateTerms) -> dict[str, torch.Tensor]:
        """The CQL(H) penalty, with Cal-QL's floor on the dataset rows when ``calibrate``."""
        penalty, calibrated = cql_penalty(terms.q_values, terms.q_taken,
                                          batch.values if self.calibrate and isinstance(batch, CalibratedBatch)
                                          else None)
        prior_rows = batch.from_prior
        self._term_metrics = {
            "charts/calibrated_fraction": float(calibrated[:, prior_rows].float().mean()) if prior_rows.any() else 0.0,
            "charts/offline_phase": float(self._offline_phase),
        }
        return {"cql_penalty": self.cql_alpha * penalty}

    def update(self) -> None:
        """The core's update; its metrics gain the penalty's diagnostics and the phase."""
        super().update()
        self.metrics.update(self._term_metrics)
        self.metrics["charts/offline_updates"] = float(self.offline_updates + self._offline_phase)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The core's state and the phase (``offline_done``, offline updates made)."""
        state = super().state_dict()
        state[STATE_KEY] = {"offline_done": self.offline_done, "offline_updates": self.offline_updates}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; a state saved after the offline phase does not run it again.

        Raises:
            ValueError: a state without the phase (another agent's), or the core's refusals.
        """
        if STATE_KEY not in state:
            raise ValueError("this state holds no offline/online phase: it is not an offline-online agent's")
        super().load_state_dict(state)
        self.offline_done = bool(state[STATE_KEY]["offline_done"])
        self.offline_updates = int(state[STATE_KEY]["offline_updates"])


def cql_penalty(q_values: torch.Tensor, q_taken: torch.Tensor,
                floor: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean_i mean_batch [logsumexp_a max(Q_i(s, a), V(s)) - Q_i(s, a_data)]`` (unweighted).

    Args:
        q_values: ``(E, B, A)`` the critics' values at ``s``.
        q_taken: ``(E, B)`` at the actions taken.
        floor: ``(B,)`` the calibration values ``V(s)`` (``-inf``: none); None: plain CQL.

    Returns:
        The penalty (a scalar) and the ``(E, B, A)`` mask of the values the floor replaced.
    """
    if floor is None:
        return (torch.logsumexp(q_values, 2) - q_taken).mean(), torch.zeros_like(q_values, dtype=torch.bool)
    floor = floor.to(q_values.dtype).view(1, -1, 1)
    calibrated = q_values.detach() < floor
    # torch.where, not torch.maximum: a replaced value gets no gradient at all (maximum splits it at ties).
    floored = torch.where(calibrated, floor.expand_as(q_values), q_values)
    return (torch.logsumexp(floored, 2) - q_taken).mean(), calibrated


register_agent("offline-online-v0", OfflineOnline, "Cal-QL: discrete CQL with calibrated values, pretrained on a "
               "dataset, then fine-tuned online on 50/50 batches", num_envs=16)
