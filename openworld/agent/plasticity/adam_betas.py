"""Adam with equal moment rates, beta1 = beta2 (Dohare, Lan, Rahman, Mahmood and Sutton 2023, "Overcoming Policy
Collapse in Deep Reinforcement Learning").

With Adam's defaults (beta1 0.9, beta2 0.999) the second-moment estimate forgets ten times more slowly than the
first; when the gradients' scale changes, as it does when a non-stationary world shifts, the step size
``m / sqrt(v)`` grows far beyond the learning rate until ``v`` catches up, and large steps are what collapse a
policy late in a long run. Equal rates keep ``|m| / sqrt(v) <= 1``-sized steps. Dohare et al. use beta1 = beta2 =
0.99 with PPO, as the default here.

What differs here: nothing; the learner builds its Adam with ``betas=(beta, beta)``.

Example:
    >>> AdamBetas().optimizer_settings()
    {'betas': (0.99, 0.99)}
"""

from __future__ import annotations

from typing import Any

from openworld.agent.plasticity.base import PlasticityOption, register_option


@register_option
class AdamBetas(PlasticityOption):
    """The learner's Adam with ``betas=(beta, beta)``.

    Args:
        beta: both moment rates, in [0, 1).
    """

    name = "adam_betas"

    def __init__(self, beta: float = 0.99) -> None:
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError(f"adam_betas beta must lie in [0, 1), got {beta}")
        self.beta = float(beta)

    def optimizer_settings(self) -> dict[str, Any]:
        return {"betas": (self.beta, self.beta)}
