"""How a condition ``y`` enters a conditional model's networks (the CVAE's conditioning)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class Conditioning(nn.Module, ABC):
    """How the condition enters the networks; subclass it for other schemes.

    ``y`` arrives as a float vector ``[N, condition_dim]`` (class labels already one-hot).
    Being an ``nn.Module``, a conditioning may hold parameters (embeddings, FiLM layers); they
    are saved under ``conditioning.*`` in the model's ``state_dict``.
    """

    @abstractmethod
    def encoder_input(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """What the encoder receives, from ``x [B, ...]`` and ``y [B, condition_dim]``."""

    @abstractmethod
    def decoder_input(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """What the decoder receives, from ``z [N, D_z]`` and ``y [N, condition_dim]``."""


class ConcatConditioning(Conditioning):
    """The default: ``encoder(cat[x.flatten(1), y])`` and ``decoder(cat[z, y])``.

    The encoder must therefore accept flat inputs of ``prod(x.shape[1:]) + condition_dim``
    features (a ``LazyLinear`` first layer does); for convolutional encoders write a
    :class:`Conditioning` that, say, appends ``y`` as constant feature maps.
    """

    def encoder_input(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.flatten(start_dim=1), y.to(x.dtype)], dim=1)

    def decoder_input(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, y.to(z.dtype)], dim=1)
