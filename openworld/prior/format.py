"""Saved priors: one file holding a prior's kind, settings, spaces, provenance, validation figures and weights,
read without running code; and the local store of priors by id.

A prior file is a checkpoint of :mod:`openworld.runner.checkpoint` (checksummed, atomic, plain data loaded with
``torch.load(weights_only=True)``) whose header says what it is::

    {"kind": "prior", "format": "openworld-prior/1", "prior": "bc-v0", "config": {...},
     "observation_space": {...}, "action_space": {...}, "skill_kind": "none", "skill_dim": 0,
     "datasets": [{"id": "openworld/meadow/forager-v0", "card_sha256": "...", "steps": 20000}],
     "world": null, "seed": 0, "training": {...}, "metrics": {"val/nll": 0.12, ...}, "created": "...",
     "openworld_version": "0.1.0", "sha256": "..."}

and whose payload is ``{"weights": module.state_dict()}``. Loading builds the registered class named by
``prior`` from ``config`` and the spaces (a file can only choose among registered classes), then loads the
weights strictly. The header's ``sha256`` (over header and weights) identifies the prior: a run that used it
records it, and a resume with another prior is refused.

Priors are referred to by path (``priors/meadow-bc.prior``) or, when saved into the store, by id
(``meadow-bc-v0``: the file ``<root>/meadow-bc-v0.prior`` under ``OPENWORLD_PRIORS_PATH``, else
``~/.openworld/priors``).

Example:
    >>> import os, tempfile
    >>> os.environ["OPENWORLD_PRIORS_PATH"] = tempfile.mkdtemp()
    >>> prior_id("meadow-bc")
    'meadow-bc-v0'
    >>> local_prior_ids()
    []
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from openworld.errors import CheckpointError, PriorError, UnknownIdError, brief
from openworld.prior.base import Prior

PRIOR_KIND = "prior"
PRIOR_FORMAT = "openworld-prior/1"
PRIOR_SUFFIX = ".prior"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]*")
ID_PATTERN = re.compile(r"[a-z][a-z0-9_-]*-v\d+")


# ---------------------------------------------------------------------------------------------- spaces as data
def space_to_data(space: spaces.Space) -> dict[str, Any]:
    """A ``Box``, ``Discrete`` or ``Dict`` space as plain JSON data (:func:`space_from_data` rebuilds it)."""
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {key: space_to_data(value) for key, value in space.spaces.items()}}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        low, high = np.asarray(space.low), np.asarray(space.high)
        uniform = bool((low == low.flat[0]).all() and (high == high.flat[0]).all())
        return {"type": "Box", "shape": [int(d) for d in space.shape], "dtype": np.dtype(space.dtype).name,
                "low": low.flat[0].item() if uniform else low.tolist(),
                "high": high.flat[0].item() if uniform else high.tolist()}
    raise PriorError(f"a prior's spaces must be Box, Discrete or Dict, got {space}")


def space_from_data(data: Any, source: str = "prior") -> spaces.Space:
    """The space :func:`space_to_data` described.

    Raises:
        PriorError: naming ``source``, for data that does not describe a space.
    """
    try:
        kind = data["type"]
        if kind == "Dict":
            return spaces.Dict({key: space_from_data(value, source) for key, value in data["spaces"].items()})
        if kind == "Discrete":
            return spaces.Discrete(int(data["n"]), start=int(data["start"]))
        if kind == "Box":
            dtype = np.dtype(data["dtype"])
            shape = tuple(int(d) for d in data["shape"])
            low = np.broadcast_to(np.asarray(data["low"], dtype), shape)
            high = np.broadcast_to(np.asarray(data["high"], dtype), shape)
            return spaces.Box(low, high, shape, dtype)
    except (KeyError, TypeError, ValueError) as err:
        raise PriorError(f"{source}: its space description {brief(data)} is broken ({type(err).__name__}: "
                         f"{brief(str(err))})") from None
    raise PriorError(f"{source}: unknown space type {brief(data.get('type') if isinstance(data, dict) else data)}")


def describe_space(space: spaces.Space) -> str:
    """A short description: ``Dict(view=Box(0..64, (7, 7, 3), uint8), vitals=Box(0.0..1.0, (4,), float32))``."""
    if isinstance(space, spaces.Dict):
        return "Dict(" + ", ".join(f"{key}={describe_space(value)}" for key, value in space.spaces.items()) + ")"
    if isinstance(space, spaces.Box):
        low, high = np.asarray(space.low), np.asarray(space.high)
        return f"Box({low.min()}..{high.max()}, {tuple(int(d) for d in space.shape)}, {np.dtype(space.dtype).name})"
    return str(space)


def space_difference(saved: spaces.Space, world: spaces.Space, where: str = "") -> str:
    """Where two spaces first differ, in words (``"vitals: Box(...) in the prior, Box(...) in the world"``)."""
    if isinstance(saved, spaces.Dict) and isinstance(world, spaces.Dict):
        if set(saved.spaces) != set(world.spaces):
            return f"{where or 'keys'}: {sorted(saved.spaces)} in the prior, {sorted(world.spaces)} in the world"
        for key in saved.spaces:
            if saved[key] != world[key]:
                return space_difference(saved[key], world[key], f"{where}{key}")
    if isinstance(saved, spaces.Box) and isinstance(world, spaces.Box) and describe_space(saved) == \
            describe_space(world):
        return f"{where or 'the space'}: the bounds of some cells differ"
    return f"{where or 'the space'}: {describe_space(saved)} in the prior, {describe_space(world)} in the world"


# ---------------------------------------------------------------------------------------------- the store
def priors_root() -> Path:
    """The local store of priors saved by id (``OPENWORLD_PRIORS_PATH``, else ``~/.openworld/priors``)."""
    configured = os.environ.get("OPENWORLD_PRIORS_PATH")
    return Path(configured) if configured else Path.home() / ".openworld" / "priors"


def prior_id(name: str) -> str:
    """The id a prior saved as ``name`` gets in the store (``meadow-bc`` -> ``meadow-bc-v0``).

    Raises:
        PriorError: a name that cannot be part of an id.
    """
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None or re.search(r"-v\d+$", name):
        raise PriorError(f"name={brief(name)} is not a valid prior name: use lower-case letters, digits, '_' and "
                         "'-', starting with a letter and not ending in -v<N> (name=meadow-bc is stored as "
                         "meadow-bc-v0)")
    return f"{name}-v0"


def local_prior_ids() -> list[str]:
    """The ids of the priors in the store, sorted."""
    root = priors_root()
    if not root.is_dir():
        return []
    return sorted(path.name[:-len(PRIOR_SUFFIX)] for path in root.glob(f"*{PRIOR_SUFFIX}")
                  if ID_PATTERN.fullmatch(path.name[:-len(PRIOR_SUFFIX)]))


def resolve_prior_path(reference: str | Path) -> Path:
    """The file of a prior given by path or by store id.

    A reference is a path when it ends in ``.prior``, holds a ``/`` or names an existing file; otherwise an id.

    Raises:
        PriorError: an id not in the store (listing those that are), or a path that does not exist.
    """
    text = str(reference)
    if text.endswith(PRIOR_SUFFIX) or "/" in text or os.sep in text or Path(text).is_file():
        path = Path(text)
        if not path.is_file():
            raise PriorError(f"no prior file {path}: openworld pretrain ... out={path} writes one")
        return path
    path = priors_root() / f"{text}{PRIOR_SUFFIX}"
    if ID_PATTERN.fullmatch(text) is None or not path.is_file():
        known = ", ".join(local_prior_ids()) or "none (openworld pretrain ... name=<name> saves one)"
        raise PriorError(f"no prior {brief(text)} in {priors_root()}; local priors: {known}")
    return path


# ---------------------------------------------------------------------------------------------- save and load
def save_prior(path: str | Path, prior: Prior, *, seed: int, datasets: Sequence[Mapping[str, Any]] = (),
               world: str | None = None, training: Mapping[str, Any] | None = None,
               metrics: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Write ``prior`` to ``path`` (atomically); returns the header written (with its ``sha256``).

    Args:
        path: the file (``.prior`` by convention; folders are made).
        prior: a registered kind of :class:`~openworld.prior.base.Prior`.
        seed: the seed it was built and trained with.
        datasets: the datasets it learnt from: ``{"id", "card_sha256", "steps"}`` each.
        world: the world it lived in (skills discovered online), else None.
        training: the training settings (plain data).
        metrics: its validation figures.

    Raises:
        PriorError: a prior whose class is not registered.
    """
    from openworld.registry import prior_entry
    from openworld.runner.checkpoint import read_header, save_checkpoint

    kind = registered_kind(prior)
    entry = prior_entry(kind)
    header = {"kind": PRIOR_KIND, "format": PRIOR_FORMAT, "prior": entry.prior_id, "config": prior.config(),
              "observation_space": space_to_data(prior.observation_space),
              "action_space": space_to_data(prior.action_space), "skill_kind": prior.skill_kind,
              "skill_dim": prior.skill_dim, "datasets": [dict(dataset) for dataset in datasets], "world": world,
              "seed": int(seed), "training": dict(training or {}),
              "metrics": {key: float(value) for key, value in (metrics or {}).items()},
              "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "openworld_version": importlib.metadata.version("openworld")}
    weights = {name: tensor.detach().clone() for name, tensor in prior.state_dict().items()}
    try:
        save_checkpoint(path, {"weights": weights}, header)
    except CheckpointError as err:
        raise PriorError(str(err)) from None
    return read_header(path)


def registered_kind(prior: Prior) -> str:
    """The registered id of the prior's class.

    Raises:
        PriorError: its class is not registered (a saved prior could not be rebuilt).
    """
    from openworld.registry import prior_entry, prior_ids

    for kind in prior_ids():
        if prior_entry(kind).factory is type(prior):
            return kind
    raise PriorError(f"{type(prior).__name__} is not a registered kind of prior: register_prior('<name>-v0', "
                     f"{type(prior).__name__}) next to its definition, so a saved one can be rebuilt")


def read_prior_header(reference: str | Path) -> dict[str, Any]:
    """The header of a saved prior (by path or id), checked to be a prior's, without loading its weights.

    Raises:
        PriorError: naming the file, if it is not a prior file (or is corrupt).
    """
    from openworld.runner.checkpoint import read_header

    path = resolve_prior_path(reference)
    try:
        header = read_header(path)
    except CheckpointError as err:
        raise PriorError(f"{err}; it is not a readable prior file") from None
    _check_header(path, header)
    return header


def _check_header(path: Path, header: Mapping[str, Any]) -> None:
    if header.get("kind") != PRIOR_KIND:
        raise PriorError(f"{path}: not a prior file (its kind is {brief(header.get('kind'))}, expected "
                         f"{PRIOR_KIND!r}); openworld pretrain writes prior files")
    if header.get("format") != PRIOR_FORMAT:
        raise PriorError(f"{path}: prior format {brief(header.get('format'))}, this openworld reads "
                         f"{PRIOR_FORMAT!r}; train it again with openworld pretrain")
    if not isinstance(header.get("config"), dict):
        raise PriorError(f"{path}: prior header holds no config mapping")


def load_prior(reference: str | Path, observation_space: spaces.Space | None = None,
               action_space: spaces.Space | None = None) -> Prior:
    """The saved prior ``reference`` (a path, or an id in the store), checked against the spaces it will read.

    The returned module is in eval mode; its ``provenance`` attribute holds the file's header (kind, config,
    datasets with card hashes, metrics, ``sha256``) and ``path``.

    Args:
        reference: a path (``priors/meadow-bc.prior``) or a store id (``meadow-bc-v0``).
        observation_space: the world's observation space; the prior's must equal it. None: not checked.
        action_space: likewise for actions.

    Raises:
        PriorError: naming the file: not found, corrupt, not a prior, an unregistered kind, weights that do not
            fit the kind's networks, or spaces other than the world's (both are named).
    """
    from openworld.registry import prior_entry
    from openworld.runner.checkpoint import load_checkpoint

    path = resolve_prior_path(reference)
    try:
        header, payload = load_checkpoint(path)
    except CheckpointError as err:
        raise PriorError(f"{err}; it is not a readable prior file") from None
    _check_header(path, header)
    saved_observations = space_from_data(header.get("observation_space"), str(path))
    saved_actions = space_from_data(header.get("action_space"), str(path))
    for what, saved, expected in (("observation", saved_observations, observation_space),
                                  ("action", saved_actions, action_space)):
        if expected is not None and saved != expected:
            raise PriorError(f"{path}: the prior expects another {what} space than this world's "
                             f"({space_difference(saved, expected)}); use a prior trained on data of a world with "
                             "these spaces")
    try:
        entry = prior_entry(str(header.get("prior")))
    except UnknownIdError as err:
        raise PriorError(f"{path}: {err.args[0]}") from None
    try:
        prior: Prior = entry.factory(saved_observations, saved_actions, seed=int(header.get("seed", 0)),
                                     **header["config"])
    except (TypeError, ValueError) as err:
        raise PriorError(f"{path}: its config {brief(header['config'])} does not build a {entry.prior_id} prior "
                         f"({type(err).__name__}: {brief(str(err))})") from None
    weights = payload.get("weights")
    if not isinstance(weights, dict):
        raise PriorError(f"{path}: the prior file holds no weights")
    try:
        prior.load_state_dict(weights, strict=True)
    except (RuntimeError, TypeError, KeyError) as err:
        raise PriorError(f"{path}: its weights do not fit a {entry.prior_id} prior with its config "
                         f"({type(err).__name__}: {brief(str(err), 300)})") from None
    prior.eval()
    prior.provenance = {**header, "path": str(path)}
    return prior


def load_agent_prior(setting: Any, observation_space: spaces.Space, action_space: spaces.Space) -> Prior:
    """The prior an agent is configured with: ``agent.prior=<path or id>`` (a string), or the ``prior`` node of
    ``openworld run prior=<name>`` (a mapping with ``path`` or ``id``), loaded and checked against the world's
    spaces (:func:`load_prior`).

    Raises:
        PriorError: a setting that names no prior, or any refusal of :func:`load_prior`.
    """
    reference = setting
    if isinstance(setting, Mapping):
        reference = setting.get("path") or setting.get("id")
    if not isinstance(reference, str | Path) or not str(reference) or str(reference) == "???":
        raise PriorError(f"prior={brief(setting)}: this agent needs a prior: agent.prior=<path or id> (openworld "
                         "pretrain makes one; openworld priors lists the store)")
    return load_prior(reference, observation_space, action_space)


def prior_experience(prior: Prior) -> dict[str, Any]:
    """What an agent records of a loaded prior in its ``experience`` (``openworld.agent.protocol.agent_experience``):
    the reference it was loaded by, its kind, and the file's sha256 (which identifies it)."""
    header = prior.provenance
    return {"reference": str(header.get("path")), "kind": header.get("prior"), "sha256": header.get("sha256")}
