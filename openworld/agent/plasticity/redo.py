"""ReDo: recycling dormant neurons (Sokar, Agarwal, Castro and Evci 2023, "The Dormant Neuron Phenomenon in Deep
Reinforcement Learning", ICML).

Objective: none added to the loss. Every ``every`` optimiser steps each hidden unit is scored on the minibatch that
step learnt from, ``s_i = E|h_i| / mean_j E|h_j|`` over its layer (:func:`~openworld.agent.plasticity.diagnostics.
unit_scores`; a convolution's unit is a channel, averaged over positions too), and every unit with ``s_i <= tau``
(*tau-dormant*) is recycled: its incoming weights re-drawn from the layer's initialisation, its bias zeroed, its
outgoing weights zeroed (so the network's output does not jump) and Adam's moments of all those weights zeroed.
Dormant units no longer learn (a ReLU that is silent on every input gets no gradient); recycling gives the network
back their capacity.

Defaults: ``tau`` 0.025 is the value reimplementations give for the paper's default setting (0.1 for its higher
replay ratios); the paper recycles every 1,000 gradient steps. The authors' code (google/dopamine, ``labs/redo``)
scores units as here (mean ``|h|`` over the batch and positions over the layer's mean), zeroes outgoing weights and
both sides' Adam moments as here, and leaves ``tau`` and the period to each experiment's gin file (its own default
``tau`` is 0: silent units only); its published configs do not fix ``tau``, so 0.025 stays unconfirmed. ``every``
1024 keeps the paper's spacing and is a whole number of PPO updates at ppo's defaults (2 epochs x 8 minibatches =
16 steps: every 64th update), so the scores always come from an update's last minibatch, after every epoch has
trained on the rollout. Expect a first recycling even of a healthy network:
at initialisation, on 256 rows of Meadow, 24 of ppo's 160 hidden units already score <= 0.025 (11 are silent).

What differs here: units, initialisation and the optimiser reset are :mod:`~openworld.agent.plasticity.units`'
(orthogonal rows, gain sqrt 2, as ppo initialises; Adam's per-tensor step count stays); the heads (policy, value)
are outputs and are never recycled; a recurrent model is refused. The scores come from one minibatch (ppo's
16 x 128 / 8 = 256 rows at the defaults) where the paper uses a batch of the replay buffer.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from openworld.agent.networks import ViewEncoder
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Module()  # an ActorCritic's shape: encoder, policy and value heads
    >>> model.encoder = ViewEncoder(5, (3, 4), 2, embedding_dim=2, channels=3, hidden_size=6)
    >>> model.policy, model.value = nn.Linear(6, 4), nn.Linear(6, 1)
    >>> option = ReDo(tau=0.1, every=1)
    >>> option.attach(model)
    >>> with torch.no_grad():
    ...     _ = model.encoder.project[0].bias[:2].fill_(-100.0)  # units 0 and 1 of the projection: dead
    >>> _ = model.encoder(torch.randint(0, 3, (32, 5, 5, 2)), torch.rand(32, 2))
    >>> option.after_step(model, None, torch.Generator().manual_seed(0))
    >>> option.metrics()["units_reset"], model.policy.weight[:, :2].abs().sum().item()
    (2.0, 0.0)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from openworld.agent.plasticity.base import PlasticityOption, register_option
from openworld.agent.plasticity.diagnostics import unit_scores
from openworld.agent.plasticity.units import UnitActivations, UnitLayer, reinitialise_units, unit_layers


@register_option
class ReDo(PlasticityOption):
    """Every ``every`` optimiser steps, re-initialise the hidden units whose score is ``<= tau``.

    Args:
        tau: dormancy threshold on the layer-normalised score (>= 0; 0: only units silent on the whole batch).
        every: optimiser steps between recycling (>= 1).
    """

    name = "redo"

    def __init__(self, tau: float = 0.025, every: int = 1024) -> None:
        if not float(tau) >= 0.0 or int(every) < 1:
            raise ValueError(f"redo needs tau >= 0 and every >= 1; got {tau}, {every}")
        self.tau, self.every = float(tau), int(every)
        self.steps = 0
        self.units_reset = 0  # over the whole run
        self.last_reset = 0  # at the last recycling
        self.last_dormant_fraction = 0.0  # of all hidden units, at the last recycling
        self.layers: list[UnitLayer] = []
        self.activations: UnitActivations | None = None

    def attach(self, model: nn.Module) -> None:
        self.layers = unit_layers(model, self.name)
        self.activations = UnitActivations(self.layers)

    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                   generator: torch.Generator) -> None:
        self.steps += 1
        if self.steps % self.every or self.activations is None:
            return
        resets = []
        for index, layer in enumerate(self.layers):
            output = self.activations.outputs[index]
            if output is None:
                raise RuntimeError(f"redo: no forward pass with gradients reached {layer.name} before this step")
            resets.append((layer, torch.nonzero(unit_scores(output) <= self.tau).squeeze(1)))
        reinitialise_units(resets, optimizer, generator)
        reset, units = sum(int(d.numel()) for _, d in resets), sum(layer.units for layer in self.layers)
        self.units_reset += reset
        self.last_reset = reset
        self.last_dormant_fraction = reset / max(units, 1)

    def metrics(self) -> dict[str, float]:
        return {"units_reset": float(self.units_reset), "last_reset": float(self.last_reset),
                "dormant_fraction": self.last_dormant_fraction}

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "units_reset": self.units_reset, "last_reset": self.last_reset,
                "last_dormant_fraction": self.last_dormant_fraction}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps, self.units_reset = int(state["steps"]), int(state["units_reset"])
        self.last_reset, self.last_dormant_fraction = int(state["last_reset"]), float(state["last_dormant_fraction"])
