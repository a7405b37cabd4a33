"""DIAYN: skills discovered by making them distinguishable from the states they reach (``diayn-v0``).

Eysenbach, Gupta, Ibarz, Levine, "Diversity is All You Need: Learning Skills without a Reward Function", ICLR 2019
(arXiv:1802.06070). The skills maximise the mutual information ``I(S; Z)`` between states and skills (with a
maximum-entropy policy): a discriminator ``q(z | s)`` learns to tell the skill from the state it led to, and the
policy is rewarded for reaching states where it can:

* discriminator: ``L_q = -E[log q(z | s')]`` over the rollout's valid transitions (cross-entropy, ``K`` logits from a
  :class:`~openworld.agent.networks.ViewEncoder` of the next observation);
* reward: ``r(s, z, s') = log q(z | s') - log p(z)`` with ``p`` uniform (``log p(z) = -log K``), so a skill the
  discriminator cannot tell apart earns about 0 and a recognised one up to ``log K``;
* the skill policy ``pi(a | s, z)`` maximises it with PPO and an entropy bonus (the paper uses SAC, whose entropy
  term plays the same part), as :mod:`openworld.priors.skill_discovery` describes.

What differs here: discrete actions (PPO instead of SAC); ``Dict(view, vitals)`` egocentric observations, so ``q``
reads what the body sees and feels, never its position (skills that reach different places are only told apart
through what those places look like, and skills that face different ways through the body's own sprite); the world
is reset-free, so skills are resampled every ``skill_steps`` steps and at each respawn instead of per episode, a
death is a terminal, and the transition across a respawn is excluded from both losses. The discriminator is trained
on a replay of the last few rollouts (:mod:`openworld.priors.skill_discovery` says why), not the paper's large buffer.

Determinism and costs: see :mod:`openworld.priors.skill_discovery`.

Example:
    >>> import gymnasium as gym
    >>> import torch
    >>> import openworld
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> prior = DIAYN(envs.single_observation_space, envs.single_action_space, seed=0, num_skills=4)
    >>> result = prior.fit_online(envs, 32, 0, lambda *args: None, {"rollout_steps": 16, "skill_steps": 8})
    >>> sorted(key for key in result.metrics if key.startswith("coverage/"))
    ['coverage/cells', 'coverage/cells_per_skill', 'coverage/skill_distance']
"""

from __future__ import annotations

import torch
from torch import nn

from openworld.agent.losses import masked_mean
from openworld.prior.base import Observations
from openworld.priors.skill_discovery import Batch, SkillDiscovery, uniform_log_prior
from openworld.registry import register_prior


class Discriminator(nn.Module):
    """``q(z | s)``: a :class:`~openworld.agent.networks.ViewEncoder` and a linear layer to ``K`` logits."""

    def __init__(self, encoder: nn.Module, hidden_size: int, num_skills: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(hidden_size, num_skills)

    def forward(self, view: torch.Tensor, vitals: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)``."""
        return self.head(self.encoder(view, vitals))  # type: ignore[no-any-return]


class DIAYN(SkillDiscovery):
    """DIAYN skill library: ``pi(a | s, z)`` and the discriminator ``q(z | s')`` (module docstring).

    Args: as :class:`~openworld.priors.skill_discovery.SkillDiscovery`.
    """

    name = "diayn-v0"

    def build_representation(self) -> nn.Module:
        return Discriminator(self.encoder(), self.hidden_size, self.num_skills)

    def skill_logits(self, obs: Observations) -> torch.Tensor:
        """The discriminator's logits ``(N, K)`` of ``q(z | s)``."""
        return self.representation(obs["view"], obs["vitals"])  # type: ignore[no-any-return]

    def representation_loss(self, batch: Batch, mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.representation(batch["next_view"], batch["next_vitals"])
        target = batch["skill"].argmax(1)
        loss = masked_mean(nn.functional.cross_entropy(logits, target, reduction="none"), mask)
        accuracy = masked_mean((logits.argmax(1) == target).float(), mask)
        return loss, {"train/discriminator_loss": float(loss.detach()), "train/discriminator_accuracy": float(accuracy)}

    def intrinsic_rewards(self, batch: Batch) -> torch.Tensor:
        log_q = torch.log_softmax(self.representation(batch["next_view"], batch["next_vitals"]), 1)
        return (log_q * batch["skill"]).sum(1) - uniform_log_prior(self.num_skills)

    def predict_skills(self, start: Observations, next_obs: Observations) -> torch.Tensor:
        return self.skill_logits(next_obs).argmax(1)


register_prior("diayn-v0", DIAYN, "DIAYN: discrete skills made distinguishable by a discriminator q(z | s'), online",
               training="online")
