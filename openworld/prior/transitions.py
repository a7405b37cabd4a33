"""A dataset's steps as flat arrays that priors learn from, and the split into training and validation episodes.

Minari stores each episode (a segment of a reset-free lifetime, ``docs/data.md``) as ``N + 1`` observations and
``N`` actions. :func:`load_transitions` concatenates every episode of one or more datasets: observations in one
array (``N + 1`` rows per episode), steps in another, with ``obs_index`` mapping step ``s`` to the row of the
observation it acted from (its next observation is the row after). Chunks of consecutive steps (a skill prior's
``H``-step windows) never cross an episode's end, which is a death or a cut (:meth:`TransitionData.chunk_starts`).

Infos are not loaded: the evaluator's ``eval_*`` labels must never reach a learner, and nothing else is needed.

Memory: a step costs about ``V * V * C + 4 * K + 30`` bytes (about 200 bytes for the 7x7 view), so 1M steps
take about 200 MB.

Example:
    >>> import numpy as np
    >>> from gymnasium import spaces
    >>> space = spaces.Dict({"view": spaces.Box(0, 9, (3, 3, 1), np.uint8), "vitals": spaces.Box(0, 1, (2,))})
    >>> episodes = [{"observations": {"view": np.zeros((4, 3, 3, 1), np.uint8), "vitals": np.zeros((4, 2))},
    ...              "actions": np.array([1, 2, 3]), "rewards": np.ones(3), "terminations": np.zeros(3, bool),
    ...              "truncations": np.array([0, 0, 1], bool)}] * 2
    >>> data = transitions_from_episodes(episodes, space, spaces.Discrete(7), [])
    >>> data.num_steps, data.obs_index.tolist(), data.chunk_starts(2).tolist()
    (6, [0, 1, 2, 4, 5, 6], [0, 1, 3, 4])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from openworld.errors import DatasetError, PriorError, brief


@dataclass
class TransitionData:
    """Every step of one or more datasets, flat.

    Attributes:
        view: ``(M, V, V, C)`` uint8 observation codes, ``N + 1`` rows per episode.
        vitals: ``(M, K)`` float32.
        actions: ``(S,)`` int64, the action of each step.
        rewards: ``(S,)`` float32 (NaN in a reward-free dataset).
        terminations: ``(S,)`` bool: the body died at this step.
        truncations: ``(S,)`` bool: the segment was cut after this step (the lifetime went on).
        obs_index: ``(S,)`` int64: the observation row step ``s`` acted from (``+ 1``: its next observation).
        episode: ``(S,)`` int64: the episode (over all datasets) of each step.
        episode_starts: ``(E,)`` int64: each episode's first step.
        episode_lengths: ``(E,)`` int64.
        datasets: ``[{"id", "card_sha256", "steps"}]`` of each dataset loaded (empty when built from episodes).
        observation_space, action_space: the datasets' spaces.
    """

    view: np.ndarray
    vitals: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    obs_index: np.ndarray
    episode: np.ndarray
    episode_starts: np.ndarray
    episode_lengths: np.ndarray
    datasets: list[dict[str, Any]]
    observation_space: spaces.Dict
    action_space: spaces.Discrete

    @property
    def num_steps(self) -> int:
        return int(self.actions.shape[0])

    @property
    def num_episodes(self) -> int:
        return int(self.episode_starts.shape[0])

    def observations(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """The observation rows ``rows`` (any shape ``R``) as tensors ``view (R..., V, V, C)``, ``vitals (R..., K)``."""
        rows = np.asarray(rows)
        return {"view": torch.from_numpy(self.view[rows]), "vitals": torch.from_numpy(self.vitals[rows])}

    def step_observations(self, steps: np.ndarray, offset: int = 0) -> dict[str, torch.Tensor]:
        """The observations steps ``steps`` acted from (``offset=1``: the ones they led to)."""
        return self.observations(self.obs_index[np.asarray(steps)] + offset)

    def chunk_starts(self, length: int) -> np.ndarray:
        """Every step that starts ``length`` consecutive steps inside one episode (int64, ascending)."""
        if length < 1:
            raise ValueError(f"chunk length must be >= 1, got {length}")
        position = np.arange(self.num_steps) - self.episode_starts[self.episode]
        remaining = self.episode_lengths[self.episode] - position
        return np.flatnonzero(remaining >= length).astype(np.int64)

    def split_episodes(self, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A random split of the episodes: ``(training, validation)`` episode masks over :attr:`episode`'s values.

        Whole episodes go to one side, so validation steps are never neighbours of training steps (a
        segment's steps are strongly correlated). At least one episode goes to each side.

        Raises:
            PriorError: fewer than two episodes, or a fraction outside (0, 1).
        """
        if not 0.0 < validation_fraction < 1.0:
            raise PriorError(f"validation_fraction must be in (0, 1), got {brief(validation_fraction)}")
        if self.num_episodes < 2:
            raise PriorError(f"the data holds {self.num_episodes} episode(s): a validation split needs at least 2; "
                             "collect more steps (or a smaller segment_steps)")
        order = np.random.default_rng(seed).permutation(self.num_episodes)
        count = min(self.num_episodes - 1, max(1, round(validation_fraction * self.num_episodes)))
        validation = np.zeros(self.num_episodes, bool)
        validation[order[:count]] = True
        return ~validation, validation


def load_transitions(dataset_ids: Sequence[str], observation_space: spaces.Space | None = None) -> TransitionData:
    """The steps of these local datasets, concatenated, with each dataset's id and card hash.

    Args:
        dataset_ids: local ids (``openworld/meadow/forager-v0``); all must share one observation and action space.
        observation_space: the space they must have (a prior's, or a world's); None: the first dataset's.

    Raises:
        DatasetError: an unknown id, an unreadable dataset or episode (naming the file), spaces that differ.
    """
    from openworld.data.datasets import load_dataset
    from openworld.data.store import card_sha256, iterate_episodes

    if not dataset_ids:
        raise DatasetError("no dataset given: dataset=<id> (openworld datasets lists the local ones)")
    episodes: list[Mapping[str, Any]] = []
    provenance: list[dict[str, Any]] = []
    action_space: Any = None
    for dataset in dataset_ids:
        loaded = load_dataset(dataset, observation_space=observation_space)
        observation_space = observation_space or loaded.observation_space
        if action_space is not None and loaded.action_space != action_space:
            raise DatasetError(f"dataset {dataset}: its actions are {loaded.action_space}, the other datasets' "
                               f"{action_space}")
        action_space = loaded.action_space
        before = sum(len(episode["actions"]) for episode in episodes)
        episodes.extend(iterate_episodes(dataset))
        provenance.append({"id": dataset, "card_sha256": card_sha256(dataset),
                           "steps": sum(len(episode["actions"]) for episode in episodes) - before})
    return transitions_from_episodes(episodes, observation_space, action_space, provenance)


def transitions_from_episodes(episodes: Iterable[Mapping[str, Any]], observation_space: Any, action_space: Any,
                              provenance: list[dict[str, Any]]) -> TransitionData:
    """Flat arrays of decoded episodes (``observations`` dict, ``actions``, ``rewards``, ``terminations``,
    ``truncations``), as Minari returns them.

    Raises:
        DatasetError: no steps at all, or an episode whose arrays disagree in length.
    """
    views, vitals, actions, rewards, terminations, truncations, lengths = [], [], [], [], [], [], []
    for number, episode in enumerate(episodes):
        steps = len(episode["actions"])
        observations = episode["observations"]
        if len(observations["view"]) != steps + 1 or len(observations["vitals"]) != steps + 1:
            raise DatasetError(f"episode {number}: {steps} actions but {len(observations['view'])} observations "
                               "(expected one more): the dataset is not one openworld collect wrote")
        if steps == 0:
            continue
        views.append(np.asarray(observations["view"], np.uint8))
        vitals.append(np.asarray(observations["vitals"], np.float32))
        actions.append(np.asarray(episode["actions"], np.int64).reshape(steps))
        rewards.append(np.asarray(episode["rewards"], np.float32).reshape(steps))
        terminations.append(np.asarray(episode["terminations"], bool).reshape(steps))
        truncations.append(np.asarray(episode["truncations"], bool).reshape(steps))
        lengths.append(steps)
    if not lengths:
        raise DatasetError("the dataset holds no steps")
    episode_lengths = np.asarray(lengths, np.int64)
    episode_starts = np.concatenate([[0], np.cumsum(episode_lengths)[:-1]]).astype(np.int64)
    episode_of_step = np.repeat(np.arange(len(lengths), dtype=np.int64), episode_lengths)
    # Episode e's observations start at row episode_starts[e] + e (each episode has one more observation).
    obs_index = np.arange(int(episode_lengths.sum()), dtype=np.int64) + episode_of_step
    all_actions = np.concatenate(actions)
    if isinstance(action_space, spaces.Discrete) and (all_actions.min() < 0 or all_actions.max() >= action_space.n):
        raise DatasetError(f"actions outside {action_space} (from {int(all_actions.min())} to "
                           f"{int(all_actions.max())}): the dataset is not one of this action space")
    return TransitionData(view=np.concatenate(views), vitals=np.concatenate(vitals), actions=all_actions,
                          rewards=np.concatenate(rewards), terminations=np.concatenate(terminations),
                          truncations=np.concatenate(truncations), obs_index=obs_index,
                          episode=episode_of_step,
                          episode_starts=episode_starts, episode_lengths=episode_lengths, datasets=provenance,
                          observation_space=observation_space, action_space=action_space)
