"""Plasticity in long continual lifetimes: what a learner measures of its own network's ageing
(:mod:`~openworld.agent.plasticity.diagnostics`)."""

from openworld.agent.plasticity.diagnostics import PlasticityReport, measure

__all__ = ["PlasticityReport", "measure"]
