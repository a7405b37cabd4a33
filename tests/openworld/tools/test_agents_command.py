"""``openworld agents`` lists every registered agent with its default number of worlds."""

from __future__ import annotations

import pytest


def test_openworld_agents_lists_every_registered_agent(capsys: pytest.CaptureFixture[str]) -> None:
    from openworld.registry import agent_ids
    from openworld.tools.cli import main

    assert main(["agents"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(agent_ids()) <= listed and "ppo-prior-v0" in listed
