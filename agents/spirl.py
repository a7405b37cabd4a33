"""SPiRL: a high-level PPO that picks a skill latent every ``H`` steps, KL-regularised to a learned skill prior
``p(z | s)``; the skill decoder acts (``spirl-v0``).

Paper:
    K. Pertsch, Y. Lee, J. J. Lim, "Accelerating Reinforcement Learning with Learned Skill Priors", CoRL 2020
    (arXiv:2010.11944). The skills and the prior come from a ``skill-vae`` prior file
    (:mod:`openworld.priors.skill_vae`: a VAE over ``H``-step action chunks of a dataset, with a closed-loop decoder
    ``pi(a | s, z)`` and ``p(z | s)``).

Objective (the shared high-level PPO of :mod:`openworld.agents.skill_control`, with its formulas): the high-level
policy ``pi_hi(z | s)`` maximises ``E[sum_d gamma^{t_d} (R_d - alpha KL(pi_hi(. | s_d) || p(. | s_d)))]``, the
SPiRL objective with the skill prior in place of SAC's entropy: each high-level reward pays ``alpha`` times the
analytic divergence at its start (Gaussians or categoricals), and the policy loss adds
``alpha KL(pi_hi(. | s) || p(. | s)) / std(A)``. ``alpha`` is either constant (``target_kl: null``) or, as in SPiRL,
tuned towards a target divergence ``delta``: ``min_{log alpha} alpha (delta - KL)`` by Adam, one step per PPO
minibatch. The high-level policy **starts as the prior** (``init_from_prior``, as SPiRL initialises its policy
from ``p(z | s)``): its encoder and head have the prior head's architecture and take its weights, so the
divergence is 0 at the start; the critic has its own encoder (``embedding_dim``/``channels``/``hidden_size``).

What differs from SPiRL:
    * PPO on-policy at the high level instead of SAC with a replay buffer (openworld's learners are continual
      on-policy PPO); hence the KL appears as a reward penalty *and* a direct loss term (SAC's actor loss).
    * Discrete actions and ``Dict`` observations come with the prior (its decoder is categorical, its encoders
      :class:`~openworld.agent.networks.ViewEncoder` s); a discrete latent (``latent: discrete``) gets a categorical
      high-level policy over its ``K`` codes, a continuous one a diagonal Gaussian with state-dependent std.
    * Reset-free: no episodes; a skill runs ``H`` steps on one clock shared by all worlds; a death ends it as a
      terminal, the autoreset step is excluded and the respawned body gets a fresh skill at once
      (:mod:`openworld.agents.skill_control`).
    * ``entropy_coef`` defaults to 0 (the KL to the prior replaces SAC's entropy, as in SPiRL).

Defaults: ``skill_steps: null`` (the prior's horizon ``H``), 16 decisions per world per update, 4 epochs of 4
minibatches, Adam 3e-4, ``gamma`` 0.998 per world step, ``alpha`` 0.01 tuned towards ``target_kl`` 1 nat.

Costs (one CPU thread, 16 worlds, the defaults, on the busy 2-core development machine): acting runs the prior's
decoder (its encoder and MLP) on every world at every step, and the high level's two encoders every ``H`` steps; an
update reads ``16 x 16`` high-level transitions 4 times per ``16 H`` world steps, small beside acting. With a trained
default skill-vae (continuous, ``H = 10``), ``openworld run world=meadow agent=spirl agent.prior=<file> steps=2000``
took 12.1 s against 6.6 s for ``steps=200``: about 5,200 agent-steps per second once started (2,600 over the whole
command). Survival on Meadow-v0 (5,000 steps x 16 worlds, seeds 0-2, the same prior, forager data): alive fraction
0.968, 0.960, 0.960 against 0.852, 0.857, 0.849 for the random agent and 0.966, 0.957,
0.954 with the high level frozen at the prior (``agent.learning_rate=0.0``: skills drawn from ``p(z | s)``): the gain
over random is the forager's skills; 5,000 steps are too few for the high level to add anything measurable.

Example:
    >>> import gymnasium as gym, tempfile, os
    >>> import openworld
    >>> from openworld.prior.format import save_prior
    >>> from openworld.priors.skill_vae import SkillVAE
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> path = os.path.join(tempfile.mkdtemp(), "p.prior")
    >>> _ = save_prior(path, SkillVAE(envs.single_observation_space, envs.single_action_space, horizon=4,
    ...                               hidden_size=16, channels=4), seed=0)
    >>> agent = SPiRL(envs.single_observation_space, envs.single_action_space, 2, 0, prior=path,
    ...               rollout_decisions=2, num_minibatches=2)
    >>> agent.skill_steps, agent.experience["prior"]["kind"]
    (4, 'skill-vae-v0')
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces

from openworld.agents.skill_control import HighLevelPolicy, SkillController
from openworld.errors import PriorError
from openworld.prior.base import Prior
from openworld.priors.skill_vae import SkillVAE
from openworld.registry import register_agent


class SPiRL(SkillController):
    """Skill-prior RL over a ``skill-vae`` prior (module docstring).

    Args: those of :class:`~openworld.agents.skill_control.SkillController`, and
        alpha: the weight of the KL to the skill prior (its start value when tuned).
        target_kl: SPiRL's target divergence (nats per decision) towards which ``alpha`` is tuned; ``None``:
            ``alpha`` stays constant.
        alpha_learning_rate: Adam step size of ``log alpha``.
        init_from_prior: start the high-level policy as the prior ``p(z | s)`` (its encoder and head weights).
    """

    kl_regularised = True

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 prior: Any, skill_steps: int | None = None, rollout_decisions: int = 16,
                 learning_rate: float = 3e-4, num_epochs: int = 4, num_minibatches: int = 4, gamma: float = 0.998,
                 gae_lambda: float = 0.95, clip_coef: float = 0.2, entropy_coef: float = 0.0,
                 value_coef: float = 0.5, max_grad_norm: float = 0.5, reward_scale: float | None = None,
                 embedding_dim: int = 4, channels: int = 16, hidden_size: int = 128, alpha: float = 0.01,
                 target_kl: float | None = 1.0, alpha_learning_rate: float = 0.01,
                 init_from_prior: bool = True) -> None:
        if not alpha > 0.0:
            raise ValueError(f"spirl: alpha must be > 0, got {alpha!r}")
        if target_kl is not None and not target_kl > 0.0:
            raise ValueError(f"spirl: target_kl must be > 0 or null (constant alpha), got {target_kl!r}")
        self.init_from_prior = bool(init_from_prior)
        self.target_kl = None if target_kl is None else float(target_kl)
        self.log_alpha = torch.tensor(float(alpha)).log().requires_grad_(self.target_kl is not None)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=alpha_learning_rate)
        super().__init__(observation_space, action_space, num_envs, seed, prior, skill_steps, rollout_decisions,
                         learning_rate, num_epochs, num_minibatches, gamma, gae_lambda, clip_coef, entropy_coef,
                         value_coef, max_grad_norm, reward_scale, embedding_dim, channels, hidden_size)

    # ------------------------------------------------------------------ the skill prior
    def check_prior(self, prior: Prior) -> None:
        if not isinstance(prior, SkillVAE):
            kind = prior.provenance.get("prior", type(prior).__name__)
            raise PriorError(f"spirl needs a skill-vae prior (a learned skill prior p(z | s) and its decoder), got a "
                             f"{kind} prior from {prior.provenance.get('path')}; train one with openworld pretrain "
                             "prior=skill-vae ..., or use agent=skills for diayn or metra skills")

    def default_skill_steps(self, prior: Prior) -> int:
        assert isinstance(prior, SkillVAE)
        return prior.horizon  # the chunk length the decoder was trained on

    def actor_sizes(self, embedding_dim: int, channels: int, hidden_size: int) -> tuple[int, int, int]:
        # The policy mirrors the prior's p(z | s) network, so it can start as the prior.
        settings = self.vae.settings
        return int(settings["embedding_dim"]), int(settings["channels"]), int(settings["hidden_size"])

    def start_from_prior(self, model: HighLevelPolicy) -> None:
        if self.init_from_prior:
            model.actor_encoder.load_state_dict(self.vae.prior_encoder.state_dict())
            model.actor_head.load_state_dict(self.vae.prior_head.state_dict())

    def skill_prior_params(self, view: torch.Tensor, vitals: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.vae.prior_head(self.vae.prior_encoder(view, vitals))  # type: ignore[no-any-return]

    @property
    def vae(self) -> SkillVAE:
        assert isinstance(self.prior, SkillVAE)  # check_prior
        return self.prior

    # ------------------------------------------------------------------ the KL weight
    @property
    def alpha(self) -> float:
        return float(self.log_alpha.detach().exp())

    def tune_alpha(self, kl: torch.Tensor) -> None:
        if self.target_kl is None:
            return
        loss = self.log_alpha.exp() * (self.target_kl - kl)  # alpha grows while the divergence exceeds its target
        self.alpha_optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        self.alpha_optimizer.step()

    def extra_state(self) -> dict[str, Any]:
        return {"log_alpha": self.log_alpha.detach().clone(), "alpha_optimizer": self.alpha_optimizer.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.alpha_optimizer.load_state_dict(state["alpha_optimizer"])


register_agent("spirl-v0", SPiRL, "SPiRL: high-level PPO over a skill-vae's skills, KL-regularised to its p(z | s)",
               num_envs=16)
