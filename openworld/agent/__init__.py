"""The runner's agent protocol (:mod:`~openworld.agent.protocol`) and :func:`~openworld.agent.lifetime.live`,
the loop of one agent living in one vector env, recorded by a monitor."""
