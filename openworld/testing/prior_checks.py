"""Conformance checks for priors (re-exported as ``openworld.testing.check_prior``).

:func:`check_prior` takes a prior (a module, a saved file's path or store id, or a registered kind built fresh)
and a world, and checks what agents rely on, on a batch of the world's own observations:

============== ==================================================================================
property       what must hold
============== ==================================================================================
spaces         the prior's observation and action spaces equal the world's; loading its saved file with
               another world's spaces is refused with a ``PriorError``
shapes         ``action_logits`` gives finite float logits ``(N, A)``; ``sample_skill`` gives None for
               ``skill_kind == "none"``, else finite ``(N, skill_dim)`` skills, one-hot rows when discrete;
               ``action_logits(obs, skill)`` accepts them
determinism    the same seed builds the same initial weights (kinds built from the registry); sampling skills
               with two generators seeded alike gives identical skills; the logits are the same when asked
               twice (no hidden randomness), and the global torch RNG is never drawn from
save_load      saved with ``save_prior`` and loaded with ``load_prior``, the prior has the same weights
               (every key, exactly) and gives the same logits and skills; ``config()`` rebuilds its
               architecture (the file holds no code, so a setting missing from ``config()`` fails here)
============== ==================================================================================

Example:
    >>> import openworld
    >>> from openworld.testing.prior_checks import check_prior
    >>> report = check_prior("bc", "Meadow-v0")
    >>> report.checked
    ('spaces', 'shapes', 'determinism', 'save_load')
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openworld.enums import Action
from openworld.errors import PriorError
from openworld.prior.base import Prior, observations_to_tensors, seeded_generator
from openworld.testing.world_report import check_skip

__all__ = ["PRIOR_PROPERTIES", "PriorCheckError", "PriorCheckReport", "check_prior"]

PRIOR_PROPERTIES = ("spaces", "shapes", "determinism", "save_load")
"""The properties :func:`check_prior` checks, in the order it checks them."""


class PriorCheckError(AssertionError):
    """A prior failed a :func:`check_prior` property.

    Attributes:
        property: the failed property, one of :data:`PRIOR_PROPERTIES`.
        key: what differed or was wrong, e.g. ``"action_logits"`` or ``"weights['encoder.project.0.weight']"``.
    """

    def __init__(self, prop: str, key: str, problem: str) -> None:
        self.property = prop
        self.key = key
        super().__init__(f"{prop}: {key}: {problem}")


@dataclass(frozen=True)
class PriorCheckReport:
    """What :func:`check_prior` checked; ``print`` it for a short summary."""

    prior: str
    world: str
    batch: int
    seed: int
    checked: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"check_prior({self.prior}, {self.world}, batch={self.batch}, seed={self.seed}): passed",
                 f"  checked: {', '.join(self.checked) or 'nothing'}"]
        lines.extend(f"  skipped {name}: {why}" for name, why in self.skipped.items())
        return "\n".join(lines)


def check_prior(prior: Prior | str | Path, world: str = "Meadow-v0", *, batch: int = 16, seed: int = 0,
                skip: Collection[str] = ()) -> PriorCheckReport:
    """Check that a prior keeps the contract agents rely on; raise :class:`PriorCheckError` if not.

    Args:
        prior: a :class:`~openworld.prior.base.Prior` module; a saved prior's path or store id (``*.prior``,
            ``meadow-bc-v0``); or a registered kind (``bc``, ``skill-vae-v0``), built untrained with ``seed``.
        world: the world whose observations and spaces it is checked on.
        batch: observations per check (drawn by living the world with random actions).
        seed: the seed of the world, of the draws and of a kind built fresh.
        skip: properties not to check (names from :data:`PRIOR_PROPERTIES`).

    Raises:
        PriorCheckError: naming the failed property and what was wrong (an exception the prior raises is
            re-raised as one).
        UnknownIdError, PriorError: an unknown world, kind, or prior file.
    """
    from openworld.registry import prior_entry, resolve_world_id

    check_skip(skip, PRIOR_PROPERTIES)
    world_id = resolve_world_id(world)
    observations, observation_space, action_space = _world_batch(world_id, batch, seed)
    if isinstance(prior, Prior):
        module, name, fresh = prior, type(prior).__name__, None
    else:
        text = str(prior)
        try:
            entry = prior_entry(text) if not text.endswith(".prior") and "/" not in text else None
        except KeyError:
            entry = None
        if entry is not None:
            module, name = entry.factory(observation_space, action_space, seed=seed), entry.prior_id
            fresh = entry
        else:
            from openworld.prior.format import load_prior

            module, name, fresh = load_prior(text), text, None
    checker = _PriorChecker(module, observations, observation_space, action_space, seed, frozenset(skip), fresh)
    checked = checker.run()
    return PriorCheckReport(name, world_id, batch, seed, checked, {key: "skipped" for key in skip})


def _world_batch(world_id: str, batch: int, seed: int) -> tuple[dict[str, torch.Tensor], Any, Any]:
    """``batch`` observations of the world, lived with seeded random actions (not only the first one)."""
    from openworld.envs.vector import OpenWorldVectorEnv

    envs = OpenWorldVectorEnv(batch, world=world_id)
    obs, _ = envs.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        obs, *_ = envs.step(rng.integers(0, len(Action), batch))
    tensors = observations_to_tensors(obs["view"], obs["vitals"])
    return tensors, envs.single_observation_space, envs.single_action_space


class _PriorChecker:
    def __init__(self, prior: Prior, observations: dict[str, torch.Tensor], observation_space: Any,
                 action_space: Any, seed: int, skip: frozenset[str], fresh: Any) -> None:
        self.prior, self.obs, self.seed, self.skip, self.fresh = prior, observations, seed, skip, fresh
        self.observation_space, self.action_space = observation_space, action_space
        self.batch = int(observations["vitals"].shape[0])

    def run(self) -> tuple[str, ...]:
        checks = {"spaces": self.spaces, "shapes": self.shapes, "determinism": self.determinism,
                  "save_load": self.save_load}
        done = []
        for name, check in checks.items():
            if name in self.skip:
                continue
            try:
                check()
            except PriorCheckError:
                raise
            except Exception as err:  # whatever the prior raises fails the property being checked
                raise PriorCheckError(name, type(self.prior).__name__, f"raised {type(err).__name__}: {err}") from err
            done.append(name)
        return tuple(done)

    # ---------------------------------------------------------------------------------------------- properties
    def spaces(self) -> None:
        for what, mine, world in (("observation_space", self.prior.observation_space, self.observation_space),
                                  ("action_space", self.prior.action_space, self.action_space)):
            if mine != world:
                raise PriorCheckError("spaces", what, f"the prior's {mine} differs from the world's {world}")
        with tempfile.TemporaryDirectory() as folder:
            path = self._save(Path(folder))
            from gymnasium import spaces

            from openworld.prior.format import load_prior

            other = spaces.Discrete(self.prior.num_actions + 1)
            try:
                load_prior(path, self.observation_space, other)
            except PriorError:
                return
            raise PriorCheckError("spaces", "load_prior", f"loading with the action space {other} was not refused")

    def shapes(self) -> None:
        skills = self._skills(seeded_generator(self.seed))
        logits = self._logits(skills)
        if logits.shape != (self.batch, self.prior.num_actions) or not logits.is_floating_point():
            raise PriorCheckError("shapes", "action_logits", f"expected float logits of shape "
                                  f"({self.batch}, {self.prior.num_actions}), got {tuple(logits.shape)} {logits.dtype}")
        if not torch.isfinite(logits).all():
            raise PriorCheckError("shapes", "action_logits", "holds non-finite values")
        kind = self.prior.skill_kind
        if kind not in ("none", "continuous", "discrete"):
            raise PriorCheckError("shapes", "skill_kind", f"must be none, continuous or discrete, got {kind!r}")
        if kind == "none":
            if skills is not None:
                raise PriorCheckError("shapes", "sample_skill", "a prior without skills must return None")
            return
        if skills is None or skills.shape != (self.batch, self.prior.skill_dim) or not torch.isfinite(skills).all():
            got = None if skills is None else tuple(skills.shape)
            raise PriorCheckError("shapes", "sample_skill", f"expected finite skills of shape ({self.batch}, "
                                  f"{self.prior.skill_dim}), got {got}")
        if kind == "discrete" and not (((skills == 0) | (skills == 1)).all() and (skills.sum(1) == 1).all()):
            raise PriorCheckError("shapes", "sample_skill", "discrete skills must be one-hot rows")

    def determinism(self) -> None:
        state = torch.random.get_rng_state()
        first = self._skills(seeded_generator(self.seed))
        second = self._skills(seeded_generator(self.seed))
        _same("determinism", "sample_skill (two generators seeded alike)", first, second)
        _same("determinism", "action_logits (asked twice)", self._logits(first), self._logits(first))
        if not torch.equal(state, torch.random.get_rng_state()):
            raise PriorCheckError("determinism", "global torch RNG", "the prior drew from the global generator; "
                                  "take every draw from the generator passed in")
        if self.fresh is not None:
            config = self.prior.config()
            one = self.fresh.factory(self.observation_space, self.action_space, seed=self.seed, **config)
            two = self.fresh.factory(self.observation_space, self.action_space, seed=self.seed, **config)
            _same_weights("determinism", one.state_dict(), two.state_dict(), "initial weights (same seed)")

    def save_load(self) -> None:
        from openworld.prior.format import load_prior

        with tempfile.TemporaryDirectory() as folder:
            loaded = load_prior(self._save(Path(folder)), self.observation_space, self.action_space)
        _same_weights("save_load", self.prior.state_dict(), loaded.state_dict(), "weights")
        skills = self._skills(seeded_generator(self.seed))
        _same("save_load", "sample_skill", skills, self._skills(seeded_generator(self.seed), loaded))
        _same("save_load", "action_logits", self._logits(skills), self._logits(skills, loaded))

    # ---------------------------------------------------------------------------------------------- helpers
    def _save(self, folder: Path) -> Path:
        from openworld.prior.format import save_prior

        path = folder / "checked.prior"
        save_prior(path, self.prior, seed=self.seed)
        return path

    def _skills(self, generator: torch.Generator, prior: Prior | None = None) -> torch.Tensor | None:
        module = prior or self.prior
        module.eval()
        with torch.no_grad():
            return module.sample_skill(self.obs, generator)

    def _logits(self, skills: torch.Tensor | None, prior: Prior | None = None) -> torch.Tensor:
        module = prior or self.prior
        module.eval()
        with torch.no_grad():
            return module.action_logits(self.obs, skills)


def _same(prop: str, key: str, first: torch.Tensor | None, second: torch.Tensor | None) -> None:
    if first is None and second is None:
        return
    if first is None or second is None or first.shape != second.shape or not torch.equal(first, second):
        raise PriorCheckError(prop, key, "differs")


def _same_weights(prop: str, first: dict[str, torch.Tensor], second: dict[str, torch.Tensor], what: str) -> None:
    if set(first) != set(second):
        raise PriorCheckError(prop, what, f"keys differ: {sorted(set(first) ^ set(second))[:5]}")
    for key in first:
        if first[key].shape != second[key].shape or not torch.equal(first[key], second[key]):
            raise PriorCheckError(prop, f"{what}[{key!r}]", "differs")
