"""L2 Init: an L2 penalty towards the initial weights (Kumar, Marklund and Van Roy 2023, "Maintaining Plasticity
in Continual Learning via Regenerative Regularization").

Objective: the learner's loss plus ``coef * sum_i ||theta_i - theta_i(0)||^2`` over every parameter. Where plain L2
pulls weights towards zero (which can itself leave units dead), L2 Init pulls them towards the initialisation,
whose weights were trainable, so the network keeps the properties that made it plastic while it learns.

What differs here: nothing in the objective; the penalty is added to every minibatch's loss, so the learner's
gradient clipping applies to it too. ``coef`` 1e-3 lies inside the paper's sweep (1e-2 to 1e-5) and is a starting
point, not a measured optimum for openworld (``experiment=plasticity`` is where it gets measured).

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Linear(2, 1)
    >>> option = L2Init(coef=0.5)
    >>> option.attach(net)
    >>> option.loss(net).item()  # at the initial weights: no penalty
    0.0
    >>> with torch.no_grad():
    ...     _ = net.bias.add_(2.0)
    >>> round(option.loss(net).item(), 4)  # 0.5 * 2^2
    2.0
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from openworld.agent.plasticity.base import PlasticityOption, register_option


@register_option
class L2Init(PlasticityOption):
    """``coef * ||theta - theta(0)||^2`` added to the loss.

    Args:
        coef: weight of the penalty (>= 0).
    """

    name = "l2_init"

    def __init__(self, coef: float = 1e-3) -> None:
        if not float(coef) >= 0.0:
            raise ValueError(f"l2_init coef must be >= 0, got {coef}")
        self.coef = float(coef)
        self.initial: list[torch.Tensor] = []

    def attach(self, model: nn.Module) -> None:
        self.initial = [p.detach().clone() for p in model.parameters()]

    def loss(self, model: nn.Module) -> torch.Tensor:
        squares = [((p - p0) ** 2).sum() for p, p0 in zip(model.parameters(), self.initial, strict=True)]
        return self.coef * torch.stack(squares).sum()

    def state_dict(self) -> dict[str, Any]:
        return {"initial": [p.clone() for p in self.initial]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.initial = [p.clone() for p in state["initial"]]
