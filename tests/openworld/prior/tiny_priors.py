"""Small priors for the core's tests: a working behaviour prior, and priors built to fail ``check_prior``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from openworld.agent.networks import ViewEncoder, initialise_module, space_shape, view_code_sizes
from openworld.prior.base import Prior, seeded_generator
from openworld.prior.transitions import TransitionData
from openworld.registry import prior_ids, register_prior


class TinyPrior(Prior):
    """Behaviour cloning with a small encoder: the smallest real prior."""

    monitor = "val/nll"

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, seed: int = 0,
                 hidden_size: int = 16) -> None:
        super().__init__(observation_space, action_space)
        self.hidden_size = hidden_size
        with torch.random.fork_rng():
            self.encoder = ViewEncoder(space_shape(observation_space["view"])[0], view_code_sizes(observation_space),
                                       space_shape(observation_space["vitals"])[0], 2, 4, hidden_size)
            self.policy = nn.Linear(hidden_size, self.num_actions)
        initialise_module(self, seeded_generator(seed))

    def config(self) -> dict[str, Any]:
        return {"hidden_size": self.hidden_size}

    def action_logits(self, obs: dict[str, torch.Tensor], skill: torch.Tensor | None = None) -> torch.Tensor:
        return self.policy(self.encoder(obs["view"], obs["vitals"]))  # type: ignore[no-any-return]

    def examples(self, data: TransitionData) -> np.ndarray:
        return np.arange(data.num_steps, dtype=np.int64)

    def loss(self, data: TransitionData, examples: np.ndarray,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.action_logits(data.step_observations(examples))
        loss = nn.functional.cross_entropy(logits, torch.from_numpy(data.actions[examples]))
        return loss, {"train/nll": float(loss.detach())}

    @torch.no_grad()
    def evaluate(self, data: TransitionData, examples: np.ndarray) -> dict[str, float]:
        logits = self.action_logits(data.step_observations(examples))
        actions = torch.from_numpy(data.actions[examples])
        return {"val/nll": float(nn.functional.cross_entropy(logits, actions)),
                "val/accuracy": float((logits.argmax(1) == actions).float().mean())}


class ForgetsConfig(TinyPrior):
    """``config()`` leaves out ``hidden_size``: a saved one cannot be rebuilt."""

    def config(self) -> dict[str, Any]:
        return {}


class GlobalRandomSkills(TinyPrior):
    """Draws its skills from the global torch generator, not the one passed in."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skill_kind, self.skill_dim = "continuous", 3

    def sample_skill(self, obs: dict[str, torch.Tensor], generator: torch.Generator) -> torch.Tensor:
        return torch.randn(obs["vitals"].shape[0], 3)


class NotOneHot(TinyPrior):
    """Says its skills are discrete but returns codes that are not one-hot rows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skill_kind, self.skill_dim = "discrete", 4

    def sample_skill(self, obs: dict[str, torch.Tensor], generator: torch.Generator) -> torch.Tensor:
        return torch.full((obs["vitals"].shape[0], 4), 0.25)


class HiddenState(TinyPrior):
    """Keeps a bias outside its state_dict (a plain attribute): a saved copy acts differently."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offset = torch.zeros(self.num_actions)

    def action_logits(self, obs: dict[str, torch.Tensor], skill: torch.Tensor | None = None) -> torch.Tensor:
        return super().action_logits(obs, skill) + self.offset


class WrongShape(TinyPrior):
    """Returns one logit too many."""

    def action_logits(self, obs: dict[str, torch.Tensor], skill: torch.Tensor | None = None) -> torch.Tensor:
        logits = super().action_logits(obs, skill)
        return torch.cat([logits, logits[:, :1]], 1)


class UnseededInit(TinyPrior):
    """Initialises from the global generator: the same seed gives other weights."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, seed: int = 0,
                 hidden_size: int = 16) -> None:
        super().__init__(observation_space, action_space, seed, hidden_size)
        nn.init.normal_(self.policy.weight)


BROKEN = {"forgets-config-v0": ForgetsConfig, "global-random-skills-v0": GlobalRandomSkills,
          "not-one-hot-v0": NotOneHot, "hidden-state-v0": HiddenState, "wrong-shape-v0": WrongShape,
          "unseeded-init-v0": UnseededInit}

if "tiny-test-v0" not in prior_ids():
    register_prior("tiny-test-v0", TinyPrior, "a small behaviour prior for the core's tests")
    for kind, cls in BROKEN.items():
        register_prior(kind, cls, "built to fail check_prior")
