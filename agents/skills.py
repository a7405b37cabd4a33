"""A controller over skills discovered without reward (``skills-v0``): a high-level PPO that picks one of a
``diayn`` or ``metra`` library's ``K`` skills every ``H`` steps; the library's skill policy acts.

Papers: the skill libraries are DIAYN (Eysenbach et al., ICLR 2019, arXiv:1802.06070) and METRA (Park et al.,
ICLR 2024, arXiv:2310.08887); both papers evaluate their skills downstream the same way: a meta-controller
``pi_hi(z | s)`` trained on the task's reward chooses a frozen skill every few steps (hierarchical RL).

Objective: the shared high-level PPO of :mod:`openworld.agents.skill_control` (its formulas), with a categorical
``pi_hi`` over the ``K`` one-hot skills, an entropy bonus and **no** KL term: a library's skill prior is uniform
(``sample_skill`` draws ``z ~ U{1..K}``), so ``KL(pi_hi || U) = log K - H(pi_hi)`` and the entropy bonus is that
regulariser already. ``pi_hi`` starts near uniform (its output layer is initialised at scale 0.01).

What differs here: discrete actions (the libraries' PPO-trained skill policies), ``Dict`` observations (every network
reads a :class:`~openworld.agent.networks.ViewEncoder`), reset-free (one decision clock for all worlds, deaths end a
skill as a terminal, the autoreset step excluded, a fresh skill at each respawn: see ``skill_control``). The skill
policy stays frozen: fine-tuning it with the extrinsic advantage (the issue's "optionally") is not implemented.

Defaults: ``skill_steps: null`` is the ``skill_steps`` the library was trained with (its file's ``training`` record;
50, the training default, when absent), 16 decisions per world per update, 4 epochs of 4 minibatches, Adam 3e-4,
``gamma`` 0.998 per world step, ``entropy_coef`` 0.01.

Costs (one CPU thread, 16 worlds, the defaults, busy 2-core machine): the skill policy's forward pass on every
world step dominates acting. With a default-size (untrained) DIAYN library, ``H = 50``, ``openworld run
world=meadow agent=skills agent.prior=<file> steps=2000`` took 11.9 s against 7.6 s for ``steps=200``: about 6,800
agent-steps per second once started.

Example:
    >>> import gymnasium as gym, tempfile, os
    >>> import openworld
    >>> from openworld.prior.format import save_prior
    >>> from openworld.priors.diayn import DIAYN
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> path = os.path.join(tempfile.mkdtemp(), "p.prior")
    >>> _ = save_prior(path, DIAYN(envs.single_observation_space, envs.single_action_space, num_skills=4,
    ...                            hidden_size=16, channels=4), seed=0, training={"skill_steps": 8})
    >>> agent = Skills(envs.single_observation_space, envs.single_action_space, 2, 0, prior=path,
    ...                rollout_decisions=2, num_minibatches=2)
    >>> agent.skill_steps, agent.distribution.kind, agent.distribution.skill_dim
    (8, 'discrete', 4)
"""

from __future__ import annotations

from typing import Any

from gymnasium import spaces

from openworld.agents.skill_control import SkillController
from openworld.errors import PriorError
from openworld.prior.base import Prior
from openworld.priors.skill_discovery import SkillDiscovery, SkillSettings
from openworld.registry import register_agent


class Skills(SkillController):
    """A high-level PPO over a discovered-skill library (module docstring).

    Args: those of :class:`~openworld.agents.skill_control.SkillController`.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 prior: Any, skill_steps: int | None = None, rollout_decisions: int = 16,
                 learning_rate: float = 3e-4, num_epochs: int = 4, num_minibatches: int = 4, gamma: float = 0.998,
                 gae_lambda: float = 0.95, clip_coef: float = 0.2, entropy_coef: float = 0.01,
                 value_coef: float = 0.5, max_grad_norm: float = 0.5, reward_scale: float | None = None,
                 embedding_dim: int = 4, channels: int = 16, hidden_size: int = 128) -> None:
        super().__init__(observation_space, action_space, num_envs, seed, prior, skill_steps, rollout_decisions,
                         learning_rate, num_epochs, num_minibatches, gamma, gae_lambda, clip_coef, entropy_coef,
                         value_coef, max_grad_norm, reward_scale, embedding_dim, channels, hidden_size)

    def check_prior(self, prior: Prior) -> None:
        if not isinstance(prior, SkillDiscovery):
            kind = prior.provenance.get("prior", type(prior).__name__)
            hint = ("a behaviour prior has no skills" if prior.skill_kind == "none"
                    else "use agent=spirl for a skill-vae prior")
            raise PriorError(f"skills needs a discovered-skill library (diayn or metra), got a {kind} prior from "
                             f"{prior.provenance.get('path')}: {hint}; train one with openworld pretrain prior=diayn "
                             "...")

    def default_skill_steps(self, prior: Prior) -> int:
        # The skills were discovered (and their discriminator trained) over skill_steps-long stretches.
        trained = prior.provenance.get("training", {}) or {}
        return int(trained.get("skill_steps", SkillSettings.skill_steps))


register_agent("skills-v0", Skills, "a high-level PPO choosing among diayn or metra skills (frozen skill policy)",
               num_envs=16)
