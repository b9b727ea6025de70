r"""What every sparse dictionary model shares: a unit-norm dictionary and its linear maps.

A sparse autoencoder (SAE) over inputs ``x [B, D]`` has

.. math::

    \pi = W_{enc} (x - b_{dec}) + b_{enc} \in \mathbb{R}^{M}, \qquad
    z = \sigma(\pi), \qquad \hat x = W_{dec} z + b_{dec},

with a sparse activation ``sigma`` (TopK, BatchTopK, JumpReLU, a gate), ``M`` latents and a
dictionary ``W_dec [D, M]`` whose columns (the learned features) have unit norm. Subtracting
``b_dec`` before the encoder is the *pre-encoder bias* of Gao et al. (2024), sec. 2.

Unit-norm columns are kept in two steps (Bricken et al. 2023; Gao et al. 2024, sec. 2.3):

* in the backward pass the gradient component parallel to each column is removed,
  ``g_i <- g_i - (g_i . w_i) w_i`` (:class:`RemoveParallelGradient`, applied every time the
  dictionary is read, so it holds in any training loop);
* after each optimizer step the columns are rescaled to unit norm
  (:meth:`SparseDictionary.after_optimizer_step`, which :func:`pyautoencoder.training.fit`
  calls; a hand-written loop calls it after ``optimizer.step()``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from .._base import BaseAutoencoder
from .._validation import check_floating, check_nonempty_batch, check_positive_int
from ._outputs import DictionaryDecodeOutput

_NORM_EPS = 1e-12


class RemoveParallelGradient(torch.autograd.Function):
    r"""Identity in the forward pass; removes each column's parallel gradient in the backward.

    For a dictionary ``W [D, M]`` with unit-norm columns ``w_i`` and an incoming gradient
    ``G [D, M]``, the backward pass returns

    .. math:: G_{:,i} - (G_{:,i}^\top w_i)\, w_i ,

    the projection of each column's gradient on the tangent space of the unit sphere at
    ``w_i``. The columns are normalised inside the projection, so it is exact for columns of
    any non-zero norm.
    """

    @staticmethod
    def forward(ctx: Any, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(weight)
        return weight.view_as(weight)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (weight,) = ctx.saved_tensors
        # (G_i . w_i) / ||w_i||^2 per column: the same projection without forming w_i / ||w_i||
        norm_sq = (weight * weight).sum(dim=0, keepdim=True).clamp_min(_NORM_EPS**2)  # [1, M]
        parallel = (grad * weight).sum(dim=0, keepdim=True) / norm_sq  # [1, M]
        return grad - parallel * weight


def unit_columns(weight: torch.Tensor) -> torch.Tensor:
    """``weight [D, M]`` with each column divided by its norm (zero columns stay zero)."""
    return weight / weight.norm(dim=0, keepdim=True).clamp_min(_NORM_EPS)


class SparseDictionary(BaseAutoencoder):
    r"""Base of the sparse autoencoders: parameters, the linear maps and unit-norm upkeep.

    Subclasses implement :meth:`forward` and :meth:`compute_loss` with a sparse activation of
    the pre-activations :meth:`pre_activations`. Inputs are ``[B, D]`` or ``[B, ...]`` with
    ``prod(...) = D`` (flattened; ``x_hat`` comes back in the shape of ``x``).

    Initialisation (Gao et al. 2024, sec. 2.3): dictionary columns drawn uniformly on the unit
    sphere, the encoder initialised to the transpose of the dictionary, both biases zero.

    Parameters
    ----------
    input_dim : int
        ``D``, the number of input features.
    num_latents : int
        ``M``, the number of dictionary columns (latents); usually ``M > D``.
    tied : bool
        ``True``: the encoder weight is the transpose of the dictionary (one parameter
        ``W_dec``); ``False`` (default): a separate ``W_enc [M, D]``.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"sparse_code"})

    def __init__(self, input_dim: int, num_latents: int, *, tied: bool = False) -> None:
        super().__init__()
        self.input_dim = check_positive_int(input_dim, "input_dim")
        self.num_latents = check_positive_int(num_latents, "num_latents")
        if not isinstance(tied, bool):
            raise TypeError(f"tied must be a bool, got {type(tied).__name__} {tied!r}")
        self.tied = tied
        directions = unit_columns(torch.randn(self.input_dim, self.num_latents))
        self.W_dec = nn.Parameter(directions)  # [D, M]
        self.W_enc: nn.Parameter | None
        if tied:
            self.register_parameter("W_enc", None)
        else:
            self.W_enc = nn.Parameter(directions.T.clone())  # [M, D]
        self.b_enc = nn.Parameter(torch.zeros(self.num_latents))  # [M]
        self.b_dec = nn.Parameter(torch.zeros(self.input_dim))  # [D]

    # ------------------------------------------------------------------ linear maps
    def dictionary(self) -> torch.Tensor:
        """``W_dec [D, M]`` whose backward removes the gradient parallel to each column."""
        projected: torch.Tensor = RemoveParallelGradient.apply(self.W_dec)
        return projected

    def encoder_weight(self, dictionary: torch.Tensor) -> torch.Tensor:
        """``W_enc [M, D]``: the dictionary's transpose when tied, else its own parameter."""
        if self.W_enc is None:
            return dictionary.T
        return self.W_enc

    def flatten_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, ...]`` as ``[B, D]``; raises naming the expected ``D`` if it does not fit."""
        check_nonempty_batch(x)
        check_floating(x, "x")
        features = math.prod(x.shape[1:])
        if x.dim() < 2 or features != self.input_dim:
            raise ValueError(
                f"x must be [B, {self.input_dim}] (or [B, ...] with {self.input_dim} features "
                f"per example), got shape {tuple(x.shape)}"
            )
        return x.reshape(x.shape[0], self.input_dim)

    def pre_activations(self, x_flat: torch.Tensor, dictionary: torch.Tensor) -> torch.Tensor:
        """``pi = (x - b_dec) W_enc^T + b_enc``: ``[B, D] -> [B, M]``."""
        return (x_flat - self.b_dec) @ self.encoder_weight(dictionary).T + self.b_enc

    def decode_linear(self, z: torch.Tensor, dictionary: torch.Tensor) -> torch.Tensor:
        """``x_hat = z W_dec^T + b_dec``: ``[B, M] -> [B, D]``."""
        return z @ dictionary.T + self.b_dec

    def _decode(self, z: torch.Tensor) -> DictionaryDecodeOutput:
        """``x_hat [B, D]`` of codes ``z [B, M]``."""
        if z.dim() != 2 or z.shape[1] != self.num_latents:
            raise ValueError(f"z must be [B, {self.num_latents}], got shape {tuple(z.shape)}")
        return DictionaryDecodeOutput(x_hat=self.decode_linear(z, self.dictionary()))

    # ------------------------------------------------------------------ upkeep
    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        """Rescale every dictionary column to unit norm (call after ``optimizer.step()``).

        Part of the post-step protocol of :mod:`pyautoencoder.training`
        (:class:`~pyautoencoder.training.AfterOptimizerStep`): :func:`~pyautoencoder.training.fit`
        calls it after every optimizer step.
        """
        self.W_dec.div_(self.W_dec.norm(dim=0, keepdim=True).clamp_min(_NORM_EPS))

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, num_latents={self.num_latents}, tied={self.tied}"


def squared_error(x_flat: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """``||x_b - x_hat_b||^2`` per example: ``[B, D], [B, D] -> [B]``."""
    return (x_flat - x_hat).pow(2).sum(dim=1)


def mean_active(z: torch.Tensor) -> torch.Tensor:
    """Mean number of non-zero latents per example of codes ``z [B, M]`` (0-dim, detached)."""
    return (z.detach() != 0).sum(dim=1).to(z.dtype).mean()


def sparse_diagnostics(
    x_flat: torch.Tensor, error: torch.Tensor, l0: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Detached ``mse`` (mean ``||x - x_hat||^2``), ``fvu`` and ``l0`` of a batch (0-dim each).

    ``error [B]`` is :func:`squared_error` of the batch and ``l0`` the mean number of non-zero
    latents per example; ``fvu`` is the fraction of variance unexplained over the batch,
    ``sum_b ||x_b - x_hat_b||^2 / sum_b ||x_b - mean_b x||^2``.
    """
    with torch.no_grad():
        error = error.detach()
        centred = (x_flat - x_flat.mean(dim=0, keepdim=True)).pow(2).sum()
        return {
            "mse": error.mean(),
            "fvu": error.sum() / centred.clamp_min(torch.finfo(x_flat.dtype).tiny),
            "l0": l0.detach().to(x_flat.dtype),
        }
