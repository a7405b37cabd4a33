"""openworld.prior.transitions and fitting on a collected dataset: steps line up with the stored observations,
chunks stay inside episodes, the split keeps whole episodes apart, training stops early and keeps its best."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from openworld.errors import DatasetError, PriorError
from openworld.prior.fitting import OfflineSettings, fit_offline
from openworld.prior.transitions import load_transitions


@pytest.fixture
def forager_data(make_dataset: Callable[..., str]) -> str:
    return make_dataset("forager", steps=300, num_envs=2, segment_steps=50)


def test_steps_line_up_with_minari_episodes(forager_data: str) -> None:
    import minari

    data = load_transitions([forager_data])
    episodes = list(minari.load_dataset(forager_data).iterate_episodes())
    assert data.num_steps == sum(len(e.actions) for e in episodes)
    assert data.num_episodes == len(episodes)
    assert data.view.shape[0] == data.num_steps + data.num_episodes  # N + 1 observations per episode
    last = episodes[-1]
    steps = np.flatnonzero(data.episode == data.num_episodes - 1)
    np.testing.assert_array_equal(data.actions[steps], last.actions)
    np.testing.assert_array_equal(data.view[data.obs_index[steps] + 1], last.observations["view"][1:])
    assert data.datasets[0]["id"] == forager_data and len(data.datasets[0]["card_sha256"]) == 64


def test_chunks_stay_inside_episodes_and_the_split_keeps_episodes_apart(forager_data: str) -> None:
    data = load_transitions([forager_data])
    starts = data.chunk_starts(10)
    assert len(starts) > 0
    assert (data.episode[starts] == data.episode[starts + 9]).all()
    train, validation = data.split_episodes(0.25, seed=0)
    assert train.any() and validation.any() and not (train & validation).any()
    assert np.array_equal(data.split_episodes(0.25, seed=0)[0], train)


def test_unknown_dataset_and_too_few_episodes_are_refused(make_dataset: Callable[..., str]) -> None:
    with pytest.raises(DatasetError, match="no dataset 'openworld/meadow/nothing-v0'"):
        load_transitions(["openworld/meadow/nothing-v0"])
    one = load_transitions([make_dataset("short", steps=20, num_envs=1, segment_steps=100)])
    with pytest.raises(PriorError, match="a validation split needs at least 2"):
        one.split_episodes(0.1, 0)


def test_fitting_learns_stops_early_keeps_the_best_and_repeats_exactly(forager_data: str) -> None:
    from tiny_priors import TinyPrior

    data = load_transitions([forager_data])
    settings = OfflineSettings(batch_size=64, learning_rate=3e-3, max_epochs=40, patience=2, eval_every=10,
                               validation_fraction=0.25)
    prior = TinyPrior(data.observation_space, data.action_space, seed=0)
    result = fit_offline(prior, data, settings, seed=0)
    nlls = [point["val/nll"] for point in result.curves]
    assert result.stopped_early and len(nlls) < 40 * 5
    assert result.metrics["val/nll"] == pytest.approx(min(nlls), abs=1e-6)  # the best weights are kept
    assert min(nlls) < nlls[0]
    again = TinyPrior(data.observation_space, data.action_space, seed=0)
    fit_offline(again, data, settings, seed=0)
    for key, value in prior.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


@pytest.mark.parametrize(("values", "message"), [
    ({"batch_sise": 4}, "unknown key"), ({"batch_size": True}, "must be an integer"),
    ({"batch_size": 2.5}, "must be an integer"), ({"learning_rate": 0}, "must be > 0"),
    ({"patience": -1}, "must be >= 0"), ({"learning_rate": "fast"}, "a finite number")])
def test_bad_training_settings_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(PriorError, match=message):
        OfflineSettings.from_mapping(values)
