"""Training a prior offline: minibatch epochs over a dataset's examples, a validation split of whole episodes,
validation at a set cadence, early stopping on the prior's :attr:`~openworld.prior.base.Prior.monitor` figure,
and the best weights kept.

Every method module supplies only what differs (``examples``, ``loss``, ``evaluate``); the loop, the optimiser
(Adam), the gradient clipping and the curves are here, once.

Determinism: the split comes from ``seed`` (NumPy), the minibatch order and every draw inside ``loss`` from one
``torch.Generator`` seeded with ``seed``; the same data, settings and seed give the same prior (one torch thread).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

from openworld.errors import PriorError, brief
from openworld.prior.base import FitResult, LogFunction, Prior, seeded_generator
from openworld.prior.transitions import TransitionData


@dataclass(frozen=True)
class OfflineSettings:
    """How an offline prior is trained (the ``training`` node of a prior's pretrain config).

    Attributes:
        batch_size: examples per update.
        learning_rate: Adam's step size.
        weight_decay: Adam's (L2) weight decay.
        max_epochs: passes over the training examples, at most.
        max_updates: updates at most (0: no limit but ``max_epochs``).
        eval_every: updates between validations (0: once per epoch).
        patience: validations without a new best :attr:`Prior.monitor` before stopping early (0: never stop early).
        min_improvement: how much lower than the best a validation figure must be to count as better.
        validation_fraction: the share of episodes held out for validation.
        max_validation_examples: validation examples evaluated each time, at most (a fixed random subset).
        grad_clip: the gradients' global norm is clipped to this (0: no clipping).
    """

    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    max_epochs: int = 20
    max_updates: int = 0
    eval_every: int = 0
    patience: int = 3
    min_improvement: float = 1e-4
    validation_fraction: float = 0.1
    max_validation_examples: int = 50_000
    grad_clip: float = 1.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> OfflineSettings:
        """Settings from a config node, refusing unknown keys and values out of range (a :class:`PriorError`)."""
        known = {item.name: item for item in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise PriorError(f"training: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
        settings = cls(**{key: setting_number(key, value, type(getattr(cls(), key))) for key, value in values.items()})
        positive = ("batch_size", "learning_rate", "max_epochs", "max_validation_examples")
        for name in positive:
            if not getattr(settings, name) > 0:
                raise PriorError(f"training.{name} must be > 0, got {brief(getattr(settings, name))}")
        for name in ("weight_decay", "max_updates", "eval_every", "patience", "min_improvement", "grad_clip"):
            if not getattr(settings, name) >= 0:
                raise PriorError(f"training.{name} must be >= 0, got {brief(getattr(settings, name))}")
        return settings


def setting_number(key: str, value: Any, kind: type) -> Any:
    """``value`` as an int or float training setting, refusing bools, strings and ints given as fractions (a
    :class:`PriorError` naming ``training.<key>``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or \
            (kind is int and value != int(value)):
        raise PriorError(f"training.{key} must be {'an integer' if kind is int else 'a finite number'}, got "
                         f"{brief(value)}")
    return kind(value)


def fit_offline(prior: Prior, data: TransitionData, settings: OfflineSettings, seed: int,
                log: LogFunction | None = None) -> FitResult:
    """Train ``prior`` on ``data`` in place (ending with its best validated weights); returns the figures.

    Raises:
        PriorError: data with too few episodes for a split, or a split that leaves one side without examples.
    """
    started = time.perf_counter()
    examples = np.asarray(prior.examples(data), np.int64)
    training_episodes, _ = data.split_episodes(settings.validation_fraction, seed)
    in_training = training_episodes[data.episode[examples]]
    train, validation = examples[in_training], examples[~in_training]
    if len(train) == 0 or len(validation) == 0:
        raise PriorError(f"{type(prior).__name__}: {len(examples)} examples in {data.num_episodes} episodes leave "
                         f"{len(train)} for training and {len(validation)} for validation; collect more data")
    if len(validation) > settings.max_validation_examples:
        validation = np.sort(np.random.default_rng(seed).choice(validation, settings.max_validation_examples,
                                                                replace=False))
    generator = seeded_generator(seed)
    optimiser = torch.optim.Adam(prior.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    batches_per_epoch = max(1, math.ceil(len(train) / settings.batch_size))
    eval_every = settings.eval_every or batches_per_epoch
    max_updates = settings.max_updates or settings.max_epochs * batches_per_epoch
    best_value, best_state, since_best = math.inf, copy.deepcopy(prior.state_dict()), 0
    curves: list[dict[str, float]] = []
    sums: dict[str, float] = {}
    counted, updates, samples, stopped_early = 0, 0, 0, False
    while updates < max_updates and not stopped_early:
        order = torch.randperm(len(train), generator=generator).numpy()
        for start in range(0, len(train), settings.batch_size):
            batch = train[order[start:start + settings.batch_size]]
            prior.train()
            loss, figures = prior.loss(data, batch, generator)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if settings.grad_clip:
                torch.nn.utils.clip_grad_norm_(prior.parameters(), settings.grad_clip)
            optimiser.step()
            updates += 1
            samples += len(batch)
            counted += 1
            for key, value in figures.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            if updates % eval_every and updates < max_updates:
                continue
            prior.eval()
            point = {"step": float(updates), "epoch": samples / len(train),
                     **{key: value / counted for key, value in sums.items()}, **prior.evaluate(data, validation)}
            sums, counted = {}, 0
            curves.append(point)
            for key, value in point.items():
                if log is not None and key != "step":
                    log(key, value, updates)
            value = point.get(prior.monitor, math.nan)
            if not math.isfinite(value):
                raise PriorError(f"{type(prior).__name__}: validation figure {prior.monitor} is {value} after "
                                 f"{updates} updates (known: {', '.join(point)}); lower the learning rate")
            if value < best_value - settings.min_improvement:
                best_value, best_state, since_best = value, copy.deepcopy(prior.state_dict()), 0
            else:
                since_best += 1
                stopped_early = bool(settings.patience) and since_best >= settings.patience
            if stopped_early or updates >= max_updates:
                break
    prior.load_state_dict(best_state)
    prior.eval()
    final = prior.evaluate(data, validation)
    return FitResult(metrics={**final, "data/validation_examples": float(len(validation)),
                              "data/training_examples": float(len(train))},
                     curves=curves, samples=samples, seconds=time.perf_counter() - started,
                     stopped_early=stopped_early, settings=asdict(settings))
