"""Output dataclasses of the variational autoencoders."""

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
class PosteriorEncodeOutput(VAEEncodeOutput):
    """A :class:`VAEEncodeOutput` that also carries the posterior's density at its samples.

    Returned by models whose posterior is not the diagonal Gaussian (full covariance, flows):
    ``log_q [B, S]`` is ``log q(z_s | x)`` at ``z``, including a flow's log-determinants;
    ``scale_tril [B, D_z, D_z]`` is the Cholesky factor of a full-covariance posterior (else
    ``None``). ``mu, log_var`` are the base Gaussian's (see
    :mod:`pyautoencoder.distributions`).
    """

    log_q: torch.Tensor | None = None
    scale_tril: torch.Tensor | None = None


@dataclass(slots=True, repr=False)
class PosteriorOutput(VAEOutput):
    """A :class:`VAEOutput` with ``log_q [B, S]`` and ``scale_tril`` (see
    :class:`PosteriorEncodeOutput`), for posteriors other than the diagonal Gaussian."""

    log_q: torch.Tensor | None = None
    scale_tril: torch.Tensor | None = None


@dataclass(slots=True, repr=False)
class AdaGVAEOutput(ModelOutput):
    """The two :class:`VAEOutput` of a pair ``(x1, x2)``."""

    output1: VAEOutput
    output2: VAEOutput
