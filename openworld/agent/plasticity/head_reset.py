"""Periodic resets of the output heads (Nikishin, Schwarzer, D'Oro, Bacon and Courville 2022, "The Primacy Bias in
Deep Reinforcement Learning").

Every ``every`` optimiser steps the learner's last layers (for PPO the policy and value heads) are re-initialised
as at the start, and the optimiser's state of their parameters is dropped, while the encoder keeps what it learnt.
Nikishin et al. show that an agent overfits its earliest experience (the primacy bias) and that resetting the last
layers periodically, while keeping the replay or the world, restores its ability to learn from new data.

What differs here: the paper resets every 2e5 updates of SAC/DQN with a replay buffer; PPO has no replay, so after
a reset the heads relearn from the next rollouts only, and the policy is briefly near-uniform (its output is
re-initialised small). ``every`` 5,000 optimiser steps (about 40,000 world steps at ppo's defaults: 16 minibatch
steps per 128-step rollout) is a starting point, not a measured optimum (``experiment=plasticity`` measures it). The
re-initialisation draws from the learner's generator, so runs stay exactly reproducible; the model must say what its
heads are (``heads()`` and ``initialise_heads(generator)``; ppo's ``ActorCritic`` does).

Example:
    >>> import torch
    >>> from torch import nn
    >>> class Tiny(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.body, self.head = nn.Linear(2, 2), nn.Linear(2, 1)
    ...     def heads(self):
    ...         return [self.head]
    ...     def initialise_heads(self, generator):
    ...         nn.init.zeros_(self.head.weight)
    >>> model = Tiny()
    >>> option = HeadReset(every=2)
    >>> option.attach(model)
    >>> optimizer = torch.optim.Adam(model.parameters())
    >>> option.after_step(model, optimizer, torch.Generator())  # step 1: nothing yet
    >>> bool(model.head.weight.abs().sum() > 0), option.resets
    (True, 0)
    >>> option.after_step(model, optimizer, torch.Generator())  # step 2: the head is re-initialised
    >>> model.head.weight.abs().sum().item(), option.resets
    (0.0, 1)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from openworld.agent.plasticity.base import PlasticityOption, register_option


@register_option
class HeadReset(PlasticityOption):
    """Re-initialise the model's heads, and drop their optimiser state, every ``every`` optimiser steps.

    Args:
        every: optimiser steps between resets (>= 1).
    """

    name = "head_reset"

    def __init__(self, every: int = 5000) -> None:
        if int(every) < 1:
            raise ValueError(f"head_reset every must be >= 1, got {every}")
        self.every = int(every)
        self.steps = 0
        self.resets = 0

    def attach(self, model: nn.Module) -> None:
        if not callable(getattr(model, "heads", None)) or not callable(getattr(model, "initialise_heads", None)):
            raise ValueError(f"plasticity option 'head_reset' needs a model with heads() and initialise_heads(); "
                             f"{type(model).__name__} has not")

    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
        self.steps += 1
        if self.steps % self.every:
            return
        with torch.no_grad():
            model.initialise_heads(generator)  # type: ignore[operator]
        for head in model.heads():  # type: ignore[operator]
            for parameter in head.parameters():
                optimizer.state.pop(parameter, None)  # Adam starts these afresh (its moments and step count)
        self.resets += 1

    def metrics(self) -> dict[str, float]:
        return {"resets": float(self.resets)}

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "resets": self.resets}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps, self.resets = int(state["steps"]), int(state["resets"])
