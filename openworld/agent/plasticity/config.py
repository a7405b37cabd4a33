"""Options from an agent's config: names or ``{name: {settings}}``, checked, with their settings merged.

Every option module is imported here, so the registry is full whoever asks (:mod:`~openworld.agent.plasticity.base`
only defines the interface and the registry).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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


def build_options(spec: Sequence[str | Mapping[str, Any]] | None) -> list[PlasticityOption]:
    """Options from config: each entry a name (``"l2_init"``) or a one-key mapping ``{name: {setting: value}}``.

    Raises:
        ValueError: an unknown name (the known ones listed), a malformed entry, an option named twice, unknown or
            invalid settings (the option's own message), or optimiser settings two options both set.
    """
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
    for what in ("network", "optimiser"):
        taken: dict[str, str] = {}
        for option in options:
            for key in option.network_settings() if what == "network" else option.optimizer_settings():
                if key in taken:
                    raise ValueError(f"plasticity options {taken[key]!r} and {option.name!r} both set the {what}'s "
                                     f"{key!r}")
                taken[key] = option.name
    return options


def network_settings(options: Sequence[PlasticityOption]) -> dict[str, Any]:
    """The options' encoder keyword arguments together (:func:`build_options` refused clashes)."""
    settings: dict[str, Any] = {}
    for option in options:
        settings.update(option.network_settings())
    return settings


def optimizer_settings(options: Sequence[PlasticityOption]) -> dict[str, Any]:
    """The options' optimiser keyword arguments together (:func:`build_options` refused clashes)."""
    settings: dict[str, Any] = {}
    for option in options:
        settings.update(option.optimizer_settings())
    return settings
