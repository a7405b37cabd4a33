"""Plasticity-preserving options: the interface a learner calls, the registry, and building options from config.

An option is one published remedy for the loss of plasticity, composed with others by name in an agent's config
(``agent.plasticity=[l2_init, shrink_perturb]``, or ``[{shrink_perturb: {shrink: 0.9}}]`` with settings). A learner
that supports options (``ppo``) calls these hooks and keeps each option's state in its own, so a resumed run
continues exactly:

* :meth:`PlasticityOption.attach`: once, after the networks are initialised (an option that anchors to the initial
  weights copies them here);
* :meth:`PlasticityOption.network_settings`: keyword arguments for the learner's encoder
  (:class:`~openworld.agent.networks.ViewEncoder`: ``layer_norm``), read before the networks are built;
* :meth:`PlasticityOption.optimizer_settings`: keyword arguments for the learner's Adam (β);
* :meth:`PlasticityOption.loss`: a term added to every minibatch's loss (or ``None``);
* :meth:`PlasticityOption.after_step`: after every optimiser step, with the learner's generator for any noise;
* :meth:`PlasticityOption.metrics`: after every update, logged as ``plasticity/<name>/<key>``.

:mod:`~openworld.agent.plasticity.config` builds the options an agent's config names.

Each option lives in its own module with its paper, its settings and what differs here; they register themselves
with :func:`register_option`. Options whose network or optimiser settings clash (two set ``betas``) are refused.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

OPTIONS: dict[str, type[PlasticityOption]] = {}


class PlasticityOption:
    """One plasticity-preserving option (see the module docstring for when each hook is called)."""

    name: ClassVar[str] = ""

    def attach(self, model: nn.Module) -> None:
        """Called once, after ``model``'s weights are initialised and before any update."""

    def network_settings(self) -> dict[str, Any]:
        """Keyword arguments for the learner's encoder (:class:`~openworld.agent.networks.ViewEncoder`)."""
        return {}

    def optimizer_settings(self) -> dict[str, Any]:
        """Keyword arguments for the learner's ``torch.optim.Adam``."""
        return {}

    def loss(self, model: nn.Module) -> torch.Tensor | None:
        """A term added to each minibatch's loss, or ``None``."""
        return None

    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
        """Called after every optimiser step."""

    def metrics(self) -> dict[str, float]:
        """What the option reports (the learner logs them as ``plasticity/<name>/<key>``)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """What the option keeps between steps (plain tensors and numbers)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


def register_option(cls: type[PlasticityOption]) -> type[PlasticityOption]:
    """Class decorator: make the option available by its ``name``."""
    if not cls.name or cls.name in OPTIONS:
        raise ValueError(f"plasticity option name {cls.name!r} is empty or taken")
    OPTIONS[cls.name] = cls
    return cls
