"""docs/plugging-in-agents.md runs as written, and the agents' docstring examples pass."""

from __future__ import annotations

import doctest
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import openworld.agents.explore
import openworld.agents.offline_online
import openworld.agents.offpolicy
import openworld.agents.ppo
import openworld.agents.ppo_prior
import openworld.agents.rlpd
import openworld.agents.rnd
import openworld.agents.skill_control
import openworld.agents.skills
import openworld.agents.spirl

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugging-in-agents.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)


def test_the_guide_runs_in_order() -> None:
    blocks = python_blocks()
    custom_agent = blocks[0]
    code_lines = [line for line in custom_agent.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(code_lines) <= 40, f"the custom agent should stay about 30 lines, it has {len(code_lines)}"
    if importlib.util.find_spec("stable_baselines3") is None:
        blocks = [b for b in blocks if "stable_baselines3" not in b]
    # A fresh interpreter: the guide registers an agent id, and registering twice is an error.
    proc = subprocess.run([sys.executable, "-c", "\n\n".join(blocks)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "check_agent(vital-bandit-v0, Meadow-v0" in proc.stdout
    assert "deaths in 2000 steps of 8 worlds" in proc.stdout


@pytest.mark.parametrize("module", [openworld.agents.ppo, openworld.agents.rnd, openworld.agents.offpolicy,
                                    openworld.agents.offline_online,
                                    openworld.agents.rlpd, openworld.agents.ppo_prior, openworld.agents.skill_control,
                                    openworld.agents.spirl, openworld.agents.skills, openworld.agents.explore],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module: object) -> None:
    failures, attempted = doctest.testmod(module, verbose=False)  # type: ignore[arg-type]
    assert attempted > 0 and failures == 0
