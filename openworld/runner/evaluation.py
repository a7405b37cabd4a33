"""Zero-shot evaluation of a run's agent on its world's held-out variants, in separate world instances
that never feed learning and leave the lifetime unchanged."""

from __future__ import annotations

from typing import Any

import numpy as np

from openworld.runner.counters import Counters


class FrozenAgent:
    """An agent that acts but never learns (``observe`` does nothing)."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.agent.act(obs))

    def observe(self, transition: Any) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return dict(self.agent.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state)


def held_out_variants(spec: Any, split: str) -> dict[str, tuple[Any, list[int]]]:
    """``{name: (spec, seeds)}`` of the world's variants in ``split`` (``openworld.variants``)."""
    if not getattr(spec, "variants", None):
        return {}
    from openworld.variants import world_variants

    return {variant.name: (variant.world_spec(), list(variant.seeds))
            for variant in world_variants(spec).split(split)}


def evaluate(agent: Any, held_out: dict[str, tuple[Any, list[int]]], *, steps: int, num_envs: int,
             seed: int) -> dict[str, dict[str, float]]:
    """The agent's interval scores (``Counters.interval``) after ``steps`` steps in each held-out variant.

    The agent acts in separate world instances without ``observe``; its state (parameters, optimiser,
    generators, memory) is saved before and restored after, so evaluating never changes the lifetime.
    """
    from openworld.agent.lifetime import LifetimeState, live
    from openworld.envs.vector import OpenWorldVectorEnv

    scores: dict[str, dict[str, float]] = {}
    saved = agent.state_dict()
    frozen = FrozenAgent(agent)
    try:
        for name, (variant_spec, variant_seeds) in held_out.items():
            envs = OpenWorldVectorEnv(num_envs, world=variant_spec, on_death="respawn")
            counters = Counters(clock=[0] * num_envs)
            # The variant's own (unseen) maps; the run's seed picks which when it lists more than num_envs.
            seeds = [variant_seeds[(seed + i) % len(variant_seeds)] for i in range(num_envs)] \
                if variant_seeds else [seed + 1_000_003 + i for i in range(num_envs)]
            try:
                obs, _ = envs.reset(seed=seeds)
                live(envs, frozen, steps, state=LifetimeState(0, obs),
                     on_step=lambda _, t: counters.add(t.info, t.next_obs["vitals"]))  # noqa: B023 (called now)
            finally:
                envs.close()
            scores[name] = counters.interval()
    finally:
        agent.load_state_dict(saved)
    return scores
