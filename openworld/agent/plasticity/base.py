"""Plasticity-preserving options: the interface a learner calls, the registry, and building options from config.

An option is one published remedy for the loss of plasticity, composed with others by name in an agent's config
(``agent.plasticity=[l2_init, shrink_perturb]``, or ``[{shrink_perturb: {shrink: 0.9}}]`` with settings). A learner
that supports options (``ppo``) calls these hooks and keeps each option's state in its own, so a resumed run
continues exactly:

* :meth:`PlasticityOption.attach`: once, after the networks are initialised (an option that anchors to the initial
  weights copies them here);
* :meth:`PlasticityOption.optimizer_settings`: keyword arguments for the learner's Adam (β, weight decay);
* :meth:`PlasticityOption.loss`: a term added to every minibatch's loss (or ``None``);
* :meth:`PlasticityOption.after_step`: after every optimiser step, with the learner's generator for any noise;
* :meth:`PlasticityOption.metrics`: after every update, logged as ``plasticity/<name>/<key>``.

Each option lives in its own module with its paper, its settings and what differs here; they register themselves
with :func:`register_option`. Options whose optimiser settings clash (two set ``betas``) are refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

OPTIONS: dict[str, type[PlasticityOption]] = {}


class PlasticityOption:
    """One plasticity-preserving option (see the module docstring for when each hook is called)."""

    name: ClassVar[str] = ""

    def attach(self, model: nn.Module) -> None:
        """Called once, after ``model``'s weights are initialised and before any update."""

    def optimizer_settings(self) -> dict[str, Any]:
        """Keyword arguments for the learner's ``torch.optim.Adam``."""
        return {}

    def loss(self, model: nn.Module) -> torch.Tensor | None:
        """A term added to each minibatch's loss, or ``None``."""
        return None

    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
        """Called after every optimiser step."""

    def metrics(self) -> dict[str, float]:
        """Numbers for the learner's log, which it records as ``plasticity/<name>/<key>`` after every update."""
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


def build_options(spec: Sequence[str | Mapping[str, Any]] | None) -> list[PlasticityOption]:
    """Options from config: each entry a name (``"l2_init"``) or a one-key mapping ``{name: {setting: value}}``.

    Raises:
        ValueError: an unknown name (the known ones listed), a malformed entry, an option named twice, unknown or
            invalid settings (the option's own message), or optimiser settings two options both set.
    """
    import openworld.agent.plasticity  # noqa: F401  (the package imports every option module: they register)

    options: list[PlasticityOption] = []
    for entry in spec or []:
        settings: dict[str, Any]
        if isinstance(entry, str):
            name, settings = entry, {}
        elif isinstance(entry, Mapping) and len(entry) == 1:
            ((name, settings),) = entry.items()
            settings = dict(settings or {})
        else:
            raise ValueError(f"a plasticity option is a name or {{name: {{settings}}}}, got {entry!r}")
        if name not in OPTIONS:
            raise ValueError(f"unknown plasticity option {name!r}; known: {', '.join(sorted(OPTIONS))}")
        if any(option.name == name for option in options):
            raise ValueError(f"plasticity option {name!r} is given twice")
        try:
            options.append(OPTIONS[name](**settings))
        except TypeError as error:
            raise ValueError(f"plasticity option {name!r}: {error}") from None
    taken: dict[str, str] = {}
    for option in options:
        for key in option.optimizer_settings():
            if key in taken:
                raise ValueError(f"plasticity options {taken[key]!r} and {option.name!r} both set the optimiser's "
                                 f"{key!r}")
            taken[key] = option.name
    return options


def optimizer_settings(options: Sequence[PlasticityOption]) -> dict[str, Any]:
    """The options' optimiser keyword arguments together (:func:`build_options` refused clashes)."""
    settings: dict[str, Any] = {}
    for option in options:
        settings.update(option.optimizer_settings())
    return settings
