"""openworld pipeline (openworld/tools/pipeline.py): experiment=prior_bootstrap_quick end to end, stage by stage and
resumable, and the stages' commands and refusals without running them."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from openworld.errors import RunError
from openworld.tools.pipeline import Pipeline, check_config, run_pipeline


def config(out: Path, **changes: Any) -> dict[str, Any]:
    """experiment=prior_bootstrap_quick as composed, writing into ``out``, with top-level ``changes``."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="openworld.experiments.pipeline", version_base="1.3"):
        cfg = compose(config_name="pipeline", overrides=["experiment=prior_bootstrap_quick", f"out={out}"])
    plain: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    return {**plain, **changes}


def test_each_stage_is_one_multirun_per_kind_of_job_for_what_is_missing(tmp_path: Path) -> None:
    pipeline = Pipeline(config(tmp_path))
    (collect,) = pipeline.collect_multiruns()
    assert collect.command == "collect" and "preset=forager,noisy-forager,random" in collect.overrides
    assert "world=blight,drift" in collect.overrides and "world.variant=train_short" in collect.overrides
    # A dataset already there is not collected again: the worlds that lack a source are collected apart.
    metadata = tmp_path / "datasets" / "openworld" / "blight" / "random-v0" / "data" / "metadata.json"
    metadata.parent.mkdir(parents=True)
    metadata.write_text("{}")
    assert sorted(m.overrides[:2] for m in pipeline.collect_multiruns()) == [
        ("preset=forager,noisy-forager", "world=blight,drift"), ("preset=random", "world=drift")]

    pretrain = {m.name: m.overrides for m in pipeline.pretrain_multiruns()}
    assert set(pretrain) == {"pretrain-bc", "pretrain-skill-vae", "pretrain-metra"}
    jobs = next(o for o in pretrain["pretrain-skill-vae"] if o.startswith("+job="))
    # Leave-one-world-out: blight's other-worlds prior learns from drift's garbage heap only, and drift's from blight's.
    assert "{name:'blight-skill-vae-other-worlds',datasets:['openworld/drift/garbage-v0']}" in jobs
    assert "{name:'drift-skill-vae-other-worlds',datasets:['openworld/blight/garbage-v0']}" in jobs
    assert "{name:'blight-skill-vae',datasets:['openworld/blight/garbage-v0']}" in jobs
    assert "world=blight,drift" in pretrain["pretrain-metra"]
    prior = tmp_path / "priors" / "blight-bc-v0.prior"
    prior.parent.mkdir(parents=True)
    prior.write_bytes(b"")
    bc = next(m for m in pipeline.pretrain_multiruns() if m.name == "pretrain-bc")
    assert "blight-bc" not in " ".join(bc.overrides) and "drift-bc" in " ".join(bc.overrides)

    live = pipeline.live_multiruns()  # one per set of arm overrides, sweeping seeds first (Hydra's order)
    assert all(m.overrides[0].startswith("seed=range(") for m in live)
    assert len(live) == 2 and all("resume=auto" in m.overrides for m in live)  # all worlds: the same variants
    assert "world=blight,drift" in live[0].overrides and "world.variant=train_short,heldout_short" in live[0].overrides
    assert "arm=offline-online" in next(m for m in live if "++agent.offline_steps=20" in m.overrides).overrides
    pipeline.config["live"]["arm_overrides"] = {"rlpd": ["++agent.tau=0.01"], "explore": ["++agent.tau=0.01"]}
    live = pipeline.live_multiruns()
    assert len(live) == 2  # the other arms, and rlpd with explore
    assert "arm=rlpd,explore" in next(m for m in live if "++agent.tau=0.01" in m.overrides).overrides
    pipeline.config["live"]["variants"] = {"blight": ["train", "heldout_early"], "drift": ["train", "heldout_reversed"]}
    live = pipeline.live_multiruns()  # variant names that differ by world: one multirun per world
    assert len(live) == 2 * 2 and "world.variant=train,heldout_reversed" in live[-1].overrides
    assert len(pipeline.run_dirs()) == 2 * 2 * 13  # worlds x variants x arms x 1 seed


@pytest.mark.parametrize("change, message", [
    ({"worlds": ["blight"]}, "learns from the other worlds: give at least two worlds"),
    ({"worlds": ["blight", "blight"]}, "worlds must be a list of distinct"),
    ({"collect": {"sources": "forager"}}, "collect.sources must list at least one collect preset"),
    ({"report": {"baseline": "sac", "plots": False}}, "report.baseline 'sac' is not one of live.arms"),
])
def test_a_config_that_cannot_run_is_refused_naming_the_key(tmp_path: Path, change: dict[str, Any],
                                                            message: str) -> None:
    base = config(tmp_path)
    for key, value in change.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) else value
    with pytest.raises(RunError, match=re.escape(message)):
        check_config(base)
    broken = copy.deepcopy(config(tmp_path))
    broken["live"]["arm_overrides"]["sac"] = ["++agent.tau=0.1"]
    with pytest.raises(RunError, match="arm_overrides names arms not in live.arms: sac"):
        check_config(broken)
    broken = copy.deepcopy(config(tmp_path))
    broken["live"]["variants"] = {"blight": ["train_short"]}
    with pytest.raises(RunError, match="none for drift"):
        check_config(broken)


def test_the_quick_pipeline_end_to_end_then_resumed_stage_by_stage(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from openworld.prior.format import read_prior_header
    from openworld.tools.cli import main

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bootstrap"
    assert main(["pipeline", "experiment=prior_bootstrap_quick", f"out={out}"]) == 0
    for stage in ("collect", "pretrain", "live", "report"):
        assert json.loads((out / "stages" / f"{stage}.json").read_text())["seconds"] >= 0
    for world in ("blight", "drift"):
        for name in ("forager", "noisy-forager", "random", "garbage", "garbage-no-reward"):
            assert (out / "datasets" / "openworld" / world / f"{name}-v0" / "data" / "metadata.json").is_file()
    header = read_prior_header(out / "priors" / "blight-skill-vae-other-worlds-v0.prior")
    assert [d["id"] for d in header["datasets"]] == ["openworld/drift/garbage-v0"]  # the other world's data only
    run = out / "live" / "drift" / "heldout_short" / "rlpd-data" / "seed0"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["label"] == "rlpd-data" and summary["split"] == "heldout" and summary["agent"] == "rlpd-v0"
    text = (out / "report" / "report.md").read_text()
    assert "## Against ppo" in text  # (no shift inside 200 steps: the per-shift table is tested in its module's test)
    assert "| Drift-v0 (heldout_short) | spirl-other-worlds | 1 |" in text  # each world its own row

    # A second run redoes nothing; a lifetime that is gone is lived again, and only it.
    lines: list[str] = []
    run_pipeline(config(out), echo=lines.append)
    assert all(any(line.startswith(f"pipeline: {s}: done (") and "skipped" in line for line in lines)
               for s in ("collect", "pretrain", "live", "report"))
    kept = out / "live" / "blight" / "train_short" / "ppo" / "seed0" / "summary.json"
    before = kept.stat().st_mtime_ns
    gone = out / "live" / "blight" / "train_short" / "spirl" / "seed0"
    for path in sorted(gone.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    lines.clear()
    run_pipeline(config(out), echo=lines.append)
    assert (gone / "summary.json").is_file() and kept.stat().st_mtime_ns == before
    assert any(line.startswith("pipeline: live: starting") for line in lines)

    # Finished data made with other settings is refused, not silently reused.
    changed = config(out)
    changed["collect"]["steps"] = 150
    with pytest.raises(RunError, match=r"collect stage .* was finished with other settings: collect.steps is 100"):
        run_pipeline(changed, echo=lines.append)
