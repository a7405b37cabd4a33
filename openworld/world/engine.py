"""The batched world engine: ``B`` independent worlds, ``N`` bodies each, stepped as arrays.

One step is a fixed chain of named phases, each a short function over the state arrays::

    intent -> move -> interact -> metabolise -> hazards -> rules -> settle_deaths -> tick -> respawn
           -> apply_shifts            (observe is called separately, when an observation is needed)

``rules`` runs the world's custom Python rules (:mod:`openworld.world.rules`), if it has any, each with
its own generator; what they do to bodies comes back by cause in the :class:`StepOutcome`.

Regrowth has no per-step phase: when ``interact`` depletes a cell it draws the cell's regrowth time
from the geometric distribution with the regrow probability in force (exactly the waiting time of a
per-step coin flip), and a cell is available once ``clock >= ready_at``. Regrowth therefore costs
nothing per step instead of a pass over every cell of every world. A shift of a regrow rate acts on
cells depleted after it.

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from openworld.enums import Action, Entity, Terrain, Vital
from openworld.world.generation import generate_terrain, place_resources
from openworld.world.grid import WALKABLE, GridLayout
from openworld.world.rules import RULES, run_rules
from openworld.world.shifts import NEVER, MapEvent, ShiftSchedule
from openworld.world.spec import WorldSpec
from openworld.world.state import WorldState, generator_names, make_rngs

# Lookup tables indexed by action value; plain ints rather than enum attributes in the hot path,
# because an IntEnum attribute lookup costs more than the numpy operation it feeds.
MOVE_DIRECTION = np.full(len(Action), -1, dtype=np.int64)
MOVE_DIRECTION[[Action.NORTH, Action.EAST, Action.SOUTH, Action.WEST]] = [0, 1, 2, 3]
IS_INTERACT = np.arange(len(Action)) == Action.INTERACT
IS_REST = np.arange(len(Action)) == Action.REST
HEALTH, ENERGY = int(Vital.HEALTH), int(Vital.ENERGY)
SELF_NORTH = int(Entity.SELF_NORTH)
NEEDS = slice(int(Vital.FOOD), int(Vital.ENERGY) + 1)  # food, water, energy: emptiness hurts health
assert [Vital.FOOD, Vital.WATER, Vital.ENERGY] == list(Vital)[NEEDS]
NEVER_READY = np.iinfo(np.int32).max  # ready_at is int32 (halves the view gather): worlds live < 2**31 steps
SPAWN_CANDIDATES = 64  # random cells tried per spawn before the exact (slower) fallback


@dataclass
class StepParams:
    """The tunable parameters in force, reshaped for broadcasting against the state arrays."""

    theta: np.ndarray  # (B, P) the raw parameter vectors
    decay: np.ndarray  # (B, 1, K)
    vital_max: np.ndarray  # (B, 1, K)
    effects: np.ndarray  # (B, R + 1, K): row 0 is "no resource"
    regrow: np.ndarray  # (B, R + 1)
    action_cost: np.ndarray  # (B, len(Action), K): vitals lost per step by action (decay, move, rest)
    starvation_damage: np.ndarray  # (B, 1)
    heal_rate: np.ndarray  # (B, 1)
    comfort_level: np.ndarray  # (B, 1, 3): food, water, energy above this = comfortable
    health_max: np.ndarray  # (B, 1)
    predator_count: np.ndarray  # (B, 1) int
    predator_active: np.ndarray  # (B, P) bool: the first ``count`` slots
    predator_speed: np.ndarray  # (B, 1)
    predator_sight: np.ndarray  # (B, 1)
    predator_damage: np.ndarray  # (B, 1)
    predator_reach: np.ndarray  # (B, 1)
    slip: np.ndarray  # (B, 1)
    rotation: np.ndarray  # (B, 1) int
    noise: np.ndarray  # (B, 1, 1)
    rules: dict[str, dict[str, np.ndarray]]  # rule id -> parameter -> (B, 1)
    any_predators: bool
    any_slip: bool
    any_rotation: bool
    any_noise: bool


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
        if num_worlds < 1:
            raise ValueError(f"num_worlds must be >= 1, got {num_worlds}")
        self.spec = spec
        self.schedule = ShiftSchedule(spec)
        self.num_worlds = num_worlds
        self.num_bodies = spec.bodies if bodies is None else int(bodies)
        if self.num_bodies < 1:
            raise ValueError(f"bodies must be >= 1, got {self.num_bodies}")
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
        self.grows_on = []
        for res in spec.resources.values():
            table = np.zeros(len(Terrain), dtype=bool)
            table[[Terrain[t.upper()] for t in res.grows_on]] = True
            self.grows_on.append(table)
        col = self.schedule.index
        vitals = [v.name.lower() for v in Vital]
        self._cols: dict[str, Any] = {
            "decay": [col[f"body.{v}.decay"] for v in vitals],
            "max": [col[f"body.{v}.max"] for v in vitals],
            "start": [col[f"body.{v}.start"] for v in vitals],
            "effects": [[col[f"resources.{r}.effects.{v}"] for v in vitals] for r in spec.resources],
            "regrow": [col[f"resources.{r}.regrow"] for r in spec.resources],
            "density": [col[f"resources.{r}.density"] for r in spec.resources],
        }
        width = self.padded_shape[1]
        # Flat-cell offsets: a move in each Direction, and every cell of a view around its centre.
        self._delta = self.grid.move_offsets
        rel = np.arange(self.view) - self.radius
        self._view_offsets = (rel[:, None] * width + rel[None, :]).reshape(-1)  # (V*V,) row-major
        self._slots = np.arange(self.num_predators)[None, :]  # (1, P) predator slot numbers
        self._world_indices: dict[int, np.ndarray] = {}
        self._batch_indices: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._row, self._col = self.grid.row_of, self.grid.col_of  # lookup tables: cheaper than divmod
        self._spare_slot = self.view * self.view
        self._offset_slots = self._make_offset_slots()
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
            self._generate_world(b, params.theta[b])
            # Initial bodies and predators come from the world's own seed, so world b of a batch
            # starts exactly as a single world generated from seeds[b].
            spawn_rng = np.random.default_rng([int(seeds[b]), 0x737061776E])
            mask = np.zeros((B, N), dtype=bool)
            mask[b] = True
            self._spawn_bodies(mask, params, rng=spawn_rng)
            self._spawn_predators(np.array([b]), rng=spawn_rng)

    def regenerate(self, seeds: Sequence[int]) -> None:
        """Make new maps from new seeds, keeping clocks and generators (``options={"regenerate": True}``)."""
        self.state.world_seed[:] = np.asarray(seeds, dtype=np.int64)
        params = self.params()
        for b in range(self.num_worlds):
            self._generate_world(b, params.theta[b])
        self._spawn_bodies(self.state.alive.copy(), params, reset_vitals=False)
        self._spawn_predators(np.arange(self.num_worlds))

    def _generate_world(self, b: int, theta: np.ndarray) -> None:
        s, r, col = self.state, self.radius, self.schedule.index
        rng = np.random.default_rng([int(s.world_seed[b]), 0x6D6170])  # the world's own map stream
        terrain = generate_terrain(
            (self.height, self.width), theta[col["map.feature_size"]], theta[col["map.water"]],
            theta[col["map.rock"]], theta[col["map.sand"]], theta[col["map.forest"]], rng)
        resource = place_resources(terrain, theta[self._cols["density"]], self.grows_on, rng)
        s.terrain[b] = Terrain.VOID
        s.terrain[b, r:r + self.height, r:r + self.width] = terrain
        s.resource[b] = 0
        s.resource[b, r:r + self.height, r:r + self.width] = resource
        s.ready_at[b] = 0

    def _make_offset_slots(self) -> np.ndarray:
        """View slot of every flat offset ``other_cell - body_cell`` (negative offsets index from the
        end), or the spare slot when outside the view.

        An offset ``d = dr * Wp + dc`` decodes uniquely into an in-view ``(dr, dc)``: map cells have
        ``|dc| <= W - 1``, so the other reading ``dc -+ Wp`` has ``|.| >= 2r + 1 > r`` and is never in view.
        """
        height, width = self.padded_shape
        table = np.full(2 * height * width, self._spare_slot, dtype=np.int64)
        rel = np.arange(-self.radius, self.radius + 1)
        for i, dr in enumerate(rel):
            for j, dc in enumerate(rel):
                table[dr * width + dc] = i * self.view + j  # negative offsets wrap to the end
        return table

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
        self._params = self._build_params(self.schedule.values(self.state.clock))
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

    def _build_params(self, theta: np.ndarray) -> StepParams:
        col, c = self.schedule.index, self._cols
        B, K = theta.shape[0], len(Vital)

        def one(path: str) -> np.ndarray:
            return theta[:, col[path]][:, None]

        effects = np.zeros((B, self.num_resources + 1, K))
        regrow = np.zeros((B, self.num_resources + 1))
        if self.num_resources:
            effects[:, 1:, :] = theta[:, np.array(c["effects"])]
            regrow[:, 1:] = theta[:, c["regrow"]]
        predator_count = one("hazards.predator.count").astype(np.int64)
        action_cost = np.repeat(theta[:, c["decay"]][:, None, :], len(Action), axis=1)
        action_cost[:, MOVE_DIRECTION >= 0, ENERGY] += one("body.move_cost")
        action_cost[:, int(Action.REST), ENERGY] -= theta[:, col["body.rest_gain"]]
        slip, rotation = one("dynamics.slip"), one("dynamics.rotation").astype(np.int64)
        noise = one("observation.noise")[:, :, None]
        return StepParams(
            theta=theta,
            decay=theta[:, c["decay"]][:, None, :],
            vital_max=theta[:, c["max"]][:, None, :],
            effects=effects,
            regrow=regrow,
            action_cost=action_cost,
            starvation_damage=one("body.starvation_damage"),
            heal_rate=one("body.heal_rate"),
            comfort_level=one("body.comfort")[:, :, None] * theta[:, c["max"]][:, None, NEEDS],
            health_max=theta[:, c["max"][HEALTH]][:, None],
            predator_count=predator_count,
            predator_active=self._slots < predator_count,
            predator_speed=one("hazards.predator.speed"),
            predator_sight=one("hazards.predator.sight"),
            predator_damage=one("hazards.predator.damage"),
            predator_reach=one("hazards.predator.reach"),
            slip=slip,
            rotation=rotation,
            noise=noise,
            rules={rule: {name: theta[:, col[f"rules.{rule}.{name}"]][:, None] for name in values}
                   for rule, values in self.spec.rules.items()},
            any_predators=bool(self.num_predators and predator_count.max() > 0),
            any_slip=bool(slip.max() > 0),
            any_rotation=bool(rotation.max() > 0),
            any_noise=bool(noise.max() > 0),
        )

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
        predator_damage = self._hazards(s, p, base) if p.any_predators else self._no_damage(s)
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
        target = s.body_cell + self._delta[direction]
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
        cell = (s.body_cell[b_idx, n_idx] + self._delta[s.body_dir[b_idx, n_idx]]) + base[b_idx, 0]
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

    def _hazards(self, s: WorldState, p: StepParams, base: np.ndarray) -> np.ndarray:
        """Predators bite every living body within reach, then move: toward the nearest living body
        in sight, else in a random direction. Returns predator damage (B, N)."""
        rng = s.rngs["hazards"]
        row, col, width = self._row, self._col, self.padded_shape[1]
        active = p.predator_active  # (B, P)
        body, pred = s.body_cell, s.pred_cell
        if body.shape[1] == 1:  # one body per world (every Gymnasium env): stay two-dimensional
            d_row = row[body] - row[pred]  # (B, P)
            d_col = col[body] - col[pred]
            a_row, a_col = np.abs(d_row), np.abs(d_col)
            dist = a_row + a_col
            bites = np.add.reduce((dist <= p.predator_reach) & active, axis=1, keepdims=True)  # (B, 1)
            chase = (dist <= p.predator_sight) & s.alive
        else:
            d_row3 = row[body][:, None, :] - row[pred][:, :, None]  # (B, P, N)
            d_col3 = col[body][:, None, :] - col[pred][:, :, None]
            dist3 = np.abs(d_row3) + np.abs(d_col3)
            bites = np.add.reduce((dist3 <= p.predator_reach[..., None]) & active[..., None], axis=1)  # (B, N)
            dist3 = dist3 + (~s.alive[:, None, :]) * NEVER  # the dead are out of sight
            pick = dist3.argmin(-1)[..., None]
            dist = np.take_along_axis(dist3, pick, -1)[..., 0]
            d_row = np.take_along_axis(d_row3, pick, -1)[..., 0]
            d_col = np.take_along_axis(d_col3, pick, -1)[..., 0]
            a_row, a_col = np.abs(d_row), np.abs(d_col)
            chase = dist <= p.predator_sight
        damage = bites * p.predator_damage * s.alive
        health = s.vitals[..., HEALTH]
        health -= damage
        np.maximum(health, 0.0, out=health)
        chase_step = np.where(a_row >= a_col, np.sign(d_row) * width, np.sign(d_col))
        s.pred_cell = self._move_predators(s, pred, base, rng.random((2,) + pred.shape), p, chase, chase_step)
        return damage

    def _move_predators(self, s: WorldState, pred: np.ndarray, base: np.ndarray, draws: np.ndarray,
                        p: StepParams, chase: np.ndarray | None = None,
                        chase_step: np.ndarray | None = None) -> np.ndarray:
        """Where these predators (flat cells ``pred``, worlds at ``base``) are after one move: an active
        predator steps, with probability ``speed``, toward its quarry where it ``chase``-s (one of
        ``chase_step``) and else in a random direction, if the cell there is free and walkable.
        ``draws``: ``(2, *pred.shape)`` uniforms (direction, then speed). Shared by the step's hazards
        phase and the fast-forward of bodiless worlds (where nobody is in sight)."""
        step = self._delta[(draws[0] * 4).astype(np.int64)]
        if chase is not None:
            step = np.where(chase, chase_step, step)
        target = pred + step
        flat = target + base
        ok = p.predator_active & (draws[1] < p.predator_speed) & self.walkable[s.terrain.reshape(-1)[flat]] & \
            (s.resource.reshape(-1)[flat] == 0)
        return np.where(ok, target, pred)

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
            self._spawn_bodies(ready, self.params())
        return ready

    def respawn_when_ready(self, mask: np.ndarray) -> None:
        """Bring back the dead bodies in ``mask`` whose delay is over (``on_death="terminate"``)."""
        ready = mask & ~self.state.alive & (self.state.respawn_at <= self.state.clock[:, None])
        if ready.any():
            self._spawn_bodies(ready, self.params())

    def _apply_shifts(self, s: WorldState) -> None:
        """Refresh parameters at breakpoints and fire map events (regenerate / relocate)."""
        if self._params_current():
            return
        if self.schedule.has_map_events:
            for b in np.flatnonzero(self.schedule.map_event_mask(s.clock)):
                for event in self.schedule.map_events_at(int(s.clock[b])):
                    self._apply_map_event(int(b), event)
        # A shift may lower a vital's maximum: vitals never exceed the maximum in force.
        np.minimum(s.vitals, self.params().vital_max, out=s.vitals)

    def _apply_map_event(self, b: int, event: MapEvent, at: int | None = None) -> None:
        s, r = self.state, self.radius
        rng = s.rngs["map"]
        clock = s.clock[b:b + 1] if at is None else np.array([at])
        theta = self.schedule.values(clock)[0]
        inner = (slice(r, r + self.height), slice(r, r + self.width))
        terrain = s.terrain[b][inner]
        kinds = list(range(self.num_resources)) if event.resource == "all" else \
            [list(self.spec.resources).index(event.resource)]
        if event.op == "regenerate":
            resource = s.resource[b][inner].copy()
            for kind in kinds:
                resource = place_resources(terrain, theta[self._cols["density"]], self.grows_on, rng,
                                           only=kind, existing=resource)
            s.resource[b][inner] = resource
            s.ready_at[b][inner] = np.where(np.isin(resource, np.array(kinds) + 1), 0, s.ready_at[b][inner])
            return
        # relocate: move a fraction of each kind's cells to empty eligible cells.
        resource, ready = s.resource[b][inner], s.ready_at[b][inner]
        for kind in kinds:
            cells = np.flatnonzero(resource == kind + 1)
            moving = cells[rng.random(cells.size) < event.fraction]
            free = np.flatnonzero(self.grows_on[kind][terrain] & (resource == 0))
            count = min(moving.size, free.size)
            if count == 0:
                continue
            moving = rng.permutation(moving)[:count]
            dest = rng.choice(free, size=count, replace=False)
            resource.flat[moving] = 0
            resource.flat[dest] = kind + 1
            ready.flat[dest] = 0

    # ================================================================== small cached arrays
    def _world_base(self, s: WorldState) -> np.ndarray:
        """(B, 1) offset of each world's first cell in the flattened grids."""
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

    # ================================================================== spawning
    def _random_walkable(self, worlds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniformly random free walkable cell (flat, padded) per entry of ``worlds``, shape ``(M,)``."""
        r, M, width = self.radius, worlds.shape[0], self.padded_shape[1]
        rows = rng.integers(r, r + self.height, (M, SPAWN_CANDIDATES))
        cols = rng.integers(r, r + self.width, (M, SPAWN_CANDIDATES))
        ok = self.walkable[self.state.terrain[worlds[:, None], rows, cols]] & \
            (self.state.resource[worlds[:, None], rows, cols] == 0)
        first = ok.argmax(1)
        cell = rows[np.arange(M), first] * width + cols[np.arange(M), first]
        for i in np.flatnonzero(~ok.any(1)):  # rare: a world almost without walkable land
            world = worlds[i]
            free = np.flatnonzero(self.walkable[self.state.terrain[world]] & (self.state.resource[world] == 0))
            if free.size == 0:
                raise ValueError(f"world {int(world)} of {self.spec.name} has no free walkable cell")
            cell[i] = free[rng.integers(free.size)]
        return cell

    def _spawn_bodies(self, mask: np.ndarray, params: StepParams, reset_vitals: bool = True,
                      rng: np.random.Generator | None = None) -> None:
        s = self.state
        b_idx, n_idx = np.nonzero(mask)
        if b_idx.size == 0:
            return
        rng = s.rngs["respawn"] if rng is None else rng
        s.body_cell[b_idx, n_idx] = self._random_walkable(b_idx, rng)
        s.body_dir[b_idx, n_idx] = rng.integers(0, 4, b_idx.size)
        if reset_vitals:
            start = params.theta[b_idx][:, self._cols["start"]]
            s.vitals[b_idx, n_idx] = np.minimum(start, params.theta[b_idx][:, self._cols["max"]])
            s.alive[b_idx, n_idx] = True

    def _spawn_predators(self, worlds: np.ndarray, rng: np.random.Generator | None = None) -> None:
        if self.num_predators == 0:
            return
        rng = self.state.rngs["hazards"] if rng is None else rng
        cells = self._random_walkable(np.repeat(worlds, self.num_predators), rng)
        self.state.pred_cell[worlds] = cells.reshape(worlds.size, self.num_predators)

    # ================================================================== observation
    def observe(self) -> tuple[np.ndarray, np.ndarray]:
        """Egocentric views ``(B, N, V, V, 3)`` uint8 and vitals ``(B, N, K)`` float32 in [0, 1]."""
        s, p, V = self.state, self.params(), self.view
        B, N = s.alive.shape
        cells = (s.body_cell + self._world_base(s))[..., None] + self._view_offsets  # (B, N, V*V)
        view = np.empty((B, N, V * V, 3), np.uint8)
        view[..., 0] = s.terrain.reshape(-1)[cells]
        view[..., 1] = self._visible_resources(s, cells)
        view[..., 2] = self._entities(s, p)
        if p.any_noise:
            rng = s.rngs["observation"]
            noisy = rng.random((B, N, V * V)) < p.noise
            view[..., 0] = np.where(noisy, rng.integers(1, len(Terrain), (B, N, V * V)), view[..., 0])
        vitals = (s.vitals / p.vital_max).astype(np.float32)
        return view.reshape(B, N, V, V, 3), vitals

    def _visible_resources(self, s: WorldState, cells: np.ndarray) -> np.ndarray:
        """Resource codes at these (B, N, C) flat cells: ``1 + k`` for kind ``k`` available,
        ``1 + R + k`` while it regrows, 0 for none.

        Only cells holding a resource consult ``ready_at`` (most cells hold none): at large B the
        full ``ready_at`` gather was the single largest cost of a step, being memory-bound.
        """
        code = s.resource.reshape(-1)[cells]
        held = np.flatnonzero(code)
        if held.size:
            per_world = cells.shape[1] * cells.shape[2]
            waiting = s.ready_at.reshape(-1)[cells.reshape(-1)[held]] > s.clock[held // per_world]
            code.reshape(-1)[held[waiting]] += self.num_resources
        return code

    def _entities(self, s: WorldState, p: StepParams) -> np.ndarray:
        """Entity codes around each body: itself (with its facing), other living bodies, predators.

        The view slot of an entity comes from one table look-up on the flat offset between the two
        cells (unambiguous because both lie inside the map, see ``_offset_slots``). Entities outside
        a view, or absent, land in a spare last slot that is then dropped.
        """
        B, N = s.alive.shape
        grid = np.zeros((B, N, self.view * self.view + 1), np.uint8)
        b_index, n_index = self._batch_index(B, N)
        for cells, code in self._entity_sources(s, p):  # (B, E) cells, (B, E) codes (0 = absent)
            slot = self._offset_slots[cells[:, None, :] - s.body_cell[:, :, None]]  # (B, N, E)
            slot = np.where(code[:, None, :] > 0, slot, self._spare_slot)
            grid[b_index, n_index, slot] = code[:, None, :]
        centre = self.radius * self.view + self.radius
        grid[:, :, centre] = np.where(s.alive, s.body_dir + SELF_NORTH, grid[:, :, centre])
        return grid[:, :, :-1]

    def _entity_sources(self, s: WorldState, p: StepParams) -> list[tuple[np.ndarray, np.ndarray]]:
        sources = []
        if s.alive.shape[1] > 1:
            sources.append((s.body_cell, s.alive * np.uint8(Entity.BODY)))
        if p.any_predators:
            sources.append((s.pred_cell, (self._slots < p.predator_count) * np.uint8(Entity.PREDATOR)))
        return sources

    def _batch_index(self, B: int, N: int) -> tuple[np.ndarray, np.ndarray]:
        """Broadcastable (B, 1, 1) and (1, N, 1) index arrays for scattering into (B, N, ·) grids."""
        key = (B, N)
        if key not in self._batch_indices:
            self._batch_indices[key] = (np.arange(B)[:, None, None], np.arange(N)[None, :, None])
        return self._batch_indices[key]

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
            self._advance_bodiless(worlds, steps)
        else:
            self._advance_substate(worlds, steps)
        # No cache invalidation needed: params() re-checks the clock range on every call.

    def _advance_bodiless(self, worlds: np.ndarray, steps: int) -> None:
        s = self.state
        rng = s.rngs["hazards"]
        base = self._world_base(s)[worlds]
        pred = s.pred_cell[worlds]
        clock = s.clock[worlds].copy()
        # Map events inside the fast-forward split it into stretches with an unchanging map.
        events = sorted((int(t - 1 - c), int(w), event) for w, c in zip(worlds, clock, strict=True)
                        for t, event in self.schedule.map_events_between(int(c), int(c) + steps)) \
            if self.schedule.has_map_events else []
        # Parameters are rebuilt per step only if a breakpoint falls inside the fast-forward.
        shifting = int(clock.max()) + steps >= self.schedule.constant_until(int(clock.min()))
        params = self._build_params(self.schedule.values(clock))
        draws = rng.random((steps, 2) + pred.shape) if params.any_predators or shifting else None
        for k in range(steps):
            if shifting and k:
                params = self._build_params(self.schedule.values(clock + k))
            if params.any_predators and draws is not None:
                pred = self._move_predators(s, pred, base, draws[k], params)
            while events and events[0][0] == k:  # events firing as this step ends
                _, w, event = events.pop(0)
                s.pred_cell[worlds] = pred
                self._apply_map_event(w, event, at=int(s.clock[w]) + k + 1)
        s.pred_cell[worlds] = pred
        s.clock[worlds] += steps

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


def geometric_delay(probability: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Steps until the first success of a per-step coin with this probability (>= 1; NEVER for 0).

    Inverse-CDF sampling from uniforms in [0, 1), so zero and tiny probabilities need no special
    generator call.
    """
    p = np.clip(probability, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.ceil(np.log1p(-uniform) / np.log1p(-p))
    steps = np.where(p >= 1.0, 1.0, np.where(p <= 0.0, float(NEVER), steps))
    return np.clip(np.nan_to_num(steps, nan=1.0, posinf=float(NEVER)), 1, NEVER).astype(np.int64)
