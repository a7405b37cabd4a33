"""The typed config of ``openworld run``: a structured schema of the root config's keys, and the checks
of the values a type cannot express.

The values and their comments live in ``experiments/conf/config.yaml``; the types live here. The schema
is registered in Hydra's ConfigStore as ``run_schema`` and listed in the root config's defaults after the
``world``, ``agent`` and ``prior`` groups, so that Hydra refuses a mistyped value (``steps=abc``) before a
run starts and the composed config keeps the keys and order it had as plain YAML.

``prior`` is not a field: an unset prior leaves no key in the composed config (so ``.hydra/config.yaml``,
Sacred's ``config.json`` and a checkpoint's config have none), while a chosen one is kept as an extra key
of the schema (OmegaConf keeps the keys merged before the schema).

Example:
    >>> from omegaconf import OmegaConf
    >>> schema = OmegaConf.structured(RunConfig)
    >>> OmegaConf.get_type(schema.monitor).__name__, OmegaConf.is_missing(schema, "steps")
    ('MonitorConfig', True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf, ValidationError

from openworld.errors import RunError, brief
from openworld.world.engine import MAX_BODIES
from openworld.world.spec import MAX_SEED
from openworld.world.variants import SPLITS

SCHEMA_NAME = "run_schema"
REPORTS = ("plots", "tables", "off")
PROGRESS_MODES = ("auto", "bar", "plain", "off")
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")  # a run's report label: a file name, no spaces or slashes


@dataclass
class MonitorConfig:
    """How the monitor records (``openworld.scoring.monitor``)."""

    window: int = MISSING  # 1: per-step records; W > 1: per-window aggregates
    chunk_rows: int = MISSING  # rows buffered before a chunk file is written


@dataclass
class MetricsConfig:
    """The scoring window and tolerance of ``docs/metrics.md``."""

    window: int = MISSING
    tolerance: float = MISSING


@dataclass
class EvaluationConfig:
    """Zero-shot evaluation on the world's training and held-out variants (``openworld.runner.evaluation``)."""

    every: int = MISSING  # world steps between evaluations (0: off); the run's end is evaluated too
    before: int = MISSING  # steps lived before each scored shift onset (>= metrics.window)
    after: int = MISSING  # steps lived from each scored shift onset (>= metrics.window)
    split: str = MISSING  # the variants compared with the training split's
    variants: list[str] | None = MISSING  # only these variants (None: every variant of the two splits)


@dataclass
class TrackingConfig:
    """Sacred's observers besides the run directory's file observer."""

    mongo_url: str | None = MISSING  # also record to MongoDB when set
    mongo_db: str = MISSING


@dataclass
class RunConfig:
    """The root config of ``openworld run`` (the meaning of each key: ``experiments/conf/config.yaml``)."""

    # Group nodes, typed Any: a world node is its world file (validated by openworld.world.spec, which names
    # the key at fault) and an agent node its factory's keywords (checked when the agent is built).
    world: Any = MISSING
    agent: Any = MISSING
    steps: int = MISSING
    seed: int = MISSING
    num_envs: int | None = MISSING  # None: the agent's own default (resolve_num_envs)
    on_death: str = MISSING
    bodies: int = MISSING
    threads: int = MISSING
    checkpoint_every: int = MISSING
    log_every: int = MISSING
    snapshots: list[int] = MISSING  # world steps at which the agent is saved (openworld.runner.snapshots)
    resume: Any = MISSING  # true, false or auto (OmegaConf has no union of bool and str)
    overwrite: bool = MISSING
    report: str = MISSING  # one of REPORTS (checked by check_run_config, whose message lists them)
    progress: str = MISSING  # one of PROGRESS_MODES (likewise)
    label: str | None = MISSING  # the name the report groups the run under (None: the agent and its options)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


RUN_CONFIG_KEYS = frozenset(item.name for item in fields(RunConfig))


def register_schema() -> None:
    """Store :class:`RunConfig` in Hydra's ConfigStore as ``run_schema`` (the root config lists it)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA_NAME, node=RunConfig)


@dataclass(frozen=True)
class ComposedConfig:
    """A composed config, typed and as recorded."""

    typed: RunConfig
    plain: dict[str, Any]  # every key, resolved: what Sacred and a checkpoint's header record
    prior: Any  # the chosen prior's node, or None


def read_run_config(cfg: DictConfig | Mapping[str, Any]) -> ComposedConfig:
    """The composed config as a :class:`RunConfig` (validated against the schema) and as plain data.

    Raises:
        RunError: naming the keys left ``???``, or a value of the wrong type (``steps=150.7``).
    """
    cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise RunError(f"{', '.join(missing)}: must be given (??? in the config), e.g. {missing[0]}=<value>")
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    plain: dict[str, Any] = {str(key): value for key, value in container.items()}
    schema = OmegaConf.structured(RunConfig)
    try:
        given = {key: plain[key] for key in RUN_CONFIG_KEYS if key in plain}
        typed = OmegaConf.to_object(OmegaConf.merge(schema, given))
    except ValidationError as err:  # a config given as data, not composed by Hydra (which refuses these itself)
        value: Any = plain
        for part in str(err.full_key).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        expected = str(err.msg).split(" to ")[-1].split("\n")[0] if " to " in str(err.msg) else "another type"
        raise RunError(f"{err.full_key} must be {expected.lower()}, got {brief(value)}") from None
    assert isinstance(typed, RunConfig)
    return ComposedConfig(typed, plain, plain.get("prior"))


def resolve_num_envs(composed: ComposedConfig, agent_num_envs: int) -> int:
    """Fill in ``num_envs: null`` (the root config's default) with the agent's own default, in the typed and
    the recorded config alike, so that Sacred, ``.hydra/config.yaml`` and a checkpoint hold the number used.

    Args:
        composed: the composed config, changed in place.
        agent_num_envs: the agent's registered default (``openworld.registry.register_agent``).

    Returns:
        The number of worlds the run lives in.
    """
    if composed.typed.num_envs is None:
        composed.typed.num_envs = agent_num_envs
        composed.plain["num_envs"] = agent_num_envs
    return composed.typed.num_envs


# Integer keys and their inclusive ranges, checked before anything is written (a type cannot say these).
# Upper bounds: what the engine and the disk can hold, far above any run of this machine or a cluster's.
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "steps": (1, 10**12),
    "seed": (0, MAX_SEED),
    "num_envs": (1, 1 << 16),
    "bodies": (1, MAX_BODIES),
    "threads": (1, 1024),
    "checkpoint_every": (0, 10**12),
    "log_every": (0, 10**12),
    "monitor.window": (1, 10**9),
    "monitor.chunk_rows": (1, 1 << 30),
    "metrics.window": (1, 10**9),
    "evaluation.every": (0, 10**12),
    "evaluation.before": (0, 10**9),
    "evaluation.after": (1, 10**9),
}
ON_DEATH = ("terminate", "respawn")


def _value(config: RunConfig, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        node = getattr(node, part)
    return node


def check_run_config(config: RunConfig) -> None:
    """The checks of values a type cannot express, in the order a user meets them.

    Raises:
        RunError: naming the key, the value and what it may be.
    """
    for key, (lo, hi) in INTEGER_RANGES.items():
        value = _value(config, key)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise RunError(f"{key} must be an integer from {lo:,} to {hi:,}, got {brief(value)}")
    if config.seed + (config.num_envs or 1) - 1 > MAX_SEED:  # world i is generated from seed + i
        raise RunError(f"seed + num_envs - 1 must be at most {MAX_SEED:,} (world i is generated from seed + i), "
                       f"got {config.seed} + {config.num_envs} - 1")
    tolerance = config.metrics.tolerance
    if not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or not 0 <= tolerance <= 1:
        raise RunError(f"metrics.tolerance must be a number from 0 to 1 (a fraction of the pre-shift level), "
                       f"got {brief(tolerance)}")
    if config.on_death not in ON_DEATH:
        raise RunError(f"on_death must be terminate or respawn, got {brief(config.on_death)}")
    if config.evaluation.split not in SPLITS:
        raise RunError(f"evaluation.split must be one of {', '.join(SPLITS)}, got {brief(config.evaluation.split)}")
    if config.bodies > 1 and config.evaluation.every:
        raise RunError("evaluation on held-out variants drives single-body worlds; with bodies > 1 set "
                       "evaluation.every=0")
    for key, value in (("evaluation.before", config.evaluation.before), ("evaluation.after", config.evaluation.after)):
        if config.evaluation.every and value < config.metrics.window:
            raise RunError(f"{key} must be >= metrics.window ({config.metrics.window}) so that the shift scores' "
                           f"windows fit, got {value}")
    check_snapshot_steps(config.snapshots, config.steps)
    if config.resume != "auto" and not isinstance(config.resume, bool):
        raise RunError(f"resume must be true, false or auto, got {brief(config.resume)}")
    if config.report not in REPORTS:
        raise RunError(f"report must be plots, tables or off, got {brief(config.report)}")
    if config.progress not in PROGRESS_MODES:
        raise RunError(f"progress must be auto, bar, plain or off, got {brief(config.progress)}")
    if config.label is not None and not LABEL.fullmatch(config.label):
        raise RunError(f"label must be letters, digits and -_+. (e.g. label=rlpd+data), or null, "
                       f"got {brief(config.label)}")


def check_snapshot_steps(snapshots: Any, steps: int) -> None:
    """Refuse a ``snapshots`` list that is not world steps in ``[1, steps]``, strictly increasing.

    Raises:
        RunError: naming the key, the offending value and the rule it breaks.
    """
    if not isinstance(snapshots, list | tuple):  # a config given as data, not composed by Hydra
        raise RunError(f"snapshots must be a list of world steps (e.g. snapshots=[1000,6000,12000]), "
                       f"got {brief(snapshots)}")
    previous = 0
    for index, step in enumerate(snapshots):
        if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= steps:
            raise RunError(f"snapshots[{index}] must be a world step from 1 to steps ({steps:,}), got {brief(step)}")
        if step <= previous:
            raise RunError(f"snapshots must be strictly increasing: snapshots[{index}] is {step:,} after {previous:,}")
        previous = step
