r"""JumpReLU sparse autoencoder with straight-through L0 training (Rajamanoharan et al. 2024b)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .._validation import check_weight
from ..loss._result import LossResult
from ..registry import register_model
from ._dictionary import SparseDictionary, mean_active, sparse_diagnostics, squared_error
from ._outputs import DictionaryEncodeOutput, DictionaryOutput


def rectangle_kernel(u: torch.Tensor) -> torch.Tensor:
    """``K(u) = 1[-1/2 < u < 1/2]``, the kernel of the pseudo-derivatives (same shape as ``u``)."""
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


def _threshold_pseudo_gradient(
    pre_activations: torch.Tensor, threshold: torch.Tensor, bandwidth: float
) -> torch.Tensor:
    """``-(1 / eps) K((pi - theta) / eps)``: ``[B, M]``."""
    return -rectangle_kernel((pre_activations - threshold) / bandwidth) / bandwidth


def _sum_to_threshold(grad: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Sum a ``[B, M]`` gradient over the batch to the shape of ``theta [M]``."""
    return grad.reshape(-1, threshold.shape[-1]).sum(dim=0).reshape(threshold.shape)


class JumpReLUFunction(torch.autograd.Function):
    r"""``JumpReLU_theta(pi) = pi * H(pi - theta)`` with the straight-through threshold gradient.

    Backward (Rajamanoharan et al. 2024b, eq. 11, rectangle kernel ``K``, bandwidth ``eps``):

    .. math::

        \frac{\partial}{\partial \pi} = H(\pi - \theta), \qquad
        \frac{\eth}{\eth \theta} = -\frac{\theta}{\varepsilon}
            K\!\left(\frac{\pi - \theta}{\varepsilon}\right).

    ``pi [B, M]``, ``theta [M]``; the threshold gradient is summed over the batch.
    """

    @staticmethod
    def forward(
        ctx: Any, pre_activations: torch.Tensor, threshold: torch.Tensor, bandwidth: float
    ) -> torch.Tensor:
        ctx.save_for_backward(pre_activations, threshold)
        ctx.bandwidth = bandwidth
        return pre_activations * (pre_activations > threshold).to(pre_activations.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        pre, threshold = ctx.saved_tensors
        grad_pre = grad * (pre > threshold).to(grad.dtype)
        pseudo = threshold * _threshold_pseudo_gradient(pre, threshold, ctx.bandwidth)
        return grad_pre, _sum_to_threshold(grad * pseudo, threshold), None


class StepFunction(torch.autograd.Function):
    r"""Heaviside ``H(pi - theta)`` with the straight-through threshold gradient.

    Backward (Rajamanoharan et al. 2024b, eq. 12):

    .. math::

        \frac{\partial}{\partial \pi} = 0, \qquad
        \frac{\eth}{\eth \theta} = -\frac{1}{\varepsilon}
            K\!\left(\frac{\pi - \theta}{\varepsilon}\right).
    """

    @staticmethod
    def forward(
        ctx: Any, pre_activations: torch.Tensor, threshold: torch.Tensor, bandwidth: float
    ) -> torch.Tensor:
        ctx.save_for_backward(pre_activations, threshold)
        ctx.bandwidth = bandwidth
        return (pre_activations > threshold).to(pre_activations.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        pre, threshold = ctx.saved_tensors
        pseudo = _threshold_pseudo_gradient(pre, threshold, ctx.bandwidth)
        return torch.zeros_like(grad), _sum_to_threshold(grad * pseudo, threshold), None


def _check_positive_float(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float > 0, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)) or value <= 0:
        raise ValueError(f"{name} must be a finite float > 0, got {value}")
    return float(value)


@register_model("jumprelu_sae", latent="dictionary", latent_arg="num_latents")
class JumpReLUSAE(SparseDictionary):
    r"""Sparse autoencoder with per-latent thresholds and an L0 penalty.

    .. math::

        z = \pi \odot H(\pi - \theta), \qquad
        \mathcal{L} = \frac1B \sum_b \lVert x_b - \hat x_b \rVert^2
            + \lambda \frac1B \sum_b \sum_i H(\pi_{bi} - \theta_i),

    with ``pi = W_enc (x - b_dec) + b_enc`` and ``theta = exp(log_threshold) > 0`` (one per
    latent). The L0 term and the jump have no useful gradient in ``theta``; both are trained
    with straight-through estimators whose pseudo-derivatives use a kernel density estimate of
    bandwidth ``eps`` (Rajamanoharan et al. 2024b, *Jumping Ahead: Improving Reconstruction
    Fidelity with JumpReLU Sparse Autoencoders*, eqs. 11-12; :class:`JumpReLUFunction`,
    :class:`StepFunction`, rectangle kernel). As every model of this package it subtracts the
    pre-encoder bias ``b_dec`` before the encoder (the paper's encoder reads ``x`` itself) and
    keeps the dictionary columns at unit norm (:class:`SparseDictionary`).

    Diagnostics (detached 0-dim): ``mse``, ``fvu``, ``l0``, ``l0_penalty`` (the STE L0),
    ``mean_threshold``.

    Parameters
    ----------
    input_dim, num_latents, tied
        As for :class:`SparseDictionary`.
    sparsity_weight : float
        ``lambda`` >= 0 (default 1e-3): the price of one active latent in squared error.
    bandwidth : float
        ``eps`` > 0 of the pseudo-derivatives (default 1e-3).
    initial_threshold : float
        ``theta`` of every latent at initialisation (default 1e-3).
    """

    def __init__(
        self,
        input_dim: int,
        num_latents: int,
        *,
        tied: bool = False,
        sparsity_weight: float = 1e-3,
        bandwidth: float = 1e-3,
        initial_threshold: float = 1e-3,
    ) -> None:
        super().__init__(input_dim, num_latents, tied=tied)
        self.sparsity_weight = float(check_weight(sparsity_weight, "sparsity_weight"))
        self.bandwidth = _check_positive_float(bandwidth, "bandwidth")
        start = _check_positive_float(initial_threshold, "initial_threshold")
        self.log_threshold = nn.Parameter(torch.full((self.num_latents,), math.log(start)))

    def threshold(self) -> torch.Tensor:
        """``theta = exp(log_threshold)``, ``[M]``."""
        return self.log_threshold.exp()

    def _encode(self, x: torch.Tensor) -> DictionaryEncodeOutput:
        pre = self.pre_activations(self.flatten_input(x), self.dictionary())
        z = JumpReLUFunction.apply(pre, self.threshold(), self.bandwidth)
        return DictionaryEncodeOutput(z=z, pre_activations=pre)

    def forward(self, x: torch.Tensor) -> DictionaryOutput:
        """Encode and decode ``x``; ``x_hat`` shaped like ``x``, ``z [B, M]``."""
        dictionary = self.dictionary()
        pre = self.pre_activations(self.flatten_input(x), dictionary)  # [B, M]
        z = JumpReLUFunction.apply(pre, self.threshold(), self.bandwidth)
        x_hat = self.decode_linear(z, dictionary).reshape(x.shape)
        return DictionaryOutput(x_hat=x_hat, z=z, pre_activations=pre)

    def compute_loss(self, x: torch.Tensor, output: DictionaryOutput) -> LossResult:
        """Mean squared error plus ``sparsity_weight`` times the STE L0; see the class."""
        x_flat = self.flatten_input(x)
        x_hat = output.x_hat.reshape(x_flat.shape)
        error = squared_error(x_flat, x_hat)  # [B]
        mse = error.mean()
        active = StepFunction.apply(output.pre_activations, self.threshold(), self.bandwidth)
        l0 = active.sum(dim=1).mean()
        diagnostics = sparse_diagnostics(x_flat, error, mean_active(output.z))
        diagnostics["l0_penalty"] = l0.detach()
        diagnostics["mean_threshold"] = self.threshold().detach().mean()
        return LossResult(objective=mse + self.sparsity_weight * l0, diagnostics=diagnostics)
