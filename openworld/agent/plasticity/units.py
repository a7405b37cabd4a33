"""The hidden units of a learner's network, for options that measure units and re-initialise some of them (ReDo,
continual backpropagation).

A *unit layer* is one ReLU's output: ``(N, units)`` after a linear layer or ``(N, channels, H, W)`` after a
convolution (a channel is one unit). For each it records where the unit's activity is read (the ReLU module, hooked
by :class:`UnitActivations`), the layer that produces it (whose rows, the unit's incoming weights and bias, are
re-drawn) and the outgoing weight slices that read it (zeroed, so a fresh unit starts with no effect on the
output). For :class:`~openworld.agent.networks.ViewEncoder` followed by linear heads (``ppo``'s ``ActorCritic``)::

    conv[0] -> conv[1] ReLU     units: channels   outgoing: conv[2].weight[:, c]
    conv[2] -> conv[3] ReLU     units: channels   outgoing: project[0].weight[:, c*P : (c+1)*P], P = (V-2)^2
    project[0] -> project[1]    units: hidden     outgoing: column u of every head's weight

(the flattened grid is channel-major, so channel ``c`` owns ``P`` consecutive columns of ``project[0]``; the vitals'
columns come after them and belong to no unit).

Re-initialising a unit (:func:`reinitialise_units`):

* incoming weights: the unit's rows of a fresh orthogonal matrix of the layer's whole shape with gain sqrt 2, drawn
  from the learner's generator, as :func:`~openworld.agent.networks.initialise_module` initialised the layer. A row
  of an orthogonal matrix has exactly the distribution the unit's row had at the start (norm sqrt 2 when the layer
  has more inputs than units), where a normal draw of the same standard deviation only matches the scale on average;
  the cost is one QR of the layer's shape, paid only on steps that reset something. The new rows are not orthogonal
  to the surviving ones (those have trained away from orthogonality anyway). Biases: zero, as at the start.
* outgoing weights: zero, so the network's output is unchanged by the reset (both papers do this).
* Adam: ``exp_avg`` and ``exp_avg_sq`` (and ``max_exp_avg_sq`` under AMSGrad) of exactly those entries are zeroed,
  so a fresh weight is not pushed by its predecessor's momentum or damped by its predecessor's gradient scale.
  Adam's ``step`` is one count per tensor in torch and stays: the fresh entries' first update is then
  ``(1 - beta1) / sqrt(1 - beta2)`` times a normal step (3.2x at the defaults) instead of Dohare et al.'s
  per-entry bias correction (their ``AdamGnT`` keeps a step per entry); optax's Adam, which keeps one count too,
  behaves as here.

Two networks are supported (:func:`feature_readers`): ``ppo``'s ``ActorCritic``, whose encoder features feed the
policy and value heads, and the off-policy core's ``SoftQNetworks``, whose encoder features feed every critic's
hidden layer (one ``(E, in, out)`` weight: a projection unit's outgoing weights are ``weight[:, u, :]``, its column
in every critic). Only the encoder's units are recycled there: the critics' hidden units sit behind layer norm, which
these options do not handle yet (a recycled unit would need its LayerNorm gain and bias reset too), and the critics'
outputs are the values. A recurrent ``ActorCritic`` (GRU memory) is refused because the encoder's features are read
there by the GRU's three gates, not by the heads (not mapped yet).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from openworld.agent.networks import ViewEncoder
    >>> encoder = ViewEncoder(5, (3, 4), 2, embedding_dim=2, channels=3, hidden_size=6)
    >>> layers = encoder_unit_layers(encoder, [nn.Linear(6, 4)])
    >>> [(layer.name, layer.units) for layer in layers]
    [('encoder.conv.1', 3), ('encoder.conv.3', 3), ('encoder.project.1', 6)]
    >>> [(tuple(s.parameter.shape), s.dim, s.span) for s in layers[1].outgoing]  # 3 channels x 3x3 positions + 2
    [((6, 29), 1, 9)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from openworld.agent.networks import ViewEncoder

GAIN = math.sqrt(2)  # initialise_module's gain for every hidden layer (ReLU)


@dataclass(frozen=True)
class WeightSlice:
    """The entries of ``parameter`` that belong to unit ``u``: indices ``u*span .. (u+1)*span - 1`` along ``dim``."""

    parameter: torch.Tensor  # an nn.Parameter of the model
    dim: int
    span: int = 1

    def indices(self, units: torch.Tensor) -> torch.Tensor:
        """Indices along :attr:`dim` of ``units``' entries."""
        return (units[:, None] * self.span + torch.arange(self.span)).flatten()


@dataclass(frozen=True)
class UnitLayer:
    """One ReLU layer's units (see the module docstring).

    Attributes:
        name: the ReLU module's name in the model (``encoder.project.1``).
        activation: the module whose output is the units' activity ``(N, units, ...)``.
        incoming: the Linear or Conv2d that produces the units (one output row or channel per unit).
        outgoing: the weight slices that read the units.
    """

    name: str
    activation: nn.Module
    incoming: nn.Linear | nn.Conv2d
    outgoing: tuple[WeightSlice, ...]

    @property
    def units(self) -> int:
        return int(self.incoming.weight.shape[0])

    def incoming_slices(self) -> tuple[WeightSlice, ...]:
        """The incoming weight rows and bias entries of the units."""
        bias = () if self.incoming.bias is None else (WeightSlice(self.incoming.bias, 0),)
        return (WeightSlice(self.incoming.weight, 0), *bias)


def encoder_unit_layers(encoder: ViewEncoder, heads: Sequence[nn.Module], prefix: str = "encoder.") -> list[UnitLayer]:
    """The three ReLU layers of a :class:`~openworld.agent.networks.ViewEncoder` whose features feed ``heads`` (each
    with a ``weight`` that reads the features along its dim 1)."""
    first, second, project = encoder.conv[0], encoder.conv[2], encoder.project[0]
    assert isinstance(first, nn.Conv2d) and isinstance(second, nn.Conv2d) and isinstance(project, nn.Linear)
    positions = encoder.grid_size ** 2  # channel c owns columns c*P .. (c+1)*P - 1 of the flattened grid
    return [
        UnitLayer(f"{prefix}conv.1", encoder.conv[1], first, (WeightSlice(second.weight, 1),)),
        UnitLayer(f"{prefix}conv.3", encoder.conv[3], second, (WeightSlice(project.weight, 1, positions),)),
        UnitLayer(f"{prefix}project.1", encoder.project[1], project,
                  tuple(WeightSlice(_weight(head), 1) for head in heads)),
    ]


def feature_readers(model: nn.Module) -> list[nn.Module] | None:
    """The layers that read a supported model's encoder features, each with the features along its weight's dim 1:
    ``ppo``'s ``ActorCritic`` (linear ``policy`` and ``value`` heads, ``(out, in)`` weights) or the off-policy core's
    ``SoftQNetworks`` (``critics.hidden``, an ensemble layer with an ``(E, in, out)`` weight); None for another
    model."""
    policy, value = getattr(model, "policy", None), getattr(model, "value", None)
    if isinstance(policy, nn.Linear) and isinstance(value, nn.Linear):
        return [policy, value]
    hidden = getattr(getattr(model, "critics", None), "hidden", None)
    weight = getattr(hidden, "weight", None)
    if isinstance(hidden, nn.Module) and isinstance(weight, torch.Tensor) and weight.dim() == 3:
        return [hidden]
    return None


def unit_layers(model: nn.Module, option: str) -> list[UnitLayer]:
    """The unit layers of a supported model: the encoder's, read by :func:`feature_readers`.

    Raises:
        ValueError: naming ``option``, for a recurrent model, an encoder with layer norm, or a network of another
            shape.
    """
    if getattr(model, "memory", None) is not None:
        raise ValueError(f"plasticity option {option!r} does not support a recurrent model (GRU memory) yet: use it "
                         "with recurrent=false")
    encoder, readers = getattr(model, "encoder", None), feature_readers(model)
    if not isinstance(encoder, ViewEncoder) or readers is None:
        raise ValueError(f"plasticity option {option!r} supports ppo's ActorCritic and the off-policy core's "
                         f"SoftQNetworks (a ViewEncoder read by heads or critics), not {type(model).__name__}")
    if any(isinstance(module, nn.LayerNorm) for module in encoder.modules()):
        # A recycled unit would also need its LayerNorm gain and bias reset, and its statistics move with every
        # other unit's: not built yet.
        raise ValueError(f"plasticity option {option!r} does not support the layer_norm option yet: use one of them")
    return encoder_unit_layers(encoder, readers)


def _weight(module: nn.Module) -> torch.Tensor:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight


class UnitActivations:
    """The activity of each unit layer in the model's last forward pass with gradients enabled.

    Forward hooks store a detached reference to each ReLU's output (no copy, no change to the output). Passes without
    gradients (acting, bootstrapping, diagnostics) are ignored, so after an optimiser step :attr:`outputs` holds the
    minibatch that step learnt from.
    """

    def __init__(self, layers: Sequence[UnitLayer]) -> None:
        self.layers = list(layers)
        self.outputs: list[torch.Tensor | None] = [None] * len(self.layers)
        self.handles = [layer.activation.register_forward_hook(_StoreOutput(self, i))
                        for i, layer in enumerate(self.layers)]

    def mean_activity(self, index: int) -> torch.Tensor:
        """``(units,)`` mean ``|h|`` of layer ``index`` over the batch (and positions) of the last pass."""
        output = self.outputs[index]
        if output is None:
            raise RuntimeError(f"no forward pass with gradients has reached {self.layers[index].name} yet")
        return output.abs().transpose(0, 1).flatten(1).mean(1)

    def remove(self) -> None:
        """Unhook from the model."""
        for handle in self.handles:
            handle.remove()


class _StoreOutput:
    """A forward hook keeping layer ``index``'s output (an object, not a closure, so a deep copy of a learner
    re-points its model's hooks at the copied :class:`UnitActivations`)."""

    def __init__(self, owner: UnitActivations, index: int) -> None:
        self.owner, self.index = owner, index

    def __call__(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        if torch.is_grad_enabled():
            self.owner.outputs[self.index] = output.detach()


def outgoing_magnitude(layer: UnitLayer) -> torch.Tensor:
    """``(units,)`` sum of ``|w|`` over every outgoing weight that reads each unit."""
    total = torch.zeros(layer.units)
    for piece in layer.outgoing:
        weight = piece.parameter.detach().abs().transpose(0, piece.dim)  # the units' entries along dim 0
        # narrow: project[0]'s input ends with the vitals' columns, which belong to no unit
        total += weight.narrow(0, 0, layer.units * piece.span).reshape(layer.units, piece.span, -1).sum((1, 2))
    return total


@torch.no_grad()
def reinitialise_units(resets: Sequence[tuple[UnitLayer, torch.Tensor]], optimizer: torch.optim.Optimizer | None,
                       generator: torch.Generator) -> None:
    """For each ``(layer, units)``: re-draw the units' incoming weights (zero bias), then zero their outgoing weights
    and the Adam moments of both.

    All incoming weights are re-drawn before any outgoing weight is zeroed: where a reset unit of one layer reads a
    reset unit of the layer before (``conv[2].weight[j, i]``), the weight is both, and zero wins, so a reset unit's
    outgoing weights are always zero and the order of the layers does not matter. Draws from ``generator`` only for
    layers with units to reset, so a step that resets nothing changes no random stream.
    """
    resets = [(layer, units.to(torch.long)) for layer, units in resets if units.numel()]
    for layer, units in resets:
        weight = layer.incoming.weight
        fresh = torch.empty_like(weight)
        nn.init.orthogonal_(fresh, GAIN, generator=generator)
        weight.index_copy_(0, units, fresh.index_select(0, units))
        if layer.incoming.bias is not None:
            layer.incoming.bias.index_fill_(0, units, 0.0)
    for layer, units in resets:
        for piece in layer.outgoing:
            piece.parameter.index_fill_(piece.dim, piece.indices(units), 0.0)
    if optimizer is None:
        return
    for layer, units in resets:
        for piece in (*layer.incoming_slices(), *layer.outgoing):
            state = optimizer.state.get(piece.parameter, {})
            for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                moment = state.get(key)
                if isinstance(moment, torch.Tensor) and moment.shape == piece.parameter.shape:
                    moment.index_fill_(piece.dim, piece.indices(units), 0.0)
