"""Plasticity in long continual lifetimes: what a learner measures of its own network's ageing
(:mod:`~openworld.agent.plasticity.diagnostics`) and the options that keep it learning
(:mod:`~openworld.agent.plasticity.base`; one module each: :mod:`~openworld.agent.plasticity.l2_init`,
:mod:`~openworld.agent.plasticity.shrink_perturb`, :mod:`~openworld.agent.plasticity.adam_betas`,
:mod:`~openworld.agent.plasticity.redo`, :mod:`~openworld.agent.plasticity.cbp`; the hidden units the last two
measure and re-initialise: :mod:`~openworld.agent.plasticity.units`)."""

from openworld.agent.plasticity import adam_betas, cbp, l2_init, redo, shrink_perturb  # noqa: F401  (they register)
from openworld.agent.plasticity.base import OPTIONS, PlasticityOption, build_options, optimizer_settings
from openworld.agent.plasticity.diagnostics import PlasticityReport, measure

__all__ = ["OPTIONS", "PlasticityOption", "PlasticityReport", "build_options", "measure", "optimizer_settings"]
