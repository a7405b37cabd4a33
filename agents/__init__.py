"""openworld's agent catalogue: baselines, each registered next to its definition.

Importing this package (done through the ``openworld.agents`` entry point) registers them.
"""

from openworld.agents import forager, offpolicy, ppo, random_agent, rlpd, rnd, sb3_adapter

__all__ = ["forager", "offpolicy", "ppo", "random_agent", "rlpd", "rnd", "sb3_adapter"]
