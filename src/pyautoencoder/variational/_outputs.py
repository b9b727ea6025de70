"""Output dataclasses of the variational autoencoders (C-VAE-1, C-ADA-2)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._base import ModelOutput


@dataclass(slots=True, repr=False)
class VAEEncodeOutput(ModelOutput):
    """``z [B, S, D_z]`` samples (or the mean), posterior ``mu, log_var [B, D_z]``."""

    z: torch.Tensor
    mu: torch.Tensor
    log_var: torch.Tensor


@dataclass(slots=True, repr=False)
class VAEDecodeOutput(ModelOutput):
    """``x_hat [B, S, ...]``: one decoder output per latent sample."""

    x_hat: torch.Tensor


@dataclass(slots=True, repr=False)
class VAEOutput(ModelOutput):
    """``x_hat [B, S, ...]``, ``z [B, S, D_z]``, ``mu, log_var [B, D_z]``."""

    x_hat: torch.Tensor
    z: torch.Tensor
    mu: torch.Tensor
    log_var: torch.Tensor


@dataclass(slots=True, repr=False)
class AdaGVAEOutput(ModelOutput):
    """The two :class:`VAEOutput` of a pair ``(x1, x2)``."""

    output1: VAEOutput
    output2: VAEOutput
