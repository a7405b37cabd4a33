"""Agent snapshots: the agent's ``state_dict()`` saved at chosen world steps of a run (the root key
``snapshots``), so that policies from early, mid and late in a lifetime can be lived again (``openworld
collect`` records datasets with them).

A snapshot is a checkpoint file (``openworld.runner.checkpoint``: checksummed, read without running code)
at ``<run_dir>/snapshots/agent-<step>.ckpt`` whose payload is ``{"agent": state}`` and whose header says
what it is and how to rebuild the agent it fits::

    {"kind": "agent-snapshot", "world": "Meadow-v0", "variant": null, "agent": "ppo-v0",
     "agent_config": {...}, "seed": 0, "num_envs": 16, "bodies": 1, "step": 6000, ...}

The state is the whole agent (parameters, optimiser, generators, memory): an agent built with the header's
``agent``, ``agent_config`` and ``num_envs`` and loaded from it acts exactly as the run's agent did at that
step, given the same observations.

Example:
    >>> import tempfile, pathlib
    >>> from openworld.agent.protocol import make_agent
    >>> from openworld.envs.vector import OpenWorldVectorEnv
    >>> envs = OpenWorldVectorEnv(2, world="Meadow-v0")
    >>> agent = make_agent("random", envs.single_observation_space, envs.single_action_space, 2, seed=0)
    >>> run_dir = pathlib.Path(tempfile.mkdtemp())
    >>> path = save_agent_snapshot(run_dir, 100, agent, {"world": "Meadow-v0", "agent": "random-v0", "num_envs": 2})
    >>> [step for step, _ in list_snapshots(run_dir)]
    [100]
    >>> load_agent_snapshot(snapshot_path(run_dir, 100), agent, "random")["step"]
    100
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openworld.errors import CheckpointError, brief
from openworld.files import sha256_file

SNAPSHOT_DIR = "snapshots"
SNAPSHOT_KIND = "agent-snapshot"
_SNAPSHOT_NAME = re.compile(r"agent-(\d+)\.ckpt")


def snapshot_path(run_dir: str | Path, step: int) -> Path:
    """Where a run saves its agent at world step ``step``: ``<run_dir>/snapshots/agent-<step>.ckpt``."""
    return Path(run_dir) / SNAPSHOT_DIR / f"agent-{step}.ckpt"


def list_snapshots(run_dir: str | Path) -> list[tuple[int, Path]]:
    """The run directory's agent snapshots as ``(step, path)``, by step (none: ``[]``).

    Temporary files of a snapshot being written (dot-named) and other files are not listed.
    """
    folder = Path(run_dir) / SNAPSHOT_DIR
    if not folder.is_dir():
        return []
    found = ((_SNAPSHOT_NAME.fullmatch(path.name), path) for path in folder.iterdir())
    return sorted((int(match.group(1)), path) for match, path in found if match is not None and path.is_file())


def save_agent_snapshot(run_dir: str | Path, step: int, agent: Any, identity: Mapping[str, Any]) -> Path:
    """Save ``agent.state_dict()`` as the run's snapshot at ``step`` (atomically); returns its path.

    Args:
        run_dir: the run directory.
        step: the world step the agent has lived to.
        agent: the agent (anything with ``state_dict()``).
        identity: what the header records besides ``kind`` and ``step``: world, variant, agent id,
            agent_config, seed, num_envs, bodies.

    Raises:
        CheckpointError: naming the key of the state that is not plain data; nothing is written then.
    """
    from openworld.runner.checkpoint import save_checkpoint

    path = snapshot_path(run_dir, step)
    save_checkpoint(path, {"agent": agent.state_dict()}, {**identity, "kind": SNAPSHOT_KIND, "step": step})
    return path


def load_agent_snapshot(path: str | Path, agent: Any, agent_id: str) -> dict[str, Any]:
    """Load a snapshot into ``agent`` (built as its header says); returns the header.

    The file is read without running code, and its checksum, kind and agent checked, before the agent is
    touched; a state that does not fit is refused by the agent's own ``load_state_dict``, which may leave the
    agent partly loaded if it does not check before it changes anything (PPO checks first).

    Args:
        path: a snapshot file (:func:`snapshot_path`).
        agent: the agent to restore, built with the header's ``agent``, ``agent_config`` and ``num_envs``
            in a world with the same observation and action spaces.
        agent_id: the agent's id (``ppo`` or ``ppo-v0``); the snapshot must be of this agent.

    Raises:
        CheckpointError: naming the file, if it is corrupt or truncated, not an agent snapshot, a snapshot
            of another agent, or a state that does not fit ``agent`` (another world's spaces, another
            ``num_envs`` or configuration).
        UnknownIdError: ``agent_id`` is not a registered agent.
    """
    from openworld.registry import agent_entry
    from openworld.runner.checkpoint import load_checkpoint

    path = Path(path)
    expected = agent_entry(agent_id).agent_id
    header, payload = load_checkpoint(path)
    if header.get("kind") != SNAPSHOT_KIND:
        raise CheckpointError(f"{path}: not an agent snapshot (its kind is {brief(header.get('kind'))}, expected "
                              f"{SNAPSHOT_KIND!r}); give a file from a run's {SNAPSHOT_DIR}/ folder")
    if header.get("agent") != expected:
        raise CheckpointError(f"{path}: agent snapshot of {brief(header.get('agent'))}, not of {expected!r}; "
                              f"build a {header.get('agent')} agent to load it")
    if "agent" not in payload:
        raise CheckpointError(f"{path}: agent snapshot holds no agent state (payload keys {sorted(payload)})")
    try:
        agent.load_state_dict(payload["agent"])
    except Exception as err:  # whatever the agent raises for a state of another shape is the file's fault
        raise CheckpointError(
            f"{path}: agent snapshot does not fit this {expected} agent ({type(err).__name__}: {str(err)[:300]}); "
            f"it was saved in {header.get('world')} (variant {header.get('variant')}) with "
            f"num_envs={header.get('num_envs')} and agent_config {brief(header.get('agent_config'))}: build the "
            "agent that way") from err
    return header


def snapshot_sha256(path: str | Path) -> str:
    """The SHA-256 of the snapshot file's bytes (hex), for a dataset card to name the policy it records.

    Raises:
        CheckpointError: naming the file, if it cannot be read.
    """
    try:
        return sha256_file(Path(path))[0]
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read agent snapshot: {err}") from err
