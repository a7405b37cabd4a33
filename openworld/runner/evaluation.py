"""Zero-shot evaluation that reaches the shifts: a run's agent, frozen, in fresh worlds of its world's
training and held-out variants, scored with the lifetime's shift metrics.

The protocol (``docs/experiments.md``, "Zero-shot evaluation"):

1. **Which onsets.** Every shift's first onset; for a cyclic shift, the first onset of each of its
   regimes (:func:`scored_onsets`). Later turns of a cycle repeat what was already scored.
2. **Spans.** Around each such onset ``t`` the agent is recorded at the world clocks ``[t - before,
   t + after)`` (from clock 1 at the earliest, the lifetime's first recorded clock); spans that overlap or
   touch are merged (:func:`evaluation_spans`). A variant without shifts gets one span
   ``[1, 1 + before + after)``. Every onset inside a span (also later turns of a cycle) is scored.
3. **Clocks.** For each span ``[start, end)``, fresh worlds from the variant's seeds run on their own,
   without bodies, from clock 0 to ``start - 1`` (:func:`~openworld.world.fast_forward.run_without_bodies`:
   the parameters, map events, predators and custom rules follow the clock; nobody eats); there the bodies
   spawn and the frozen agent lives to the span's end. That world state does not depend on the agent, so
   it is computed once per run and restored for each later evaluation (:class:`Evaluator` keeps it). As in
   the lifetime, a step is recorded at the clock it brings the world to, so the span's ``end - start``
   steps are recorded at ``start, ..., end - 1``.
4. **Scores.** :func:`openworld.scoring.generalization.score_variant`: survival and mean wellbeing over
   the spans, each shift's drop, deficit, adaptation time and sustained return (censored when the span ends
   first), per variant and per world seed; :func:`~openworld.scoring.generalization.generalization_section`
   compares the splits.

The agent acts without ``observe``; its state (parameters, optimiser, generators, memory) is saved before
and restored after, so evaluating never changes the lifetime. The cost is ``before + after`` steps per
scored onset (fewer where spans merge) in ``num_envs`` worlds, per variant, per evaluation, plus the
one-off run to each span's start (fast without custom rules; Drought-v0's rule makes its latest span,
59,000 steps in, cost about 20 s once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from openworld.errors import RunError
from openworld.scoring import metrics
from openworld.scoring.generalization import Span, score_variant
from openworld.world.variants import variant_world_seeds

TRAIN_SPLIT = "train"


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


@dataclass(frozen=True)
class EvaluatedVariant:
    """One variant to evaluate: its name, split, spec (variant applied), seeds and spans."""

    name: str
    split: str
    spec: Any
    seeds: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]


def scored_onsets(schedule: Any) -> list[tuple[int, str, str]]:
    """``(t, kind, name)`` of the first onset of each shift (of each regime of a cyclic shift), by time.

    Example:
        >>> from openworld.registry import load_world_spec
        >>> from openworld.world.shifts import ShiftSchedule
        >>> scored_onsets(ShiftSchedule(load_world_spec("Seasons-v0")))
        [(10000, 'cyclic', 'winter'), (20000, 'cyclic', 'summer')]
    """
    if not schedule.shifts:
        return []
    horizon = max(shift.display_until() for shift in schedule.shifts) + 1  # two full cycles of a cyclic shift
    first: dict[tuple[str, str], int] = {}
    for event in schedule.events(0, horizon):
        first.setdefault((event.kind, event.name), event.t)
    return sorted((t, kind, name) for (kind, name), t in first.items())


def evaluation_spans(onsets: list[int], before: int, after: int) -> list[tuple[int, int]]:
    """The spans of recorded clocks ``[t - before, t + after)`` around the onsets, from clock 1 at the
    earliest, overlapping or touching ones merged; ``[(1, 1 + before + after)]`` without onsets.

    Example:
        >>> evaluation_spans([20000], before=1000, after=2000)
        [(19000, 22000)]
        >>> evaluation_spans([500, 2000, 9000], before=1000, after=2000)
        [(1, 4000), (8000, 11000)]
    """
    if not onsets:
        return [(1, 1 + before + after)]
    spans: list[tuple[int, int]] = []
    for t in sorted(onsets):
        start, end = max(1, t - before), t + after
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def evaluated_variants(spec: Any, splits: list[str], *, before: int, after: int,
                       names: Sequence[str] | None = None) -> list[EvaluatedVariant]:
    """The world's variants of ``splits`` (``openworld.variants``), in that order, with their spans; only those
    ``names`` lists when given.

    Raises:
        RunError: a name that is not a variant of ``splits`` (naming those there are).
    """
    if not getattr(spec, "variants", None):
        return []
    from openworld.variants import world_variants
    from openworld.world.shifts import ShiftSchedule

    available = [variant.name for split in splits for variant in world_variants(spec).split(split)]
    unknown = [name for name in names or () if name not in available]
    if unknown:
        raise RunError(f"evaluation.variants: {', '.join(unknown)} not among the {'/'.join(splits)} variants of "
                       f"the world ({', '.join(available)})")
    chosen = []
    for split in splits:
        for variant in world_variants(spec).split(split):
            if names is not None and variant.name not in names:
                continue
            variant_spec = variant.world_spec()
            onsets = [t for t, _, _ in scored_onsets(ShiftSchedule(variant_spec))]
            chosen.append(EvaluatedVariant(variant.name, variant.split, variant_spec, tuple(variant.seeds),
                                           tuple(evaluation_spans(onsets, before, after))))
    return chosen


@dataclass
class Evaluator:
    """Evaluates an agent on a world's training and held-out variants (see the module docstring).

    Args:
        spec: the world as configured (its variants are evaluated, whatever variant the run lives in).
        split: the split compared with ``train`` (``heldout``); the training variants are evaluated too.
        names: only these variants (``evaluation.variants``); None: every variant of the two splits.
        before: steps lived before each scored onset (``>= window``: the baseline window fits).
        after: steps lived from each scored onset (``>= window``: the drop window fits).
        num_envs: worlds per variant (the run's, so that a batched agent acts on the batch it knows).
        seed: the run's seed: which of the variant's seeds the worlds take when it lists more.
        window: ``W`` of the shift scores; tolerance: ``eps`` of the return and adaptation bands.
    """

    spec: Any
    split: str
    before: int
    after: int
    num_envs: int
    seed: int
    window: int = metrics.DEFAULT_WINDOW
    tolerance: float = metrics.DEFAULT_TOLERANCE
    names: Sequence[str] | None = None  # the variants evaluated (None: every one of the two splits)
    variants: list[EvaluatedVariant] = field(init=False)
    _starts: dict[tuple[str, int], bytes] = field(init=False, default_factory=dict)  # world states at span starts

    def __post_init__(self) -> None:
        splits = [TRAIN_SPLIT] + ([self.split] if self.split != TRAIN_SPLIT else [])
        self.variants = evaluated_variants(self.spec, splits, before=self.before, after=self.after, names=self.names)

    @property
    def has_held_out(self) -> bool:
        return any(variant.split != TRAIN_SPLIT for variant in self.variants)

    def world_seeds(self, variant: EvaluatedVariant) -> list[int]:
        """The variant's own (unseen) maps; the run's seed picks which when it lists more than num_envs."""
        if not variant.seeds:
            return [self.seed + 1_000_003 + i for i in range(self.num_envs)]
        return variant_world_seeds(variant.seeds, self.seed, self.num_envs)

    def evaluate(self, agent: Any) -> list[dict[str, Any]]:
        """One record per variant: ``variant``, ``split``, ``worlds`` and the scores of
        :func:`~openworld.scoring.generalization.score_variant`."""
        saved = agent.state_dict()
        frozen = FrozenAgent(agent)
        records = []
        try:
            for variant in self.variants:
                seeds = self.world_seeds(variant)
                spans = [self._live_span(frozen, variant, seeds, start, end) for start, end in variant.spans]
                records.append({"variant": variant.name, "split": variant.split, "worlds": self.num_envs,
                                **score_variant(spans, window=self.window, tolerance=self.tolerance)})
        finally:
            agent.load_state_dict(saved)
        return records

    def _live_span(self, agent: FrozenAgent, variant: EvaluatedVariant, seeds: list[int], start: int,
                   end: int) -> Span:
        from openworld.agent.lifetime import LifetimeState, StepRecord, live
        from openworld.envs.vector import OpenWorldVectorEnv
        from openworld.world.fast_forward import run_without_bodies

        envs = OpenWorldVectorEnv(self.num_envs, world=variant.spec, on_death="respawn")
        steps = end - start
        record = StepRecord(steps, self.num_envs)
        try:
            envs.reset(seed=seeds)
            key = (variant.name, start)
            if key not in self._starts:
                run_without_bodies(envs.engine, start - 1)  # the first step brings the clocks to start
                self._starts[key] = envs.get_state()
            envs.set_state(self._starts[key])
            obs, _ = envs.reset()  # no seed: the worlds carry on; nobody is dead, so nothing changes
            live(envs, agent, steps, state=LifetimeState(0, obs), on_step=record)
            onsets = [(e.t, e.kind, e.name) for e in envs.engine.schedule.events(start, end)]
        finally:
            envs.close()
        return Span(start, seeds, record.alive, record.wellbeing, record.deaths, onsets)
