"""openworld's agent catalogue: baselines and agents that bring prior experience, each registered next to its
definition (``docs/agents.md``).

Importing this package (done through the ``openworld.agents`` entry point) registers them.
"""

from openworld.agents import (
    explore,
    forager,
    offline_online,
    offpolicy,
    ppo,
    ppo_prior,
    random_agent,
    rlpd,
    rnd,
    sb3_adapter,
    skills,
    spirl,
)

__all__ = ["explore", "forager", "offline_online", "offpolicy", "ppo", "ppo_prior", "random_agent", "rlpd", "rnd",
           "sb3_adapter", "skills", "spirl"]
