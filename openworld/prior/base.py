"""What every prior is: a torch module built from the spaces it reads and plain settings, whose outputs an agent
uses (``docs/priors.md``).

Three kinds of prior experience share this one interface, so that an agent needs to know only what it reads:

==================== ============= ================================================================================
kind                 ``skill_kind`` what an agent reads
==================== ============= ================================================================================
behaviour prior      ``none``       ``action_logits(obs)``: pi0(a | s)
skill prior          ``continuous`` ``sample_skill(obs)``: z ~ p(z | s); ``action_logits(obs, z)``: the decoder's
                     or ``discrete`` pi(a | s, z)
discovered skills    ``discrete``   ``sample_skill(obs)``: a skill, uniformly; ``action_logits(obs, z)``: the skill
                     or             policy pi(a | s, z); the representation or discriminator rides along
                     ``continuous``
==================== ============= ================================================================================

A skill is a float tensor ``(N, skill_dim)``: a continuous latent, or a one-hot row for a discrete one.

A subclass is registered with :func:`openworld.registry.register_prior` and built as
``cls(observation_space, action_space, seed=seed, **config)``; :meth:`Prior.config` returns that ``config`` as
plain data, so a saved prior (:mod:`openworld.prior.format`) is rebuilt from its kind, config and spaces, then its
weights, and nothing in the file is ever run. The same seed gives the same initial weights; sampling takes an
explicit ``torch.Generator``, never the global one.

Learning:
    * ``offline`` kinds implement :meth:`Prior.examples`, :meth:`Prior.loss` and :meth:`Prior.evaluate`;
      :func:`openworld.prior.fitting.fit_offline` runs the epochs, the validation split and early stopping.
    * ``online`` kinds implement :meth:`Prior.fit_online`, their own reward-free loop in a vector env.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from openworld.errors import PriorError

if TYPE_CHECKING:
    from openworld.prior.transitions import TransitionData

SkillKind = Literal["none", "continuous", "discrete"]
Observations = dict[str, torch.Tensor]  # "view" (N, V, V, C) integer codes, "vitals" (N, K) floats
LogFunction = Callable[[str, float, int], None]  # (name, value, step): training curves, Sacred's log_scalar


@dataclass
class FitResult:
    """What training produced, for the prior file and the report.

    Attributes:
        metrics: the final validation figures (``val/nll``, ``val/accuracy``, ``coverage/cells``...), saved
            in the prior file.
        curves: one dict per evaluation point: ``step`` (updates so far), ``epoch`` (offline), and every
            training and validation figure (``train/...``, ``val/...``), for the report's PNG.
        samples: training examples (or environment steps, online) consumed.
        seconds: wall-clock time of training.
        stopped_early: whether early stopping ended it before its budget.
        settings: the training settings used (plain data, recorded in the prior file).
    """

    metrics: dict[str, float]
    curves: list[dict[str, float]] = field(default_factory=list)
    samples: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    settings: dict[str, Any] = field(default_factory=dict)


class Prior(nn.Module):
    """Base class of every prior. Subclasses set :attr:`skill_kind` and :attr:`skill_dim` (0 without skills) in
    ``__init__`` and implement :meth:`config`, :meth:`action_logits` and, with skills, :meth:`sample_skill`.

    Attributes:
        monitor: the validation figure early stopping watches (lower is better), e.g. ``val/nll``.
    """

    monitor: ClassVar[str] = "val/loss"

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        super().__init__()
        if not isinstance(action_space, spaces.Discrete):
            raise PriorError(f"{type(self).__name__}: priors need a Discrete action space, got {action_space}")
        if not isinstance(observation_space, spaces.Dict) or set(observation_space.spaces) != {"view", "vitals"}:
            raise PriorError(f"{type(self).__name__}: priors read openworld's Dict(view, vitals) observations, got "
                             f"{observation_space}")
        self.observation_space = observation_space
        self.action_space = action_space
        self.num_actions = int(action_space.n)
        self.skill_kind: SkillKind = "none"
        self.skill_dim = 0
        self.provenance: dict[str, Any] = {}  # a loaded prior's file header and path (openworld.prior.format)

    # ------------------------------------------------------------------------------------------ what agents read
    def config(self) -> dict[str, Any]:
        """The keyword settings that rebuild this prior's architecture (plain data)."""
        raise NotImplementedError

    def action_logits(self, obs: Observations, skill: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(N, A)`` of the prior's action distribution for observations ``obs`` (and skills ``(N, D)``)."""
        raise NotImplementedError

    def sample_skill(self, obs: Observations, generator: torch.Generator) -> torch.Tensor | None:
        """Skills ``(N, skill_dim)`` to act with from these observations (None for a behaviour prior)."""
        return None

    # ------------------------------------------------------------------------------------------ learning offline
    def examples(self, data: TransitionData) -> np.ndarray:
        """Indices of the training examples in ``data`` (steps, or the first steps of chunks), ``int64``."""
        raise PriorError(f"{type(self).__name__} does not learn from datasets")

    def loss(self, data: TransitionData, examples: np.ndarray,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss on a minibatch of examples, and its figures (``train/...``)."""
        raise PriorError(f"{type(self).__name__} does not learn from datasets")

    @torch.no_grad()
    def evaluate(self, data: TransitionData, examples: np.ndarray) -> dict[str, float]:
        """Validation figures (``val/...``, including :attr:`monitor`) over these examples, without sampling."""
        raise PriorError(f"{type(self).__name__} does not learn from datasets")

    # ------------------------------------------------------------------------------------------ learning online
    def check_training(self, settings: Mapping[str, Any]) -> None:
        """Refuse ``fit_online`` settings (unknown keys, values out of range) with a :class:`PriorError`, before
        ``openworld pretrain`` writes anything. Online kinds override it; offline kinds' settings are
        :class:`~openworld.prior.fitting.OfflineSettings`, checked by the pipeline."""

    def fit_online(self, envs: Any, steps: int, seed: int, log: LogFunction,
                   settings: Mapping[str, Any], world_seeds: Sequence[int] | None = None) -> FitResult:
        """Learn reward-free by living ``steps`` world steps in the vector env ``envs``.

        Args:
            envs: a fresh :class:`~openworld.envs.vector.OpenWorldVectorEnv` (``NEXT_STEP`` autoreset, deaths
                terminal), not yet reset: reset it with ``envs.reset(seed=world_seeds or seed)``.
            steps: world steps (each steps every env once).
            seed: the seed of every draw (sampling, minibatches; the worlds too unless ``world_seeds``).
            log: ``log(name, value, step)`` for the training curves.
            settings: the ``training`` node of the prior's pretrain config (the method checks its keys).
            world_seeds: one map seed per env (a variant's own maps, ``WorldChoice.world_seeds``); None: world
                ``i`` from ``seed + i``.
        """
        raise PriorError(f"{type(self).__name__} does not learn online")


def observations_to_tensors(view: np.ndarray, vitals: np.ndarray) -> Observations:
    """Numpy observations (a batch) as the tensors priors read (no copy where the dtype allows)."""
    return {"view": torch.as_tensor(view), "vitals": torch.as_tensor(vitals, dtype=torch.float32)}


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (the global generators are never drawn from)."""
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return generator
