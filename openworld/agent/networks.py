"""The encoder family every learner and prior of openworld shares: per-channel code embeddings of the view,
two 3x3 convolutions, the vitals concatenated, one linear layer.

Agents (``ppo``, ``ppo-rnd``) and priors (``bc``, ``skill-vae``, the skill libraries) build their networks on
:class:`ViewEncoder`, so a behaviour prior's encoder can initialise an agent's (``openworld.priors``), and all of
them read openworld's one observation vocabulary (``Dict(view=Box(V, V, C), vitals=Box(K,))``).

Example:
    >>> import gymnasium as gym
    >>> import torch
    >>> import openworld
    >>> space = gym.make("openworld/Meadow-v0").observation_space
    >>> encoder = ViewEncoder(space_shape(space["view"])[0], view_code_sizes(space), space_shape(space["vitals"])[0],
    ...                       embedding_dim=8, channels=16, hidden_size=64)
    >>> obs = space.sample()
    >>> encoder(torch.as_tensor(obs["view"])[None], torch.as_tensor(obs["vitals"])[None]).shape
    torch.Size([1, 64])
"""

from __future__ import annotations

import math

import numpy as np
import torch
from gymnasium import spaces
from torch import nn


def observation_tensors(obs: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of openworld observations as ``(view uint8 (n, V, V, C), vitals float32 (n, K))`` tensors, sharing
    memory with the arrays where the dtypes allow (read them, do not write them)."""
    view = torch.from_numpy(np.ascontiguousarray(obs["view"], dtype=np.uint8))
    vitals = torch.from_numpy(np.ascontiguousarray(obs["vitals"], dtype=np.float32))
    return view, vitals


def view_code_sizes(observation_space: spaces.Space) -> tuple[int, ...]:
    """Number of codes of each view channel (``high + 1``), from openworld's ``Dict(view, vitals)`` space."""
    view_space = observation_space["view"] if isinstance(observation_space, spaces.Dict) else None
    if not isinstance(view_space, spaces.Box) or len(view_space.shape) != 3:
        raise TypeError(f"expected openworld's Dict(view=Box(V, V, C), vitals=Box(K,)) space, got {observation_space}")
    high = np.asarray(view_space.high).reshape(-1, view_space.shape[-1]).max(0)
    return tuple(int(h) + 1 for h in high)


def space_shape(space: spaces.Space) -> tuple[int, ...]:
    """The shape of a ``Box`` space, as ints."""
    if not isinstance(space, spaces.Box):
        raise TypeError(f"expected a Box space, got {space}")
    return tuple(int(d) for d in space.shape)


class ViewEncoder(nn.Module):
    """Per-channel code embeddings -> two 3x3 convolutions -> flatten, concatenate vitals -> linear.

    Args:
        view_size: ``V`` of the ``(V, V, C)`` view (at least 3).
        code_sizes: number of codes of each of the ``C`` channels.
        num_vitals: length of the vitals vector.
        embedding_dim: embedding width per channel.
        channels: convolution channels.
        hidden_size: output features.
        layer_norm: a ``LayerNorm`` between the linear layer and its ReLU (the ``layer_norm`` plasticity option:
            Lyle et al. 2024); off by default, when the module's parameters are exactly those of before it existed.
    """

    offsets: torch.Tensor  # (C,) first embedding row of each channel
    grid_size: int  # V - 2: the side of the second convolution's output

    def __init__(self, view_size: int, code_sizes: tuple[int, ...], num_vitals: int, embedding_dim: int,
                 channels: int, hidden_size: int, layer_norm: bool = False) -> None:
        super().__init__()
        if view_size < 3:
            raise ValueError(f"the view must be at least 3x3, got {view_size}")
        offsets = np.concatenate([[0], np.cumsum(code_sizes)[:-1]])
        self.grid_size = view_size - 2
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long), persistent=False)
        self.embedding = nn.Embedding(int(sum(code_sizes)), embedding_dim)
        self.conv = nn.Sequential(
            nn.Conv2d(len(code_sizes) * embedding_dim, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3), nn.ReLU(),  # (V - 2) x (V - 2)
        )
        linear = nn.Linear(channels * self.grid_size ** 2 + num_vitals, hidden_size)
        self.project = (nn.Sequential(linear, nn.LayerNorm(hidden_size), nn.ReLU()) if layer_norm
                        else nn.Sequential(linear, nn.ReLU()))

    @classmethod
    def for_space(cls, observation_space: spaces.Space, embedding_dim: int, channels: int,
                  hidden_size: int) -> ViewEncoder:
        """An encoder of openworld's ``Dict(view=Box(V, V, C), vitals=Box(K,))`` observations (``TypeError`` for
        another space)."""
        code_sizes = view_code_sizes(observation_space)
        assert isinstance(observation_space, spaces.Dict)  # checked by view_code_sizes
        (num_vitals,) = space_shape(observation_space["vitals"])
        return cls(space_shape(observation_space["view"])[0], code_sizes, num_vitals, embedding_dim, channels,
                   hidden_size)

    def forward(self, view: torch.Tensor, vitals: torch.Tensor) -> torch.Tensor:
        """``view`` ``(N, V, V, C)`` integer codes, ``vitals`` ``(N, K)`` -> features ``(N, hidden_size)``."""
        codes = view.long() + self.offsets  # (N, V, V, C)
        # index_select rather than nn.Embedding's call: the same rows forward, but its backward is an index_add
        # where embedding_dense_backward sorts every index first (measured: 14% of PPO's whole step at 16 worlds)
        embedded = self.embedding.weight.index_select(0, codes.flatten()).view(*view.shape[:3], -1)  # (N, V, V, C * E)
        grid = self.conv(embedded.permute(0, 3, 1, 2))
        return self.project(torch.cat([grid.flatten(1), vitals.float()], 1))  # type: ignore[no-any-return]


def initialise_module(module: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every layer of ``module`` from ``generator`` (never the global RNG), in module order."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            nn.init.orthogonal_(layer.weight, math.sqrt(2), generator=generator)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Embedding):
            nn.init.normal_(layer.weight, 0.0, 1.0, generator=generator)
        elif isinstance(layer, nn.GRUCell):
            bound = 1.0 / math.sqrt(layer.hidden_size)
            for parameter in layer.parameters():
                nn.init.uniform_(parameter, -bound, bound, generator=generator)
