"""Continual backpropagation (Dohare, Hernandez-Garcia, Lan, Rahman, Mahmood and Sutton 2024, "Loss of plasticity
in deep continual learning", Nature).

Objective: none added to the loss. Backpropagation's initial random draw is what makes a network plastic; continual
backpropagation keeps drawing it, a little at every step, for the hidden units that contribute least. Per hidden
unit ``i`` of a layer, after every optimiser step:

* its age grows by one, and its *contribution utility* is a running average of how much it feeds forward::

      u_i <- eta * u_i + (1 - eta) * |h_i| * sum_k |w_ik|

  with ``|h_i|`` its mean absolute activation on the step's minibatch (and positions, for a channel) and ``w_ik``
  every outgoing weight that reads it;
* among the layer's *mature* units (age > ``maturity``), ``rho * (number of mature units)`` are due; due
  replacements accumulate across steps (at 1e-4 x 128 units one falls due every 79 steps) and the whole ones are
  replaced: the mature units with the lowest bias-corrected utility ``u_i / (1 - eta^age_i)`` get fresh incoming
  weights from the layer's initialisation, zero outgoing weights (the output does not jump), utility and age 0,
  and zero Adam moments for those weights.

Defaults: ``rho`` 1e-4, ``maturity`` 100 and ``eta`` 0.99 are the paper's (and its code's ``GnT`` / ``CBPLinear``,
github.com/shibhansh/loss-of-plasticity, which also picks by the bias-corrected utility and accumulates the
fractional replacements as here).

What differs here: the code averages ``|w_ik|`` where the paper sums it; the two differ by a constant per layer, so
the ranking within a layer, all that is used, is the same (the sum is kept, as in the paper). The code's optional
correction of the next layer's bias by the replaced unit's mean activity is not applied (the paper's algorithm
does not have it). Initialisation and the optimiser reset are :mod:`~openworld.agent.plasticity.units`' (orthogonal
rows, gain sqrt 2; Adam's step count is per tensor in torch, where the code's ``AdamGnT`` resets a per-entry
count). The heads are outputs and never replaced; a recurrent model is refused.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from openworld.agent.networks import ViewEncoder
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Module()  # an ActorCritic's shape: encoder, policy and value heads
    >>> model.encoder = ViewEncoder(5, (3, 4), 2, embedding_dim=2, channels=3, hidden_size=6)
    >>> model.policy, model.value = nn.Linear(6, 4), nn.Linear(6, 1)
    >>> option = ContinualBackprop(replacement_rate=0.25, maturity=2)  # 6 units: 1.5 due per step once mature
    >>> option.attach(model)
    >>> generator = torch.Generator().manual_seed(0)
    >>> for _ in range(5):
    ...     _ = model.encoder(torch.randint(0, 3, (32, 5, 5, 2)), torch.rand(32, 2))
    ...     option.after_step(model, None, generator)
    >>> option.metrics()["units_replaced"]  # mature from step 3; a replaced unit is young again: 2 + 2 + 3
    7.0
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from openworld.agent.plasticity.base import PlasticityOption, register_option
from openworld.agent.plasticity.units import (
    UnitActivations,
    UnitLayer,
    outgoing_magnitude,
    reinitialise_units,
    unit_layers,
)


@register_option
class ContinualBackprop(PlasticityOption):
    """Replace ``replacement_rate`` of each layer's mature hidden units per step, lowest utility first.

    Args:
        replacement_rate: ``rho``, the fraction of a layer's mature units replaced per optimiser step, in [0, 1].
        maturity: ``m``, steps a unit is protected after it is (re)drawn (>= 0).
        decay: ``eta``, the utility's running-average rate, in [0, 1).
    """

    name = "cbp"

    def __init__(self, replacement_rate: float = 1e-4, maturity: int = 100, decay: float = 0.99) -> None:
        if not 0.0 <= float(replacement_rate) <= 1.0 or int(maturity) < 0 or not 0.0 <= float(decay) < 1.0:
            raise ValueError(f"cbp needs 0 <= replacement_rate <= 1, maturity >= 0 and 0 <= decay < 1; got "
                             f"{replacement_rate}, {maturity}, {decay}")
        self.replacement_rate, self.maturity, self.decay = float(replacement_rate), int(maturity), float(decay)
        self.layers: list[UnitLayer] = []
        self.activations: UnitActivations | None = None
        self.utility: list[torch.Tensor] = []
        self.ages: list[torch.Tensor] = []  # float64: exact integers far beyond any run
        self.due: list[float] = []  # accumulated fractional replacements per layer
        self.units_replaced = 0

    def attach(self, model: nn.Module) -> None:
        self.layers = unit_layers(model, self.name)
        self.activations = UnitActivations(self.layers)
        self.utility = [torch.zeros(layer.units) for layer in self.layers]
        self.ages = [torch.zeros(layer.units, dtype=torch.float64) for layer in self.layers]
        self.due = [0.0 for _ in self.layers]

    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                   generator: torch.Generator) -> None:
        if self.activations is None:
            return
        resets = []  # all layers are tested on the step's weights before any is changed (as the paper's code)
        for index, layer in enumerate(self.layers):
            ages, utility = self.ages[index], self.utility[index]
            ages += 1
            contribution = self.activations.mean_activity(index) * outgoing_magnitude(layer)
            utility.mul_(self.decay).add_(contribution, alpha=1.0 - self.decay)
            mature = torch.nonzero(ages > self.maturity).squeeze(1)
            if mature.numel() == 0:
                continue
            self.due[index] += self.replacement_rate * int(mature.numel())
            count = min(math.floor(self.due[index]), int(mature.numel()))
            if count == 0:
                continue
            self.due[index] -= count
            corrected = utility[mature] / (1.0 - self.decay ** ages[mature]).to(utility.dtype)
            chosen = mature[torch.topk(-corrected, count).indices]
            resets.append((layer, chosen))
            utility[chosen] = 0.0
            ages[chosen] = 0.0
            self.units_replaced += count
        reinitialise_units(resets, optimizer, generator)

    def metrics(self) -> dict[str, float]:
        return {"units_replaced": float(self.units_replaced)}

    def state_dict(self) -> dict[str, Any]:
        return {"utility": [u.clone() for u in self.utility], "ages": [a.clone() for a in self.ages],
                "due": list(self.due), "units_replaced": self.units_replaced}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if [tuple(u.shape) for u in state["utility"]] != [tuple(u.shape) for u in self.utility]:
            raise ValueError("cbp state does not fit this network's hidden layers")
        self.utility = [u.clone() for u in state["utility"]]
        self.ages = [a.clone() for a in state["ages"]]
        self.due = [float(d) for d in state["due"]]
        self.units_replaced = int(state["units_replaced"])
