"""The done-when of ``openworld pretrain`` (in process): a prior trains from the command line on a collected
dataset, is saved with its report and Sacred record, loads by path and by id, is listed; refused requests write
nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.experiments.conftest import QUIET

SMALL = ("prior.model.hidden_size=16", "prior.model.channels=4")  # a small network: the test is about the command


@pytest.fixture(autouse=True)
def stores(prior_stores: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(prior_stores)
    return prior_stores


def test_pretrain_saves_a_prior_with_its_report_and_sacred_record(
        make_dataset: Callable[..., str], capsys: pytest.CaptureFixture[str], stores: Path) -> None:
    from openworld.prior.format import load_prior
    from openworld.tools.cli import main

    dataset = make_dataset("forager", steps=200, num_envs=2, segment_steps=50)
    args = ["pretrain", "prior=bc", f"dataset={dataset}", "out=priors/tiny.prior", *SMALL,
            "prior.training.max_epochs=2", "prior.training.batch_size=64", *QUIET]
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "openworld pretrain: bc-v0 -> priors/tiny.prior" in out and "val/nll" in out
    report = json.loads((stores / "priors" / "tiny.report" / "report.json").read_text())
    assert report["datasets"][0]["id"] == dataset and report["curves"] and report["samples"] > 0
    assert (stores / "priors" / "tiny.report" / "curves.png").stat().st_size > 1000
    record = json.loads((stores / "priors" / "tiny.report" / "sacred" / "1" / "run.json").read_text())
    assert record["status"] == "COMPLETED" and record["result"]["sha256"] == report["file_sha256"]
    assert "val/nll" in json.loads((stores / "priors" / "tiny.report" / "sacred" / "1" / "metrics.json").read_text())
    prior = load_prior("priors/tiny.prior")
    assert prior.provenance["training"]["max_epochs"] == 2 and "val/accuracy" in prior.provenance["metrics"]

    assert main(args) == 2  # the same file again: refused before training, the prior kept
    assert "already exists; nothing was trained" in capsys.readouterr().err
    assert main([*args[:3], "name=meadow-tiny", *args[4:]]) == 0, capsys.readouterr().err
    assert main(["priors"]) == 0
    assert "meadow-tiny-v0" in capsys.readouterr().out
    assert main(["priors", "show", "meadow-tiny-v0"]) == 0
    assert f'"id": "{dataset}"' in capsys.readouterr().out
    assert main(["priors", "kinds"]) == 0
    assert "bc-v0" in capsys.readouterr().out


@pytest.mark.parametrize(("extra", "message"), [
    ([], "dataset=<id> is required"),
    (["dataset=openworld/meadow/none-v0"], "no dataset 'openworld/meadow/none-v0'"),
    (["dataset=openworld/meadow/none-v0", "world=meadow"], "learns from datasets: give dataset=<id>, not world="),
    (["dataset=x", "name=bad name"], "not a valid prior name"),
    (["dataset=x", "name=a", "out=b.prior"], "not both"),
    (["dataset=x", "out=b.pt"], "ends in .prior"),
    (["dataset=x", "+prior.model.hidden_sise=3"], "unknown model key.*hidden_sise"),
    (["dataset=x", "+prior.training.epochs=3"], "training: unknown key"),
    (["dataset=x", "seed=-1"], "seed must be an integer"),
    (["dataset=x", "prior.id=nope"], "unknown prior 'nope'"),
    (["prior=diayn", "world=meadow", "world.variant=heldout_seeds"], "held-out variant of Meadow-v0"),
    (["prior=diayn"], "world=<name> is required"),
    (["prior=diayn", "world=meadow", "dataset=x"], "not dataset="),
    (["prior=diayn", "world=meadow", "steps=0"], "steps must be an integer"),
    (["prior=metra", "world=meadow", "+prior.training.rollout_step=8"], "rollout_step"),
])
def test_refused_requests_write_nothing(extra: list[str], message: str, stores: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from openworld.tools.cli import main

    args = ["pretrain", "prior=bc", *QUIET]
    if not any(item.startswith(("out=", "name=")) for item in extra):
        args.append("out=t.prior")
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert "openworld pretrain: error:" in err
    assert re.search(message, err), err
    assert not list(stores.glob("*.prior")) and not (stores / "priors").exists()


@pytest.mark.parametrize("extra", [
    ["prior=skill-vae", "prior.model.horizon=4", "dataset={dataset}"],
    ["prior=skill-vae", "prior.model.horizon=4", "prior.model.latent=discrete", "dataset={dataset}"],
    ["prior=diayn", "world=meadow", "steps=64", "num_envs=2", "prior.training.rollout_steps=16",
     "prior.training.skill_steps=8", "prior.model.num_skills=3"],
    ["prior=metra", "world=meadow", "world.variant=train", "steps=64", "num_envs=2", "prior.training.rollout_steps=16",
     "prior.training.skill_steps=8", "prior.model.num_skills=3"],
])
def test_each_kind_trains_from_the_command_line_loads_by_id_and_passes_check_prior(
        extra: list[str], make_dataset: Callable[..., str], capsys: pytest.CaptureFixture[str]) -> None:
    from openworld.prior.format import load_prior
    from openworld.testing import check_prior
    from openworld.tools.cli import main

    dataset = make_dataset("forager", steps=150, num_envs=2, segment_steps=50) if "dataset={dataset}" in extra else ""
    offline = ("prior.training.max_updates=20", "prior.training.batch_size=32") if dataset else ()
    args = ["pretrain", *(item.format(dataset=dataset) for item in extra), "name=kind", *SMALL, *offline, *QUIET]
    assert main(args) == 0, capsys.readouterr().err
    prior = load_prior("kind-v0")
    assert prior.provenance["prior"] == extra[0].split("=")[1] + "-v0"
    online = "world=meadow" in extra
    assert prior.provenance["world"] == ("Meadow-v0" if online else None)
    assert bool(prior.provenance["datasets"]) != online
    assert check_prior("kind-v0", batch=4).checked == ("spaces", "shapes", "determinism", "save_load")

