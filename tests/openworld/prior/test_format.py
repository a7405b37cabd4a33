"""openworld.prior.format: a saved prior loads by path and by id with the same weights; every broken or foreign
file, and a world of other spaces, is refused with a message naming the file."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
import torch
from gymnasium import spaces

from openworld.errors import PriorError
from openworld.prior.format import load_prior, local_prior_ids, prior_id, priors_root, read_prior_header, save_prior


@pytest.fixture
def world_spaces() -> tuple[spaces.Space, spaces.Space]:
    env = gym.make("openworld/Meadow-v0")
    return env.observation_space, env.action_space


@pytest.fixture
def tiny(world_spaces: tuple[spaces.Space, spaces.Space]) -> torch.nn.Module:
    from tiny_priors import TinyPrior

    return TinyPrior(*world_spaces, seed=3, hidden_size=8)


def test_a_prior_loads_by_path_and_by_id(tiny: torch.nn.Module, world_spaces: tuple[spaces.Space, spaces.Space],
                                         tmp_path: Path) -> None:
    datasets = [{"id": "openworld/meadow/x-v0", "card_sha256": "ab" * 32, "steps": 10}]
    header = save_prior(tmp_path / "a.prior", tiny, seed=3, datasets=datasets, metrics={"val/nll": 1.5})
    assert header["prior"] == "tiny-test-v0" and header["config"] == {"hidden_size": 8}
    assert header["datasets"] == datasets and header["metrics"] == {"val/nll": 1.5}
    save_prior(priors_root() / f"{prior_id('meadow-tiny')}.prior", tiny, seed=3)
    assert local_prior_ids() == ["meadow-tiny-v0"]
    for reference in (tmp_path / "a.prior", "meadow-tiny-v0"):
        loaded = load_prior(reference, *world_spaces)
        assert not loaded.training
        for key, value in tiny.state_dict().items():
            assert torch.equal(value, loaded.state_dict()[key])
    assert load_prior(tmp_path / "a.prior").provenance["sha256"] == header["sha256"]


def test_other_spaces_are_refused_naming_both(tiny: torch.nn.Module, tmp_path: Path) -> None:
    save_prior(tmp_path / "a.prior", tiny, seed=0)
    space = tiny.observation_space
    vitals = spaces.Box(0.0, 1.0, (space["vitals"].shape[0] + 1,), space["vitals"].dtype)
    changed = spaces.Dict({"view": space["view"], "vitals": vitals})
    with pytest.raises(PriorError, match=r"another observation space than this world's \(vitals: "
                       r"Box\(0.0..1.0, \(4,\), float32\) in the prior, Box\(0.0..1.0, \(5,\), float32\) in the "
                       r"world\)"):
        load_prior(tmp_path / "a.prior", changed)
    with pytest.raises(PriorError,
                       match=r"another action space .*\(the space: Discrete\(7\) in the prior, Discrete\(5\)"):
        load_prior(tmp_path / "a.prior", space, spaces.Discrete(5))


def test_missing_corrupt_and_foreign_files_are_refused(tiny: torch.nn.Module, tmp_path: Path) -> None:
    from openworld.runner.checkpoint import save_checkpoint

    with pytest.raises(PriorError, match="no prior file"):
        load_prior(tmp_path / "none.prior")
    with pytest.raises(PriorError, match="no prior 'meadow-x-v0' in .*local priors: none"):
        load_prior("meadow-x-v0")
    path = tmp_path / "a.prior"
    save_prior(path, tiny, seed=0)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "flipped.prior").write_bytes(bytes(data))
    with pytest.raises(PriorError, match="flipped.prior.*checksum"):
        load_prior(tmp_path / "flipped.prior")
    (tmp_path / "short.prior").write_bytes(bytes(data[:-100]))
    with pytest.raises(PriorError, match="short.prior.*truncated"):
        load_prior(tmp_path / "short.prior")
    save_checkpoint(tmp_path / "snapshot.prior", {"agent": {}}, {"kind": "agent-snapshot"})
    with pytest.raises(PriorError, match="not a prior file .*agent-snapshot"):
        read_prior_header(tmp_path / "snapshot.prior")


def test_headers_that_name_no_registered_kind_or_a_config_that_does_not_fit_are_refused(
        tiny: torch.nn.Module, tmp_path: Path) -> None:
    from openworld.runner.checkpoint import load_checkpoint, save_checkpoint

    save_prior(tmp_path / "a.prior", tiny, seed=0)
    header, payload = load_checkpoint(tmp_path / "a.prior")
    fields = {key: value for key, value in header.items() if key not in ("sha256", "body_bytes")}
    save_checkpoint(tmp_path / "evil.prior", payload, {**fields, "prior": "os.system-v0"})
    with pytest.raises(PriorError, match="evil.prior: unknown prior 'os.system-v0'"):
        load_prior(tmp_path / "evil.prior")
    save_checkpoint(tmp_path / "bigger.prior", payload, {**fields, "config": {"hidden_size": 9}})
    with pytest.raises(PriorError, match="bigger.prior: its weights do not fit a tiny-test-v0 prior"):
        load_prior(tmp_path / "bigger.prior")
    save_checkpoint(tmp_path / "unknown.prior", payload, {**fields, "config": {"hidden_sise": 8}})
    with pytest.raises(PriorError, match="unknown.prior: its config .* does not build a tiny-test-v0 prior"):
        load_prior(tmp_path / "unknown.prior")


def test_names_and_unregistered_classes_are_refused(tiny: torch.nn.Module, tmp_path: Path) -> None:
    from tiny_priors import TinyPrior

    with pytest.raises(PriorError, match="not a valid prior name"):
        prior_id("Meadow BC")
    with pytest.raises(PriorError, match="not a valid prior name"):
        prior_id("bc-v1")

    class Unregistered(TinyPrior):
        pass

    with pytest.raises(PriorError, match="Unregistered is not a registered kind of prior"):
        save_prior(tmp_path / "u.prior", Unregistered(tiny.observation_space, tiny.action_space), seed=0)
    assert not (tmp_path / "u.prior").exists()
