"""Decoupled weight decay (Loshchilov and Hutter 2019, "Decoupled Weight Decay Regularization"), as a plasticity
option after Lyle et al. 2024 ("Disentangling the Causes of Plasticity Loss in Neural Networks"), who pair it with
layer normalisation.

After every optimiser step each parameter shrinks by its group's learning rate times ``coef``::

    theta <- theta - lr * coef * theta

Growing weights are one of the causes of lost plasticity Lyle et al. identify (large weights saturate units and make
each step's effect small); decay keeps them bounded. Decoupled (AdamW) rather than an L2 term in the loss: Adam
would rescale an L2 gradient per parameter, so its pull would be weakest on the weights that move most.

What differs here: nothing; applied in ``after_step`` with the optimiser's own learning rate, so it composes with
any Adam the learner builds. ``coef`` 1e-2 is PyTorch's AdamW default, not a measured optimum for openworld. A
first default of 1e-4 did nothing: at ppo's learning rate 1e-3 it shrinks the weights by a factor 1 - 1e-7 a step,
3e-4 over ``experiment=plasticity``'s 3,250 steps, while they grew by 9% (measured there); at 1e-2 the shrink is 3%
over that lifetime. Unlike ``shrink_perturb``, the shrink scales with the learning rate and
adds no noise.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Linear(1, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = net.weight.fill_(1.0)
    >>> optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    >>> WeightDecay(coef=0.5).after_step(net, optimizer, torch.Generator())
    >>> round(net.weight.item(), 6)  # 1 - 0.1 * 0.5
    0.95
"""

from __future__ import annotations

import torch
from torch import nn

from openworld.agent.plasticity.base import PlasticityOption, register_option


@register_option
class WeightDecay(PlasticityOption):
    """``theta <- (1 - lr * coef) theta`` after every optimiser step, for the model's parameters.

    Args:
        coef: decay per unit of learning rate (>= 0).
    """

    name = "weight_decay"

    def __init__(self, coef: float = 1e-2) -> None:
        if not float(coef) >= 0.0:
            raise ValueError(f"weight_decay coef must be >= 0, got {coef}")
        self.coef = float(coef)

    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
        owned = {id(p) for p in model.parameters()}
        with torch.no_grad():
            for group in optimizer.param_groups:
                factor = 1.0 - float(group["lr"]) * self.coef
                for parameter in group["params"]:
                    if id(parameter) in owned:
                        parameter.mul_(factor)
