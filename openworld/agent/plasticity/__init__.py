"""Plasticity in long continual lifetimes: what a learner measures of its own network's ageing
(:mod:`~openworld.agent.plasticity.diagnostics`) and the options that keep it learning
(:mod:`~openworld.agent.plasticity.base`, built from config by :mod:`~openworld.agent.plasticity.config`; one
module each: :mod:`~openworld.agent.plasticity.l2_init`, :mod:`~openworld.agent.plasticity.shrink_perturb`,
:mod:`~openworld.agent.plasticity.adam_betas`, :mod:`~openworld.agent.plasticity.layer_norm`,
:mod:`~openworld.agent.plasticity.weight_decay`, :mod:`~openworld.agent.plasticity.head_reset`,
:mod:`~openworld.agent.plasticity.redo`, :mod:`~openworld.agent.plasticity.cbp`; the hidden units the last two
measure and re-initialise: :mod:`~openworld.agent.plasticity.units`)."""

from openworld.agent.plasticity.base import OPTIONS, PlasticityOption
from openworld.agent.plasticity.config import PlasticityOptions, build_options
from openworld.agent.plasticity.diagnostics import PlasticityReport, measure

__all__ = ["OPTIONS", "PlasticityOption", "PlasticityOptions", "PlasticityReport", "build_options", "measure"]
