"""Output dataclasses of the deterministic autoencoders."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._base import ModelOutput


@dataclass(slots=True, repr=False)
class AEEncodeOutput(ModelOutput):
    """``z``: the code, ``[B, ...]`` as the encoder returns it."""

    z: torch.Tensor


@dataclass(slots=True, repr=False)
class AEDecodeOutput(ModelOutput):
    """``x_hat``: the reconstruction, ``[B, ...]`` as the decoder returns it."""

    x_hat: torch.Tensor


@dataclass(slots=True, repr=False)
class AEOutput(ModelOutput):
    """``x_hat`` (reconstruction) and ``z`` (code) of a forward pass."""

    x_hat: torch.Tensor
    z: torch.Tensor
