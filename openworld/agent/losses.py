"""The pieces of PPO's loss every on-policy learner here shares (``ppo``, the skill controllers, the skill
libraries): a masked mean (the autoreset step and padding are masked out), advantages normalised over a
minibatch's valid entries, and the clipped surrogate (Schulman et al. 2017).

Example:
    >>> import torch
    >>> mask = torch.tensor([True, True, False])
    >>> float(masked_mean(torch.tensor([1.0, 3.0, 100.0]), mask))
    2.0
    >>> advantages, std = normalised_advantages(torch.tensor([1.0, 3.0, 100.0]), mask)
    >>> [round(float(a), 3) for a in advantages[:2]], round(float(std), 3)
    ([-1.0, 1.0], 1.0)
"""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the ``True`` entries of ``mask`` (0 when there are none)."""
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1.0)


def normalised_advantages(advantages: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A - mean) / std`` over the valid entries, and that ``std`` (plus 1e-8; a loss term on the advantages'
    scale, such as ``ppo-prior``'s KL, divides by it too)."""
    mean = masked_mean(advantages, mask)
    std = masked_mean((advantages - mean) ** 2, mask).sqrt() + 1e-8
    return (advantages - mean) / std, std


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                      clip_coef: float) -> torch.Tensor:
    """PPO's clipped policy loss ``E[max(-A r, -A clip(r, 1 - eps, 1 + eps))]`` over the valid entries."""
    clipped = ratio.clamp(1 - clip_coef, 1 + clip_coef)
    return masked_mean(torch.maximum(-advantages * ratio, -advantages * clipped), mask)
