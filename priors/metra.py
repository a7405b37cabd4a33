"""METRA: skills that move far in a temporal-distance-aware latent space (``metra-v0``).

Park, Rybkin, Levine, "METRA: Scalable Unsupervised RL with Metric-Aware Abstraction", ICLR 2024 (arXiv:2310.08887).

Why METRA beside DIAYN (issue 15 asks for a coverage-seeking method; URLB ranks mutual-information skill methods
such as DIAYN below coverage methods): DIAYN's reward is satisfied as soon as skills are *distinguishable*, and the
easiest distinctions are small (facing another way, standing on another tile), so nothing pushes a skill to go far.
METRA replaces the KL divergence in ``I(S; Z)`` by the Wasserstein dependency measure under the *temporal* distance:
it learns ``phi(s)`` in which one world step moves at most one unit, and rewards each skill for moving as far as it
can along its own direction ``z``. Because a unit of ``phi`` costs at least one step, the only way to earn more is to
reach states that are many steps away, so skills spread out over the world rather than merely being told apart.
(CIC, the other candidate named by the issue, is a contrastive mutual-information bound with a particle entropy
bonus; METRA needs no second estimator and its objective is a plain Lagrangian, which suits on-policy PPO here.)

Objective (the paper's eq. 8, 9 and its code's dual):

* representation: ``max_phi E[(phi(s') - phi(s))^T z] + lambda * min(eps, 1 - ||phi(s) - phi(s')||^2)`` over
  consecutive states, i.e. ``max (phi(s') - phi(s))^T z`` subject to ``||phi(s) - phi(s')||_2 <= 1``;
* dual: ``min_{log lambda} log lambda * E[min(eps, 1 - ||phi(s) - phi(s')||^2)]`` (``lambda`` grows while the
  constraint is violated on average and shrinks, down to the slack ``eps``, while it holds);
* reward: ``r(s, z, s') = (phi(s') - phi(s))^T z``, maximised by the skill policy with PPO
  (:mod:`openworld.priors.skill_discovery`).

Skills: discrete, as the paper's discrete-skill variant: ``phi`` has ``D = K`` dimensions and skill ``k`` is the
zero-centred one-hot ``z_k = K / (K - 1) * (e_k - 1 / K)`` (1 on its own axis, ``-1 / (K - 1)`` elsewhere), so the
``K`` skill directions have equal pairwise angles and sum to zero: moving along one skill is moving away from the
others. The policy itself reads the plain one-hot (``skill_dim = K``); the centring is internal to the objective.
Continuous skills would need a chosen ``D`` and a sampler; discrete ones keep the library comparable with DIAYN's
(same ``sample_skill``, same measurement).

What differs here: discrete actions (PPO instead of SAC); ``Dict(view, vitals)`` egocentric observations, so ``phi``
reads what the body sees and feels, never its position (temporal distance is learned from the views alone); the
world is reset-free: skills are resampled every ``skill_steps`` steps and at each respawn, a death is a terminal,
and the transition across a respawn (the autoreset step) is excluded from every loss, the constraint's included:
the respawned body is not one step away. ``phi`` is trained on a replay of the last few rollouts
(:mod:`openworld.priors.skill_discovery`), not the paper's large buffer.

``val/discriminator_accuracy`` for METRA: ``phi`` has no classifier, so the skill read off a state is the skill
whose direction best matches the displacement since the skill started, ``argmax_k (phi(s') - phi(s_0))^T z_k``
(``q(z | s) proportional to exp`` of the METRA objective): the skills are told apart by where they went.
``val/phi_distance`` is the mean ``||phi(s') - phi(s)||`` of the measurement's steps (the constraint: about 1 or less).

Determinism and costs: see :mod:`openworld.priors.skill_discovery`.

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> prior = METRA(envs.single_observation_space, envs.single_action_space, seed=0, num_skills=4)
    >>> result = prior.fit_online(envs, 32, 0, lambda *args: None, {"rollout_steps": 16, "skill_steps": 8})
    >>> "val/phi_distance" in result.metrics
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import nn

from openworld.agent.losses import masked_mean
from openworld.prior.base import Observations
from openworld.priors.skill_discovery import Batch, SkillDiscovery, SkillSettings
from openworld.registry import register_prior


class Representation(nn.Module):
    """``phi(s)`` in ``R^D``: a :class:`~openworld.agent.networks.ViewEncoder` and a linear layer."""

    def __init__(self, encoder: nn.Module, hidden_size: int, dimension: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(hidden_size, dimension)

    def forward(self, view: torch.Tensor, vitals: torch.Tensor) -> torch.Tensor:
        """``phi(s)`` ``(N, D)``."""
        return self.head(self.encoder(view, vitals))  # type: ignore[no-any-return]


class METRA(SkillDiscovery):
    """METRA skill library: ``pi(a | s, z)`` and the representation ``phi(s)`` (module docstring).

    Args: as :class:`~openworld.priors.skill_discovery.SkillDiscovery` (``phi`` has ``num_skills`` dimensions).

    Training settings beyond the shared ones: ``dual_learning_rate`` (Adam step size of ``log lambda``),
    ``initial_dual`` (``lambda`` at the start: 30, the paper's), ``dual_slack`` (``eps``: 1e-3, the paper's).
    """

    name = "metra-v0"
    extra_settings: ClassVar[dict[str, float]] = {"dual_learning_rate": 1e-3, "initial_dual": 30.0,
                                                  "dual_slack": 1e-3}

    def build_representation(self) -> nn.Module:
        return Representation(self.encoder(), self.hidden_size, self.num_skills)

    def phi(self, obs: Observations) -> torch.Tensor:
        """``phi(s)`` ``(N, K)``."""
        return self.representation(obs["view"], obs["vitals"])  # type: ignore[no-any-return]

    def skill_directions(self, skill: torch.Tensor) -> torch.Tensor:
        """The zero-centred skill vectors ``K / (K - 1) * (z - 1 / K)`` of one-hot rows ``z`` ``(N, K)``."""
        K = self.num_skills
        return (skill - 1.0 / K) * (K / (K - 1))

    def representation_optimisers(self, settings: SkillSettings,
                                  extras: Mapping[str, float]) -> list[torch.optim.Optimizer]:
        # lambda is training state, not part of the library: it lives for one fit_online call.
        self.log_dual = torch.tensor(math.log(extras["initial_dual"]), requires_grad=True)
        self.dual_slack = float(extras["dual_slack"])
        return [*super().representation_optimisers(settings, extras),
                torch.optim.Adam([self.log_dual], lr=extras["dual_learning_rate"])]

    def representation_loss(self, batch: Batch, mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        step = (self.representation(batch["next_view"], batch["next_vitals"])
                - self.representation(batch["view"], batch["vitals"]))
        objective = (step * self.skill_directions(batch["skill"])).sum(1)
        squared = (step ** 2).sum(1)
        penalty = torch.clamp(1.0 - squared, max=self.dual_slack)
        dual = self.log_dual.exp().detach()
        loss = -masked_mean(objective + dual * penalty, mask)
        dual_loss = self.log_dual * masked_mean(penalty.detach(), mask)
        return loss + dual_loss, {"train/metra_objective": float(masked_mean(objective.detach(), mask)),
                                  "train/phi_distance": float(masked_mean(squared.detach().sqrt(), mask)),
                                  "train/dual": float(dual)}

    def intrinsic_rewards(self, batch: Batch) -> torch.Tensor:
        step = (self.representation(batch["next_view"], batch["next_vitals"])
                - self.representation(batch["view"], batch["vitals"]))
        return (step * self.skill_directions(batch["skill"])).sum(1)

    def predict_skills(self, start: Observations, next_obs: Observations) -> torch.Tensor:
        # argmax_k (phi(s') - phi(s_0))^T z_k is argmax_k of the displacement's k-th coordinate (z_k is centred).
        return (self.phi(next_obs) - self.phi(start)).argmax(1)

    def step_figures(self, obs: Observations, next_obs: Observations) -> dict[str, torch.Tensor]:
        return {"val/phi_distance": (self.phi(next_obs) - self.phi(obs)).norm(dim=1)}


register_prior("metra-v0", METRA, "METRA: discrete skills that move far in a temporal-distance latent phi(s), online",
               training="online")
