"""openworld's agent catalogue: baselines, each registered next to its definition.

Importing this package (done through the ``openworld.agents`` entry point) registers them.
"""

from openworld.agents import forager, random_agent

__all__ = ["forager", "random_agent"]
