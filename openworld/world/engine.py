"""The batched world engine: ``B`` independent worlds, ``N`` bodies each, stepped as arrays.

One step is a fixed chain of named phases, each a short function over the state arrays::

    intent -> move -> interact -> metabolise -> hazards -> rules -> settle_deaths -> tick -> respawn
           -> apply_shifts            (observe is called separately, when an observation is needed)

``rules`` runs the world's custom Python rules (:mod:`openworld.world.rules`), if it has any, each with
its own generator; what they do to bodies comes back by cause in the :class:`StepOutcome`.

This module holds the step and the bodies' own phases; the rest lives by job: the flat-cell layout
(:mod:`~openworld.world.grid`), parameters in force (:mod:`~openworld.world.params`), lazy regrowth
(:mod:`~openworld.world.regrowth`), predators (:mod:`~openworld.world.hazards`), spawning
(:mod:`~openworld.world.spawning`), maps and map events (:mod:`~openworld.world.maps`), observations
(:mod:`~openworld.world.observation`) and the fast-forward of dead worlds
(:mod:`~openworld.world.fast_forward`).

Example:
    >>> from openworld.registry import load_world_spec
    >>> import numpy as np
    >>> engine = Engine(load_world_spec("Meadow-v0"), num_worlds=4)
    >>> engine.reset(seeds=[0, 1, 2, 3], rng_seed=0)
    >>> outcome = engine.step(np.zeros((4, 1), dtype=np.int64))
    >>> engine.state.clock.tolist()
    [1, 1, 1, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from openworld.enums import Vital
from openworld.world.fast_forward import advance_bodiless
from openworld.world.grid import WALKABLE, GridLayout
from openworld.world.hazards import hazards
from openworld.world.maps import MapWriter
from openworld.world.observation import Observer
from openworld.world.params import HEALTH, IS_INTERACT, MOVE_DIRECTION, NEEDS, ParameterTable, StepParams
from openworld.world.regrowth import NEVER_READY, geometric_delay
from openworld.world.rules import RULES, run_rules
from openworld.world.shifts import ShiftSchedule
from openworld.world.spawning import Spawner
from openworld.world.spec import WorldSpec
from openworld.world.state import WorldState, generator_names, make_rngs

__all__ = ["MAX_BODIES", "NEVER_READY", "Engine", "StepOutcome", "StepParams", "geometric_delay"]

SPAWN_STREAM = 0x737061776E  # "spawn": second seed word of a world's own initial-spawn generator
# The most bodies one world may hold: the cap on a world file's ``bodies``, for every way of asking for bodies.
# Each body's view looks up every other body ((B, N, N) offsets in the observation), so memory grows with N
# squared: 65 MiB per observation at 2,048 bodies, against 0.1 MiB at 64.
MAX_BODIES = int(next(f.metadata["hi"] for f in fields(WorldSpec) if f.name == "bodies"))


@dataclass
class StepOutcome:
    """What happened to each body during one step (every array ``(B, N)``).

    ``damage`` and ``predator_damage`` keep their long-standing meaning (the envs' events read them);
    ``damage_by_cause`` has every cause apart, rules included, and ``events`` the flags rules raised.
    """

    died: np.ndarray  # bool
    respawned: np.ndarray  # bool
    consumed: np.ndarray  # int: resource index eaten this step, -1 for none
    damage: np.ndarray  # float: health lost to predators and starvation
    predator_damage: np.ndarray  # float: the part of ``damage`` dealt by predators
    # cause -> float health lost: "starvation", "predator", and the id of each rule that reported damage
    damage_by_cause: dict[str, np.ndarray] = field(default_factory=dict)
    events: dict[str, np.ndarray] = field(default_factory=dict)  # "<rule id>.<event>" -> bool, raised by rules


class Engine:
    """``B`` worlds of one spec, stepped together.

    Args:
        spec: the world spec.
        num_worlds: ``B``.
        bodies: bodies per world (default: the spec's ``bodies``).
        auto_respawn: respawn dead bodies inside :meth:`step` once their delay is over
            (``on_death="respawn"``); otherwise they wait for :meth:`respawn_when_ready`.
    """

    def __init__(self, spec: WorldSpec, num_worlds: int, bodies: int | None = None,
                 auto_respawn: bool = False) -> None:
        for name, count in (("num_worlds", num_worlds), ("bodies", bodies)):  # 2.5 would silently become 2
            if count is not None and (isinstance(count, bool) or not isinstance(count, int | np.integer)):
                raise ValueError(f"{name} must be an integer, got {count!r}")
        if num_worlds < 1:
            raise ValueError(f"num_worlds must be >= 1, got {num_worlds}")
        self.spec = spec
        self.schedule = ShiftSchedule(spec)
        self.num_worlds = int(num_worlds)
        self.num_bodies = spec.bodies if bodies is None else int(bodies)
        if not 1 <= self.num_bodies <= MAX_BODIES:
            raise ValueError(f"bodies must be from 1 to {MAX_BODIES} (the cap on a world file's bodies), "
                             f"got {self.num_bodies}")
        self.num_predators = spec.hazards.predator.max_count
        self.auto_respawn = auto_respawn
        self.view = spec.observation.view
        self.radius = self.view // 2
        self.height, self.width = spec.map.size
        self.grid = GridLayout(self.height, self.width, border=self.radius)  # the flat-cell layout, for rules
        self.padded_shape = self.grid.padded_shape
        self.num_resources = len(spec.resources)
        self.rules = [RULES[rule_id] for rule_id in spec.rules]
        self.walkable = WALKABLE
        self.parameters = ParameterTable(spec, self.schedule, self.num_predators)
        self.maps = MapWriter(spec, self.grid, self.schedule.index, self.parameters.columns["density"])
        self.spawner = Spawner(self.grid, spec.name, self.parameters.columns, self.num_predators)
        self.observer = Observer(self.grid, self.view, spec.resource_kinds, self.num_predators)
        self._world_indices: dict[int, np.ndarray] = {}
        self._params: StepParams | None = None
        self._params_valid = (0, -1)  # clock range [lo, hi) over which self._params holds
        self.state: WorldState = None  # type: ignore[assignment]  # set by reset()

    # ================================================================== lifecycle
    def reset(self, seeds: Sequence[int], rng_seed: int) -> None:
        """Generate every world: world ``b`` from ``seeds[b]``; per-phase generators from ``rng_seed``."""
        if len(seeds) != self.num_worlds:
            raise ValueError(f"expected {self.num_worlds} seeds, got {len(seeds)}")
        B, N = self.num_worlds, self.num_bodies
        self.state = WorldState.zeros(self.sizes(), rngs=make_rngs(rng_seed, [rule.rule_id for rule in self.rules]))
        self.state.world_seed[:] = np.asarray(seeds, dtype=np.int64)
        self._params_valid = (0, -1)
        params = self.params()
        for b in range(B):
            self.maps.generate(self.state, b, params.theta[b])
            # Initial bodies and predators come from the world's own seed, so world b of a batch
            # starts exactly as a single world generated from seeds[b].
            spawn_rng = np.random.default_rng([int(seeds[b]), SPAWN_STREAM])
            mask = np.zeros((B, N), dtype=bool)
            mask[b] = True
            self.spawner.bodies(self.state, mask, params.theta, spawn_rng)
            self.spawner.predators(self.state, np.array([b]), spawn_rng)

    def regenerate(self, seeds: Sequence[int]) -> None:
        """Make new maps from new seeds, keeping clocks and generators (``options={"regenerate": True}``)."""
        s = self.state
        s.world_seed[:] = np.asarray(seeds, dtype=np.int64)
        params = self.params()
        for b in range(self.num_worlds):
            self.maps.generate(s, b, params.theta[b])
        self.spawner.bodies(s, s.alive.copy(), params.theta, s.rngs["respawn"], reset_vitals=False)
        self.spawner.predators(s, np.arange(self.num_worlds), s.rngs["hazards"])

    def sizes(self) -> dict[str, int]:
        """The named sizes of this engine's state arrays (see :meth:`WorldState.schema`)."""
        Hp, Wp = self.padded_shape
        return {"B": self.num_worlds, "N": self.num_bodies, "P": self.num_predators, "K": len(Vital),
                "Hp": Hp, "Wp": Wp}

    def check_state(self, state: WorldState) -> None:
        """Raise ``ValueError`` naming the first array whose shape or dtype does not fit this engine
        (e.g. a saved state of another world or another number of envs), or a wrong set of generators."""
        arrays = state.array_fields()
        for name, (shape, dtype) in WorldState.schema(self.sizes()).items():
            array = arrays[name]
            if array.shape != shape or array.dtype != dtype:
                raise ValueError(f"saved state does not fit {self.spec.name} ({self.num_worlds} worlds x "
                                 f"{self.num_bodies} bodies): {name} is {array.dtype}{list(array.shape)}, "
                                 f"expected {dtype}{list(shape)}")
        expected = generator_names([rule.rule_id for rule in self.rules])
        if set(state.rngs) != set(expected):
            raise ValueError(f"saved state has generators {sorted(state.rngs)}, expected {sorted(expected)}")

    def load_state(self, state: WorldState) -> None:
        """Install a saved state after :meth:`check_state`. The parameter cache stays: parameters are a
        function of the clocks alone, and :meth:`params` re-checks the clocks on every call."""
        self.check_state(state)
        self.state = state

    # ================================================================== parameters
    def params(self) -> StepParams:
        """Parameters in force for the worlds' current clocks (cached between schedule breakpoints)."""
        if self._params_current():
            assert self._params is not None
            return self._params
        lo, _ = self._clock_range()
        self._params = self.parameters.build(self.schedule.values(self.state.clock))
        self._params_valid = (lo, self.schedule.constant_until(lo))
        return self._params

    def _params_current(self) -> bool:
        """The cached parameters hold for every world's clock (parameters depend on clocks only)."""
        lo, hi = self._clock_range()
        return self._params is not None and self._params_valid[0] <= lo and hi < self._params_valid[1]

    def _clock_range(self) -> tuple[int, int]:
        clock = self.state.clock
        if clock.shape[0] == 1:
            t = int(clock[0])
            return t, t
        return int(clock.min()), int(clock.max())

    # ================================================================== the step
    def step(self, actions: np.ndarray) -> StepOutcome:
        """Advance every world by one step.

        Args:
            actions: ``(B, N)`` integer :class:`~openworld.enums.Action` values, already validated
                by the caller. Actions of dead bodies are ignored.
        """
        s = self.state
        p = self.params()
        base = self._world_base(s)
        direction, moving, interacting = self._intent(s, p, actions)
        self._move(s, base, direction, moving)
        consumed = self._interact(s, p, base, interacting)
        starvation = self._metabolise(s, p, actions)
        predator_damage = hazards(s, p, self.grid, base) if p.any_predators else self._no_damage(s)
        rule_damage, events = run_rules(self.rules, self, s, p.rules) if self.rules else ({}, {})
        died = self._settle_deaths(s)
        s.clock += 1
        respawned = self._respawn(s) if self.auto_respawn else self._no_event(s)
        self._apply_shifts(s)
        return StepOutcome(died=died, respawned=respawned, consumed=consumed,
                           damage=starvation + predator_damage, predator_damage=predator_damage,
                           damage_by_cause={"starvation": starvation, "predator": predator_damage, **rule_damage},
                           events=events)

    def _intent(self, s: WorldState, p: StepParams,
                actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Turn actions into a facing direction and what each body attempts."""
        alive = s.alive
        move_dir = MOVE_DIRECTION[actions]
        moving = alive & (move_dir >= 0)
        if p.any_rotation:
            move_dir = (move_dir + p.rotation) % 4
        if p.any_slip:
            rng = s.rngs["intent"]
            slipped = rng.random(moving.shape) < p.slip
            move_dir = np.where(slipped, rng.integers(0, 4, moving.shape), move_dir)
        direction = np.where(moving, move_dir, s.body_dir)
        s.body_dir = direction
        return direction, moving, alive & IS_INTERACT[actions]

    def _move(self, s: WorldState, base: np.ndarray, direction: np.ndarray, moving: np.ndarray) -> None:
        """Step moving bodies into free walkable cells; a cell holding a resource (a bush, a spring)
        blocks, so a move toward it just turns the body to face it. Bodies may share a cell."""
        target = s.body_cell + self.grid.move_offsets[direction]
        flat = target + base
        ok = moving & self.walkable[s.terrain.reshape(-1)[flat]] & (s.resource.reshape(-1)[flat] == 0)
        s.body_cell = np.where(ok, target, s.body_cell)

    def _interact(self, s: WorldState, p: StepParams, base: np.ndarray, interacting: np.ndarray) -> np.ndarray:
        """Consume the available resource in each interacting body's faced cell.

        Two bodies claiming one cell in the same step: the lower body index gets it.
        Returns ``(B, N)`` resource index consumed, -1 for none.
        """
        consumed = np.full(interacting.shape, -1, dtype=np.int64)
        if not interacting.any():
            return consumed
        b_idx, n_idx = np.nonzero(interacting)  # row-major: lower body index first within a world
        cell = (s.body_cell[b_idx, n_idx] + self.grid.move_offsets[s.body_dir[b_idx, n_idx]]) + base[b_idx, 0]
        kind = s.resource.reshape(-1)[cell].astype(np.int64)
        ok = (kind > 0) & (s.ready_at.reshape(-1)[cell] <= s.clock[b_idx])
        if self.num_bodies > 1 and ok.any():
            claimed = np.flatnonzero(ok)
            _, first = np.unique(cell[claimed], return_index=True)
            ok = np.zeros_like(ok)
            ok[claimed[first]] = True
        if not ok.any():
            return consumed
        b_idx, n_idx, cell, kind = b_idx[ok], n_idx[ok], cell[ok], kind[ok]
        gained = s.vitals[b_idx, n_idx] + p.effects[b_idx, kind]
        s.vitals[b_idx, n_idx] = np.minimum(np.maximum(gained, 0.0), p.vital_max[b_idx, 0])
        delay = geometric_delay(p.regrow[b_idx, kind], s.rngs["regrowth"].random(kind.shape))
        s.ready_at.reshape(-1)[cell] = np.minimum(s.clock[b_idx] + delay, NEVER_READY)
        consumed[b_idx, n_idx] = kind - 1
        return consumed

    def _metabolise(self, s: WorldState, p: StepParams, actions: np.ndarray) -> np.ndarray:
        """Decay and the energy cost or gain of the action (one table look-up), then starvation damage
        for each empty need and healing while all needs are comfortable. Returns starvation (B, N).

        A move costs energy whether or not the way was free: the body tried."""
        v = s.vitals
        alive = s.alive
        v -= p.action_cost[self._world_index(s), actions] * alive[..., None]
        np.maximum(v, 0.0, out=v)
        np.minimum(v, p.vital_max, out=v)
        needs = v[..., NEEDS]
        starvation = np.add.reduce(needs <= 0.0, axis=-1) * p.starvation_damage * alive
        health = v[..., HEALTH]
        # A body at health 0 (a lethal poison this step) does not heal: it dies.
        comfortable = np.logical_and.reduce(needs > p.comfort_level, axis=-1) & alive & (health > 0.0)
        health += p.heal_rate * comfortable - starvation
        np.minimum(health, p.health_max, out=health)
        return starvation

    def _settle_deaths(self, s: WorldState) -> np.ndarray:
        """Bodies whose health reached zero die; they may come back after the respawn delay."""
        died = s.alive & (s.vitals[..., HEALTH] <= 0.0)
        if died.any():
            s.alive = s.alive & ~died
            s.deaths = s.deaths + died
            s.respawn_at = np.where(died, s.clock[:, None] + 1 + self.spec.body.respawn_delay, s.respawn_at)
            s.vitals[died] = 0.0
        return died

    def _respawn(self, s: WorldState) -> np.ndarray:
        ready = ~s.alive & (s.respawn_at <= s.clock[:, None])
        if ready.any():
            self.spawner.bodies(s, ready, self.params().theta, s.rngs["respawn"])
        return ready

    def respawn_when_ready(self, mask: np.ndarray) -> None:
        """Bring back the dead bodies in ``mask`` whose delay is over (``on_death="terminate"``)."""
        ready = mask & ~self.state.alive & (self.state.respawn_at <= self.state.clock[:, None])
        if ready.any():
            self.spawner.bodies(self.state, ready, self.params().theta, self.state.rngs["respawn"])

    def _apply_shifts(self, s: WorldState) -> None:
        """Refresh parameters at breakpoints and fire map events (regenerate / relocate)."""
        if self._params_current():
            return
        if self.schedule.has_map_events:
            for b in np.flatnonzero(self.schedule.map_event_mask(s.clock)):
                for event in self.schedule.map_events_at(int(s.clock[b])):
                    self.maps.apply_event(s, int(b), event, self.schedule.values(s.clock[b:b + 1])[0])
        # A shift may lower a vital's maximum: vitals never exceed the maximum in force.
        np.minimum(s.vitals, self.params().vital_max, out=s.vitals)

    # ================================================================== small cached arrays
    def _world_base(self, s: WorldState) -> np.ndarray:
        """(B, 1) offset of each world's first cell in the flattened grids of ``s``."""
        return self.grid.world_base(s.clock.shape[0])

    def world_base(self) -> np.ndarray:
        """(B, 1) offset of each world's first cell of the current state (a sub-batch's, inside a
        fast-forward): ``grid.reshape(-1)[cell + world_base()]`` reads a ``(B, N)`` array of flat cells
        from a ``(B, Hp, Wp)`` grid. For use in rules (see :class:`~openworld.world.grid.GridLayout`)."""
        return self._world_base(self.state)

    def _world_index(self, s: WorldState) -> np.ndarray:
        """(B, 1) world numbers, for indexing per-world tables with (B, N) arrays."""
        B = s.clock.shape[0]
        index = self._world_indices.get(B)
        if index is None:
            index = self._world_indices[B] = np.arange(B)[:, None]
        return index

    def _no_damage(self, s: WorldState) -> np.ndarray:
        return np.zeros(s.alive.shape)

    def _no_event(self, s: WorldState) -> np.ndarray:
        return np.zeros(s.alive.shape, dtype=bool)

    # ================================================================== observation
    def observe(self) -> tuple[np.ndarray, np.ndarray]:
        """Egocentric views ``(B, N, V, V, 3)`` uint8 and vitals ``(B, N, K)`` float32 in [0, 1]."""
        return self.observer.observe(self.state, self.params())

    # ================================================================== sub-batches
    def wait_for_respawn(self, worlds: np.ndarray, short_by: int = 0) -> None:
        """Let these worlds run on their own until their dead bodies' respawn delay is over (less
        ``short_by`` steps, when the caller's next batched step is the last one of the wait); worlds
        that wait equally long run as one batch."""
        state = self.state
        remaining = state.respawn_at[worlds].max(axis=1) - state.clock[worlds] - short_by
        for wait in np.unique(remaining):
            if wait > 0:
                self.advance_worlds(worlds[remaining == wait], int(wait))

    def advance_worlds(self, worlds: np.ndarray, steps: int) -> None:
        """Run some worlds alone for ``steps`` steps with their bodies idle, e.g. while a body waits
        to respawn after ``terminated``.

        A world whose bodies are all dead changes only through its predators (which wander: nobody
        is in sight), its clock and its map events, since regrowth is lazy and parameters follow the
        clock; such worlds take a fast path that runs just those parts. Worlds with a living body,
        and every world with custom rules (which may act on an empty world, so they run here as in
        any step), run the full phases on a sub-state.
        """
        if steps <= 0 or worlds.size == 0:
            return
        if not self.state.alive[worlds].any() and not self.rules:  # a rule may act on an empty world
            advance_bodiless(self.state, worlds, steps, self.schedule, self.parameters, self.grid, self.maps)
        else:
            self._advance_substate(worlds, steps)
        # No cache invalidation needed: params() re-checks the clock range on every call.

    def _advance_substate(self, worlds: np.ndarray, steps: int) -> None:
        full, cached = self.state, (self._params, self._params_valid)
        sub = full.take(worlds)
        self.state, self._params, self._params_valid = sub, None, (0, -1)
        try:
            idle = np.zeros(sub.alive.shape, dtype=np.int64)
            for _ in range(steps):
                self.step(idle)
        finally:
            self.state = full
            self._params, self._params_valid = cached
        full.put(worlds, sub)

