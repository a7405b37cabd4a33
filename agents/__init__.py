"""openworld's agent catalogue: baselines, each registered next to its definition.

Importing this package (done through the ``openworld.agents`` entry point) registers them.
"""

from openworld.agents import forager, ppo, random_agent, rnd, sb3_adapter, skills, spirl

__all__ = ["forager", "ppo", "random_agent", "rnd", "sb3_adapter", "skills", "spirl"]
