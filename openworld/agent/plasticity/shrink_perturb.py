"""Shrink and perturb (Ash and Adams 2020, "On Warm-Starting Neural Network Training"; used continually by Dohare
et al. 2024, "Loss of plasticity in deep continual learning").

After every ``every``-th optimiser step, every parameter is shrunk towards zero and perturbed with Gaussian noise::

    theta <- shrink * theta + noise_std * epsilon,   epsilon ~ N(0, 1)

Shrinking keeps the weights from growing without bound (one cause of lost plasticity), and the noise keeps units
from settling into dead or redundant states. Dohare et al. apply it at every step with a tiny shrink and noise, the
continual form of Ash and Adams's one-off warm-start remedy, as here.

What differs here: the noise is drawn from the learner's own ``torch.Generator``, so runs are exactly
reproducible and resumable; it perturbs every parameter (embeddings included). ``shrink`` 0.9999 and ``noise_std``
1e-4 are starting points of the size Dohare et al. use, not measured optima for openworld (``experiment=plasticity``
measures them).

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = net.weight.fill_(1.0)
    >>> ShrinkPerturb(shrink=0.5, noise_std=0.0).after_step(net, None, torch.Generator().manual_seed(0))
    >>> net.weight.tolist()
    [[0.5, 0.5]]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from openworld.agent.plasticity.base import PlasticityOption, register_option


@register_option
class ShrinkPerturb(PlasticityOption):
    """``theta <- shrink * theta + noise_std * N(0, 1)`` after every ``every``-th optimiser step.

    Args:
        shrink: multiplies every parameter, in (0, 1].
        noise_std: standard deviation of the added noise (>= 0).
        every: optimiser steps between applications (>= 1).
    """

    name = "shrink_perturb"

    def __init__(self, shrink: float = 0.9999, noise_std: float = 1e-4, every: int = 1) -> None:
        if not 0.0 < float(shrink) <= 1.0 or not float(noise_std) >= 0.0 or int(every) < 1:
            raise ValueError(f"shrink_perturb needs 0 < shrink <= 1, noise_std >= 0 and every >= 1; got {shrink}, "
                             f"{noise_std}, {every}")
        self.shrink, self.noise_std, self.every = float(shrink), float(noise_std), int(every)
        self.steps = 0

    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                   generator: torch.Generator) -> None:
        self.steps += 1
        if self.steps % self.every:
            return
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(self.shrink)
                if self.noise_std:
                    noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
                    parameter.add_(noise, alpha=self.noise_std)

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
