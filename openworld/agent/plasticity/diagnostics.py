"""Diagnostics of a learner's plasticity: dormant units, the features' stable rank, weight and gradient norms.

A network trained for a long non-stationary lifetime can lose the ability to learn (Dohare et al., "Loss of
plasticity in deep continual learning", Nature 2024; Lyle et al., "Disentangling the causes of plasticity loss in
neural networks", 2024). These numbers are how the loss shows itself before the alive fraction does:

* **dormant fraction** (Sokar et al., "The Dormant Neuron Phenomenon in Deep Reinforcement Learning", ICML 2023): a
  unit's score is its mean absolute activation over a batch divided by the mean score of its layer,
  ``s_i = E|h_i| / mean_j E|h_j|``; it is *tau-dormant* when ``s_i <= tau``. With ``tau = 0`` (the default here)
  this counts units that are exactly zero on the whole batch: dead ReLUs, Dohare et al.'s measure. The fraction is
  over all the units of every ``nn.ReLU`` module of the network (a convolution's unit is a channel, averaged over
  positions as well as the batch).
* **stable rank** (Kumar et al., "Implicit Under-Parameterization Inhibits Data-Efficient Deep Reinforcement
  Learning", ICLR 2021, their ``srank_delta``): the fewest singular values of the ``(N, d)`` feature matrix that hold
  ``1 - delta`` of their sum (``delta = 0.01``). Collapsing features need fewer directions.
* **weight norm**: the L2 norm of all parameters together (growing weights are one of Lyle et al.'s causes).
* **gradient norm**: the L2 norm of all gradients together, as they were before clipping (the learner records it:
  ``clip_grad_norm_`` returns it).

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]))
    ...     _ = net[0].bias.zero_()
    >>> x = torch.tensor([[1.0, 2.0, 0.0], [3.0, 1.0, 0.0]])  # unit 2 sees only zeros; unit 3 has no weights
    >>> report = measure(net, lambda: net(x))
    >>> report.dormant_fraction, report.stable_rank
    (0.5, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PlasticityReport:
    """One measurement (see the module docstring).

    Attributes:
        dormant_fraction: share of the ReLU units that are tau-dormant on the batch.
        stable_rank: ``srank_delta`` of the features.
        weight_norm: L2 norm of all parameters.
        units: ReLU units counted.
    """

    dormant_fraction: float
    stable_rank: int
    weight_norm: float
    units: int

    def metrics(self, prefix: str = "plasticity/") -> dict[str, float]:
        """The report as a learner's metrics (``plasticity/dormant_fraction``, ...)."""
        return {f"{prefix}dormant_fraction": self.dormant_fraction, f"{prefix}stable_rank": float(self.stable_rank),
                f"{prefix}weight_norm": self.weight_norm}


def unit_scores(activations: torch.Tensor) -> torch.Tensor:
    """``(units,)`` ReDo scores of one layer's ``(N, units, ...)`` output: mean ``|h|`` per unit over the batch (and
    positions) over the layer's mean; all zeros for a layer silent everywhere."""
    activity = activations.detach().abs().transpose(0, 1).flatten(1).mean(1)
    mean = activity.mean()
    return activity / mean if float(mean) > 0 else torch.zeros_like(activity)


def dormant_fraction(layers: Iterable[torch.Tensor], tau: float = 0.0) -> tuple[float, int]:
    """Share of tau-dormant units over the layers' outputs, and the number of units."""
    scores = [unit_scores(output) for output in layers]
    units = sum(int(s.numel()) for s in scores)
    if units == 0:
        return 0.0, 0
    return sum(int((s <= tau).sum()) for s in scores) / units, units


def stable_rank(features: torch.Tensor, delta: float = 0.01) -> int:
    """``srank_delta``: the fewest singular values of ``(N, d)`` features that hold ``1 - delta`` of their sum
    (0 for all-zero features)."""
    singular = torch.linalg.svdvals(features.detach().to(torch.float64))
    total = float(singular.sum())
    if total == 0.0:
        return 0
    cumulative = torch.cumsum(singular, 0) / total
    return int(torch.searchsorted(cumulative, torch.tensor(1.0 - delta, dtype=torch.float64))) + 1


def parameter_norm(parameters: Iterable[torch.Tensor]) -> float:
    """L2 norm of the tensors taken together."""
    return float(torch.sqrt(sum((p.detach().double() ** 2).sum() for p in parameters)))  # type: ignore[arg-type]


def measure(model: nn.Module, features: Callable[[], torch.Tensor], tau: float = 0.0, delta: float = 0.01,
            parameters: Iterable[torch.Tensor] | None = None) -> PlasticityReport:
    """Run ``features()`` (a forward pass of ``model`` on a probe batch returning ``(N, d)`` features) without
    gradient, recording the output of every ``nn.ReLU`` in ``model``; report dormancy, rank and the weight norm of
    ``parameters`` (``model``'s by default: pass the whole learner's when ``model`` is its encoder).

    Nothing of the model changes and no random number is drawn, so measuring does not alter a learner's course.
    """
    outputs: list[torch.Tensor] = []
    hooks = [module.register_forward_hook(lambda _m, _i, output: outputs.append(output))
             for module in model.modules() if isinstance(module, nn.ReLU)]
    try:
        with torch.no_grad():
            probe = features()
    finally:
        for hook in hooks:
            hook.remove()
    fraction, units = dormant_fraction(outputs, tau)
    weights = model.parameters() if parameters is None else parameters
    return PlasticityReport(fraction, stable_rank(probe.flatten(1), delta), parameter_norm(weights), units)
