"""Layer normalisation in the encoder (Lyle, Zheng, Khetarpal, van Hasselt, Pascanu, Martens and Dabney 2024,
"Disentangling the Causes of Plasticity Loss in Neural Networks").

Lyle et al. find that plasticity loss has several independent causes (growing pre-activations, unit saturation,
a shifting target scale) and that layer normalisation, which keeps each layer's pre-activations centred and of unit
scale whatever the weights do, removes most of them; combined with weight decay (the ``weight_decay`` option) it
was among the most effective remedies they measured.

Objective: unchanged; the encoder's linear layer becomes ``Linear -> LayerNorm -> ReLU``
(:class:`~openworld.agent.networks.ViewEncoder` with ``layer_norm=True``, a learned gain and bias per unit).

What differs here: only the dense layer is normalised, not the two small convolutions (Lyle et al. normalise every
layer of their MLPs and CNNs); the heads read the normalised features directly. It changes the network, so it is
chosen when the agent is built and a resume with another choice is refused (the state's shapes differ).

Example:
    >>> LayerNormOption().network_settings()
    {'layer_norm': True}
"""

from __future__ import annotations

from typing import Any

from openworld.agent.plasticity.base import PlasticityOption, register_option


@register_option
class LayerNormOption(PlasticityOption):
    """The encoder built with a ``LayerNorm`` before its last ReLU."""

    name = "layer_norm"

    def network_settings(self) -> dict[str, Any]:
        return {"layer_norm": True}
