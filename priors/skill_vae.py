"""A skill prior learned offline: a VAE over ``H``-step chunks of actions with a closed-loop decoder and a
learned, state-conditioned prior over skills (after SPiRL).

Paper:
    K. Pertsch, Y. Lee, J. J. Lim, "Accelerating Reinforcement Learning with Learned Skill Priors", CoRL 2020
    (SPiRL); the closed-loop decoder as in its follow-up, SkiLD (Pertsch et al., "Demonstration-Guided
    Reinforcement Learning with Learned Skills", CoRL 2021).

Model, for a chunk of steps ``t .. t+H-1`` (states ``s_k``, actions ``a_k``):
    * posterior ``q(z | s_t..s_{t+H-1}, a_t..a_{t+H-1})``: each step's features ``[f(s_k), e(a_k)]`` (the shared
      :class:`~openworld.agent.networks.ViewEncoder` ``f`` and an action embedding ``e``) run through a GRU;
      its last state gives the latent's parameters. A GRU, not mean pooling: a skill is an *ordered* sequence
      ("east three steps, then north" is not "north, then east three steps"), and pooling cannot tell those
      apart; the GRU costs ``H`` small sequential steps, far less than the ``H`` encoder passes it reads.
    * closed-loop decoder ``pi(a_k | s_k, z)`` for every step of the chunk: ``[f(s_k), z]`` -> MLP -> logits.
      It sees the current state, so a skill reacts to the world (steps around a wall) instead of replaying
      ``H`` actions blindly. The decoder shares ``f`` with the posterior (the ``H`` states are encoded once).
    * skill prior ``p(z | s_t)`` from the chunk's first state: its own encoder ``g`` -> MLP -> the latent's
      parameters. It has its own encoder because it is trained only to match the (stop-gradiented) posterior,
      and must not pull the decoder's features towards its own task.

Objective (per chunk; the loss is its mean over the minibatch)::

    L = sum_{k=t}^{t+H-1} -log pi(a_k | s_k, z),  z ~ q(z | s_{t:t+H}, a_{t:t+H})     (reconstruction NLL)
        + beta * KL(q(z | ...) || p0(z))                                               (regulariser)
        + KL(sg(q(z | ...)) || p(z | s_t))                                             (skill prior)

with ``sg`` the stop-gradient (as SPiRL: the prior follows the posterior, never the reverse). Two latents:
    * ``latent: continuous``: ``q = N(mu, diag(sigma^2))`` over ``skill_dim`` dims, reparameterised
      (``z = mu + sigma * eps``); ``p0 = N(0, I)``; ``p(z | s)`` a diagonal Gaussian; both KLs analytic.
    * ``latent: discrete``: ``q = Cat(softmax(l))`` over ``num_skills`` codes; ``z`` is the one-hot row of a
      straight-through Gumbel-softmax sample (forward: the hard one-hot; backward: the gradient of the
      tempered softmax), ``p0`` uniform, ``p(k | s)`` categorical; KLs analytic
      (``KL(q || U) = sum q log q + log K``). Gumbel-softmax rather than VQ: it keeps a posterior
      *distribution*, so both KL terms are the ones above and ``p(k | s)`` is fitted to ``q``'s
      probabilities, not to a single nearest code; VQ's deterministic encoder would make ``beta * KL`` a
      constant and needs codebook and commitment losses besides. ``skill_dim == num_skills`` then.

Validation (``evaluate``, no sampling): the posterior's mean (continuous) or most likely code (discrete) is
decoded; ``val/reconstruction_accuracy`` is the decoder's argmax against the chunk's actions, and
``val/marginal_accuracy`` the accuracy of always predicting the validation actions' most frequent action (the
baseline a skill must beat; slightly optimistic, since it is read off the validation data itself).

What differs from SPiRL:
    * discrete actions: a categorical decoder (SPiRL's actions are continuous, its decoder Gaussian/MSE);
    * Dict observations: the shared ``ViewEncoder`` (view codes and vitals) instead of state vectors or images;
    * reset-free data: chunks lie inside one segment of a lifetime (:meth:`TransitionData.chunk_starts`); a
      segment ends at a death (terminated) or a cut (truncated), so a chunk never spans a respawn;
    * the closed-loop decoder of the follow-up work (SPiRL's original decoder sees only ``z``).

Determinism: the modules are built inside ``torch.random.fork_rng`` and re-initialised from
``seeded_generator(seed)``; the reparameterisation noise and Gumbel noise come from the generator
:func:`~openworld.prior.fitting.fit_offline` passes to :meth:`SkillVAE.loss`, and :meth:`SkillVAE.sample_skill`
draws only from the generator it is given.

Costs (one CPU thread, default sizes, batch 256 chunks of H = 10, measured on the 2-core development machine
while other jobs shared it): an update encodes ``256 * 10`` states for the posterior and decoder and 256 more
for the prior, and takes 160 to 220 ms: about 1,100 to 1,600 chunks (11,000 to 16,000 transitions) per
second, for either latent. As for PPO, the encoder's convolutions and their backward pass dominate; the GRU
over 10 steps and the decoder's MLP are small beside them. Chunks overlap (one starts at every step), so an
epoch sees each transition up to H times.

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> from openworld.prior.base import seeded_generator
    >>> env = gym.make("openworld/Meadow-v0")
    >>> prior = SkillVAE(env.observation_space, env.action_space, seed=0, latent="discrete", num_skills=4)
    >>> obs = {key: torch.as_tensor(value)[None] for key, value in env.observation_space.sample().items()}
    >>> skill = prior.sample_skill(obs, seeded_generator(0))
    >>> skill.shape, float(skill.sum()), prior.action_logits(obs, skill).shape
    (torch.Size([1, 4]), 1.0, torch.Size([1, 7]))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from openworld.agent.networks import ViewEncoder, initialise_module
from openworld.errors import PriorError, brief
from openworld.prior.base import Observations, Prior, seeded_generator
from openworld.prior.transitions import TransitionData
from openworld.registry import register_prior

LATENTS = ("continuous", "discrete")
# The posterior's and prior's log standard deviations are clamped: exp(-7) keeps the KL finite when a
# posterior becomes nearly certain, exp(2) keeps an untrained prior's samples within a sane range.
LOG_STD_MIN, LOG_STD_MAX = -7.0, 2.0
EVAL_BATCH = 512  # validation chunks per forward pass: bounds memory (512 * H views) without slowing it


class SkillVAE(Prior):
    """A VAE over ``horizon``-step action chunks with a closed-loop decoder and a learned skill prior
    ``p(z | s)`` (see the module docstring for the objective).

    Early stopping watches ``val/vae_loss`` (reconstruction NLL + ``beta`` KL to ``p0``: the VAE's own
    objective), not ``val/loss``, which adds the prior's KL: most of an informative posterior cannot be
    predicted from the first state, so that sum is lowest while the latent is still uninformative, and early
    stopping would keep such a model (measured: the first validation scored best in every run).

    Args:
        observation_space: openworld's ``Dict(view, vitals)`` space.
        action_space: a ``Discrete`` space.
        seed: seeds the initial weights.
        horizon: ``H``, the steps of a skill (the chunk length).
        latent: ``continuous`` (a diagonal Gaussian z of ``skill_dim`` dims) or ``discrete`` (one of
            ``num_skills`` codes, handed around as a one-hot row).
        skill_dim: dims of the continuous latent (unused by the discrete one).
        num_skills: codes of the discrete latent (unused by the continuous one).
        beta: weight of ``KL(q || p0)``.
        embedding_dim: embedding width per view channel (the encoder's).
        channels: convolution channels of the encoders.
        hidden_size: width of the encoders' features, the GRU and the MLPs.
        temperature: the Gumbel-softmax temperature of the discrete latent (its backward pass only).
    """

    monitor = "val/vae_loss"

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, seed: int = 0,
                 horizon: int = 10, latent: str = "continuous", skill_dim: int = 8, num_skills: int = 16,
                 beta: float = 0.01, embedding_dim: int = 4, channels: int = 16, hidden_size: int = 128,
                 temperature: float = 1.0) -> None:
        super().__init__(observation_space, action_space)
        if latent not in LATENTS:
            raise PriorError(f"skill-vae: latent must be one of {', '.join(LATENTS)}, got {brief(latent)}")
        for name, value in (("horizon", horizon), ("skill_dim", skill_dim), ("num_skills", num_skills),
                            ("embedding_dim", embedding_dim), ("channels", channels), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PriorError(f"skill-vae: {name} must be an integer >= 1, got {brief(value)}")
        if latent == "discrete" and num_skills < 2:
            raise PriorError(f"skill-vae: a discrete latent needs num_skills >= 2, got {num_skills}")
        if not beta >= 0.0 or not temperature > 0.0:
            raise PriorError(f"skill-vae: beta must be >= 0 and temperature > 0, got {brief(beta)} and "
                             f"{brief(temperature)}")
        self.settings: dict[str, Any] = {
            "horizon": int(horizon), "latent": str(latent), "skill_dim": int(skill_dim),
            "num_skills": int(num_skills), "beta": float(beta), "embedding_dim": int(embedding_dim),
            "channels": int(channels), "hidden_size": int(hidden_size), "temperature": float(temperature)}
        self.horizon, self.beta, self.temperature = int(horizon), float(beta), float(temperature)
        self.skill_kind = "continuous" if latent == "continuous" else "discrete"
        self.skill_dim = int(skill_dim) if latent == "continuous" else int(num_skills)
        # Parameters of a latent: (mean, log std) per dim, or one logit per code.
        latent_params = 2 * self.skill_dim if self.skill_kind == "continuous" else self.skill_dim

        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG: contain it
            self.encoder = ViewEncoder.for_space(observation_space, embedding_dim, channels, hidden_size)
            self.action_embedding = nn.Embedding(self.num_actions, hidden_size // 4 or 1)
            self.posterior_rnn = nn.GRU(hidden_size + self.action_embedding.embedding_dim, hidden_size,
                                        batch_first=True)
            self.posterior_head = nn.Linear(hidden_size, latent_params)
            self.decoder = nn.Sequential(nn.Linear(hidden_size + self.skill_dim, hidden_size), nn.ReLU(),
                                         nn.Linear(hidden_size, self.num_actions))
            self.prior_encoder = ViewEncoder.for_space(observation_space, embedding_dim, channels, hidden_size)
            self.prior_head = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.ReLU(),
                                            nn.Linear(hidden_size, latent_params))
        generator = seeded_generator(seed)
        initialise_module(self, generator)
        bound = 1.0 / math.sqrt(hidden_size)  # the GRU's own uniform scheme (as initialise_module's GRUCell)
        for parameter in self.posterior_rnn.parameters():
            nn.init.uniform_(parameter, -bound, bound, generator=generator)
        # Small output layers: the decoder starts near uniform, the latents near N(0, I) / uniform.
        for head in (self.posterior_head, self.decoder[-1], self.prior_head[-1]):
            assert isinstance(head, nn.Linear)
            nn.init.orthogonal_(head.weight, 0.01, generator=generator)

    # ------------------------------------------------------------------------------------------ what agents read
    def config(self) -> dict[str, Any]:
        return dict(self.settings)

    def action_logits(self, obs: Observations, skill: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder ``pi(a | s, z)``: logits ``(N, A)`` for observations ``obs`` and skills ``(N, skill_dim)``."""
        if skill is None or skill.dim() != 2 or skill.shape[1] != self.skill_dim:
            raise PriorError(f"skill-vae: action_logits needs skills of shape (N, {self.skill_dim}), got "
                             f"{None if skill is None else tuple(skill.shape)}")
        return self._decode(self.encoder(obs["view"], obs["vitals"]), skill)

    def sample_skill(self, obs: Observations, generator: torch.Generator) -> torch.Tensor:
        """Skills ``z ~ p(z | s)`` ``(N, skill_dim)``: Gaussian draws, or one-hot rows of categorical draws."""
        params = self._prior_params(obs)
        if self.skill_kind == "continuous":
            mean, log_std = self._split(params)
            noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
            return mean + log_std.exp() * noise
        codes = torch.multinomial(torch.softmax(params, 1), 1, generator=generator).squeeze(1)
        return nn.functional.one_hot(codes, self.skill_dim).to(params.dtype)

    # ------------------------------------------------------------------------------------------ learning offline
    def examples(self, data: TransitionData) -> np.ndarray:
        """The first steps of every ``horizon``-step chunk inside one segment."""
        return data.chunk_starts(self.horizon)

    def loss(self, data: TransitionData, examples: np.ndarray,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """Reconstruction NLL (summed over the chunk) + beta KL(q || p0) + KL(sg(q) || p), mean over chunks."""
        features, actions, prior_params = self._chunks(data, examples)
        posterior = self._posterior_params(features, actions)
        if self.skill_kind == "continuous":
            mean, log_std = self._split(posterior)
            noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
            skill = mean + log_std.exp() * noise
        else:
            uniform = torch.rand(posterior.shape, generator=generator, dtype=posterior.dtype)
            gumbel = -torch.log(-torch.log(uniform.clamp(1e-10, 1.0 - 1e-7)))
            soft = torch.softmax((posterior + gumbel) / self.temperature, 1)
            hard = nn.functional.one_hot(soft.argmax(1), self.skill_dim).to(soft.dtype)
            skill = hard + soft - soft.detach()  # straight-through: the one-hot forward, the softmax's gradient
        logits = self._decode_chunk(features, skill)
        nll = nn.functional.cross_entropy(logits.flatten(0, 1), actions.flatten(), reduction="none").view(actions.shape)
        nll = nll.sum(1).mean()
        kl, prior_kl = self._kls(posterior, prior_params)
        total = nll + self.beta * kl + prior_kl
        accuracy = (logits.argmax(2) == actions).float().mean()
        return total, {"train/nll": nll.item(), "train/kl": kl.item(), "train/prior_kl": prior_kl.item(),
                       "train/accuracy": accuracy.item(), "train/loss": total.item()}

    @torch.no_grad()
    def evaluate(self, data: TransitionData, examples: np.ndarray) -> dict[str, float]:
        """Decoding with the posterior's mean (or most likely code): accuracy, NLL, both KLs, the loss, and the
        most-frequent-action baseline, averaged over the chunks ``examples``."""
        sums = {"nll": 0.0, "kl": 0.0, "prior_kl": 0.0, "correct": 0.0}
        for start in range(0, len(examples), EVAL_BATCH):
            batch = examples[start:start + EVAL_BATCH]
            features, actions, prior_params = self._chunks(data, batch)
            posterior = self._posterior_params(features, actions)
            if self.skill_kind == "continuous":
                skill = self._split(posterior)[0]
            else:
                skill = nn.functional.one_hot(posterior.argmax(1), self.skill_dim).to(posterior.dtype)
            logits = self._decode_chunk(features, skill)
            nll = nn.functional.cross_entropy(logits.flatten(0, 1), actions.flatten(), reduction="sum")
            kl, prior_kl = self._kls(posterior, prior_params)
            sums["nll"] += float(nll)
            sums["kl"] += float(kl) * len(batch)
            sums["prior_kl"] += float(prior_kl) * len(batch)
            sums["correct"] += float((logits.argmax(2) == actions).sum())
        count = max(1, len(examples))
        steps = np.asarray(examples)[:, None] + np.arange(self.horizon)
        frequencies = np.bincount(data.actions[steps].ravel(), minlength=self.num_actions)
        figures = {"val/nll": sums["nll"] / count, "val/kl": sums["kl"] / count,
                   "val/prior_kl": sums["prior_kl"] / count,
                   "val/reconstruction_accuracy": sums["correct"] / (count * self.horizon),
                   "val/marginal_accuracy": float(frequencies.max() / max(1, frequencies.sum()))}
        figures["val/vae_loss"] = figures["val/nll"] + self.beta * figures["val/kl"]
        figures["val/loss"] = figures["val/vae_loss"] + figures["val/prior_kl"]
        return figures

    # ------------------------------------------------------------------------------------------ pieces
    def _chunks(self, data: TransitionData,
                examples: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoded states ``(B, H, F)``, actions ``(B, H)`` and the prior's parameters from each first state."""
        steps = np.asarray(examples, np.int64)[:, None] + np.arange(self.horizon)  # (B, H), inside one segment
        obs = data.step_observations(steps)
        batch = steps.shape[0]
        features = self.encoder(obs["view"].flatten(0, 1), obs["vitals"].flatten(0, 1)).view(batch, self.horizon, -1)
        actions = torch.from_numpy(data.actions[steps])
        prior_params = self._prior_params({"view": obs["view"][:, 0], "vitals": obs["vitals"][:, 0]})
        return features, actions, prior_params

    def _posterior_params(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        inputs = torch.cat([features, self.action_embedding(actions)], 2)
        _, last = self.posterior_rnn(inputs)  # (1, B, hidden): the state after the chunk's last step
        return self.posterior_head(last[0])  # type: ignore[no-any-return]

    def _prior_params(self, obs: Observations) -> torch.Tensor:
        return self.prior_head(self.prior_encoder(obs["view"], obs["vitals"]))  # type: ignore[no-any-return]

    def _decode(self, features: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([features, skill.to(features.dtype)], -1))  # type: ignore[no-any-return]

    def _decode_chunk(self, features: torch.Tensor, skill: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, H, A)``: every step of a chunk decoded with its chunk's skill."""
        return self._decode(features, skill[:, None, :].expand(-1, features.shape[1], -1))

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = params.chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def _kls(self, posterior: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``KL(q || p0)`` and ``KL(sg(q) || p(. | s_t))``, each summed over the latent and averaged over chunks."""
        if self.skill_kind == "continuous":
            mean, log_std = self._split(posterior)
            prior_mean, prior_log_std = self._split(prior)
            kl = 0.5 * (mean.pow(2) + (2 * log_std).exp() - 1.0 - 2 * log_std).sum(1)
            mean, log_std = mean.detach(), log_std.detach()
            prior_kl = (prior_log_std - log_std
                        + ((2 * log_std).exp() + (mean - prior_mean).pow(2)) / (2 * (2 * prior_log_std).exp())
                        - 0.5).sum(1)
        else:
            log_q = torch.log_softmax(posterior, 1)
            q = log_q.exp()
            kl = (q * log_q).sum(1) + math.log(self.skill_dim)
            log_q, q = log_q.detach(), q.detach()
            prior_kl = (q * (log_q - torch.log_softmax(prior, 1))).sum(1)
        return kl.mean(), prior_kl.mean()


register_prior("skill-vae-v0", SkillVAE, "skill prior: a VAE over H-step action chunks, closed-loop decoder, "
               "learned p(z | s) (SPiRL)", training="offline")
