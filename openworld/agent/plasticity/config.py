"""Options from an agent's config: names or ``{name: {settings}}``, checked, and called together.

:class:`PlasticityOptions` is what a learner holds: it merges the options' network and optimiser settings, calls
each hook on every option, prefixes their metrics and keeps their states, so that supporting the options is one call
per hook in a learner (``ppo``, the off-policy core), not a loop copied into each.

Every option module is imported here, so the registry is full whoever asks (:mod:`~openworld.agent.plasticity.base`
only defines the interface and the registry).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from openworld.agent.plasticity import (  # noqa: F401  (imported so that they register)
    adam_betas,
    cbp,
    head_reset,
    l2_init,
    layer_norm,
    redo,
    shrink_perturb,
    weight_decay,
)
from openworld.agent.plasticity.base import OPTIONS, PlasticityOption


class PlasticityOptions(list[PlasticityOption]):
    """The options of one learner, in config order (a list: index and iterate it), with each hook called on all."""

    def network_settings(self) -> dict[str, Any]:
        """The options' encoder keyword arguments together (:func:`build_options` refused clashes)."""
        return {key: value for option in self for key, value in option.network_settings().items()}

    def optimizer_settings(self) -> dict[str, Any]:
        """The options' optimiser keyword arguments together (:func:`build_options` refused clashes)."""
        return {key: value for option in self for key, value in option.optimizer_settings().items()}

    def attach(self, model: nn.Module) -> None:
        for option in self:
            option.attach(model)

    def loss(self, model: nn.Module) -> torch.Tensor | None:
        """The sum of the options' loss terms, or ``None`` when none has one."""
        terms = [term for option in self if (term := option.loss(model)) is not None]
        return sum(terms[1:], terms[0]) if terms else None

    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
        for option in self:
            option.after_step(model, optimizer, generator)

    def metrics(self) -> dict[str, float]:
        """Every option's metrics as ``plasticity/<name>/<key>``."""
        return {f"plasticity/{option.name}/{key}": value for option in self for key, value in option.metrics().items()}

    def state_dict(self) -> dict[str, Any]:
        """``{name: state}`` in config order."""
        return {option.name: copy.deepcopy(option.state_dict()) for option in self}

    def check_state(self, state: Mapping[str, Any], owner: str) -> None:
        """Refuse a :meth:`state_dict` of other options (a learner checks before it loads anything).

        Raises:
            ValueError: the state holds other options (``owner`` names the learner in the message).
        """
        names = [option.name for option in self]
        if list(state) != names:
            raise ValueError(f"{owner} state has the plasticity options {list(state)}, this agent {names}")

    def load_state_dict(self, state: Mapping[str, Any], owner: str) -> None:
        """Restore :meth:`state_dict` (copied), after :meth:`check_state`."""
        self.check_state(state, owner)
        for option in self:
            option.load_state_dict(copy.deepcopy(state[option.name]))


def option_labels(spec: Sequence[str | Mapping[str, Any]] | None) -> list[str]:
    """Short names of a config's options, for summaries and reports: ``"l2_init"``, or ``"head_reset(every=1000)"``
    when settings are given (so that two arms of one option with other settings stay apart).

    Example:
        >>> option_labels(["layer_norm", {"head_reset": {"every": 1000}}, {"redo": None}])
        ['layer_norm', 'head_reset(every=1000)', 'redo']
    """
    labels = []
    for entry in spec or []:
        if isinstance(entry, Mapping) and len(entry) == 1:
            ((name, settings),) = entry.items()
            given = ", ".join(f"{key}={value}" for key, value in sorted(dict(settings or {}).items()))
            labels.append(f"{name}({given})" if given else str(name))
        else:
            labels.append(str(entry))
    return labels


def build_options(spec: Sequence[str | Mapping[str, Any]] | None) -> PlasticityOptions:
    """Options from config: each entry a name (``"l2_init"``) or a one-key mapping ``{name: {setting: value}}``.

    Raises:
        ValueError: an unknown name (the known ones listed), a malformed entry, an option named twice, unknown or
            invalid settings (the option's own message), or optimiser settings two options both set.
    """
    options = PlasticityOptions()
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
    for what in ("network", "optimiser"):
        taken: dict[str, str] = {}
        for option in options:
            for key in option.network_settings() if what == "network" else option.optimizer_settings():
                if key in taken:
                    raise ValueError(f"plasticity options {taken[key]!r} and {option.name!r} both set the {what}'s "
                                     f"{key!r}")
                taken[key] = option.name
    return options
