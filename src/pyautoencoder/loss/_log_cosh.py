r"""Log-cosh reconstruction loss: quadratic near zero, linear in the tails.

.. math::

    \ell(d) = \log\cosh(d) = |d| + \operatorname{softplus}(-2|d|) - \log 2,
    \qquad d = \hat x - x,

the right-hand side being the overflow-free form of ``log((e^d + e^{-d}) / 2)``
(``cosh`` overflows in float32 for ``|d| > 89``). ``l(d) ~ d^2 / 2`` for small ``d`` and
``|d| - log 2`` for large ``|d|``; its derivative is ``tanh(d)``, so gradients are bounded by 1
like L1's yet smooth at 0 like L2's (Chen et al. 2019, "Log hyperbolic cosine loss improves
variational auto-encoder").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from .._validation import check_floating, check_tensor


def _batch_sum(elementwise: torch.Tensor) -> torch.Tensor:
    return elementwise.reshape(elementwise.shape[0], -1).sum(dim=1).mean()


_REDUCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "mean": torch.mean,
    "sum": torch.sum,
    "batch_sum": _batch_sum,
    "none": lambda elementwise: elementwise,
}


def log_cosh(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Elementwise ``log cosh(x_hat - x)`` in the stable form; shape of the inputs.

    Parameters
    ----------
    x_hat, x : Tensor ``[B, ...]``
        Reconstruction and target of the same shape, floating point.
    """
    x_hat = check_tensor(x_hat, "x_hat")
    x = check_tensor(x, "x")
    check_floating(x_hat, "x_hat")
    check_floating(x, "x")
    if x_hat.shape != x.shape:
        raise ValueError(
            f"x_hat must have the shape of x {tuple(x.shape)}, got {tuple(x_hat.shape)}"
        )
    magnitude = (x_hat - x).abs()
    return magnitude + F.softplus(-2 * magnitude) - math.log(2.0)


class LogCosh(nn.Module):
    """Log-cosh loss module; see :func:`log_cosh` for the formula.

    Parameters
    ----------
    reduction : {"mean", "sum", "batch_sum", "none"}
        ``"mean"`` over every element, ``"sum"`` of every element, ``"batch_sum"`` sums each
        example's elements and averages over the batch (the scale of a log-likelihood per
        example), ``"none"`` returns the elementwise tensor.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {tuple(_REDUCTIONS)}, got {reduction!r}")
        self.reduction = reduction
        self._reduce = _REDUCTIONS[reduction]

    def distance(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-example ``sum_j log cosh(x_hat_j - x_j)``, ``[B]`` (whatever ``reduction``).

        What :class:`~pyautoencoder.distributions.PenalizedLikelihood` adds to a likelihood.
        """
        elementwise = log_cosh(x_hat, x)
        return elementwise.reshape(elementwise.shape[0], -1).sum(dim=1)

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The reduced loss (0-dim) or, for ``"none"``, the elementwise one."""
        return self._reduce(log_cosh(x_hat, x))
