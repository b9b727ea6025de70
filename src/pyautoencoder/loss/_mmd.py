r"""Maximum mean discrepancy between two samples, with RBF and inverse-multiquadric kernels.

The unbiased estimator of ``MMD^2(P, Q)`` from ``x_1..x_n ~ P`` and ``y_1..y_m ~ Q``
(Gretton et al. 2012, *A kernel two-sample test*, eq. 3):

.. math::

    \widehat{\mathrm{MMD}}^2_u = \frac{1}{n(n-1)}\sum_{i \ne j} k(x_i, x_j)
        + \frac{1}{m(m-1)}\sum_{i \ne j} k(y_i, y_j) - \frac{2}{nm}\sum_{i,j} k(x_i, y_j).

It can be slightly negative. Used as the divergence between the aggregate posterior ``q(z)``
and the prior ``p(z)`` by InfoVAE / MMD-VAE (Zhao et al. 2019) and WAE-MMD (Tolstikhin et al.
2018).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch

from .._registry import Registry


class Kernel(ABC):
    """A positive-definite kernel of latent codes, ``k(x [N, D], y [M, D]) -> [N, M]``.

    Both built-ins are functions of the squared distance scaled by ``C = 2 D sigma^2 * s`` for
    each multiplier ``s`` in ``scales`` (summed over scales), the choice of Tolstikhin et al.
    (2018, Sec. 4) for a prior of variance ``sigma^2`` (1 for ``N(0, I)``).
    """

    def __init__(self, scales: Sequence[float] = (1.0,), prior_variance: float = 1.0) -> None:
        values = tuple(float(s) for s in scales)
        if not values or not all(math.isfinite(s) and s > 0 for s in values):
            raise ValueError(f"scales must be a non-empty sequence of floats > 0, got {scales!r}")
        if not (math.isfinite(prior_variance) and prior_variance > 0):
            raise ValueError(f"prior_variance must be a float > 0, got {prior_variance!r}")
        self.scales = values
        self.prior_variance = float(prior_variance)

    @abstractmethod
    def _from_sq_dist(self, sq_dist: torch.Tensor, c: float) -> torch.Tensor:
        """The kernel value for squared distances and one bandwidth ``c``."""

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
            # Explicit differences, not cdist: cdist's gradient is NaN at zero distance.
            sq_dist = (x.unsqueeze(1) - y.unsqueeze(0)).square().sum(dim=-1)  # [N, M]
        else:  # no gradient: cdist needs O(N M) memory, not O(N M D) (images, many samples)
            sq_dist = torch.cdist(x, y).square()  # [N, M]
        base = 2.0 * x.shape[-1] * self.prior_variance
        return sum(
            (self._from_sq_dist(sq_dist, base * s) for s in self.scales[1:]),
            self._from_sq_dist(sq_dist, base * self.scales[0]),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scales={self.scales}, prior_variance={self.prior_variance})"


class RBFKernel(Kernel):
    r"""Gaussian kernel ``k(x, y) = exp(-||x - y||^2 / C)``, ``C = 2 D sigma^2``.

    The kernel of the MMD-VAE (Zhao et al. 2019).
    """

    def _from_sq_dist(self, sq_dist: torch.Tensor, c: float) -> torch.Tensor:
        return torch.exp(-sq_dist / c)


class InverseMultiquadricKernel(Kernel):
    r"""Inverse multiquadric ``k(x, y) = C / (C + ||x - y||^2)`` (Tolstikhin et al. 2018).

    Heavier tails than the RBF kernel, so it still gives gradients to outlying codes.
    """

    def _from_sq_dist(self, sq_dist: torch.Tensor, c: float) -> torch.Tensor:
        return c / (c + sq_dist)


KERNELS: Registry[type[Kernel]] = Registry("kernel")
KERNELS.register("rbf", RBFKernel)
KERNELS.register("imq", InverseMultiquadricKernel)


def get_kernel(kernel: str | Kernel) -> Kernel:
    """Resolve ``"rbf"``, ``"imq"`` or a :class:`Kernel` object."""
    if isinstance(kernel, Kernel):
        return kernel
    if isinstance(kernel, str) and kernel in KERNELS:
        return KERNELS.get(kernel)()
    hint = KERNELS.did_you_mean(kernel, n=2, inline=True)
    raise ValueError(f"Unknown kernel {kernel!r}: expected 'rbf', 'imq' or a Kernel{hint}")


def mmd_unbiased(x: torch.Tensor, y: torch.Tensor, kernel: str | Kernel = "imq") -> torch.Tensor:
    """Unbiased ``MMD^2`` between samples ``x [N, D]`` and ``y [M, D]`` (0-dim tensor).

    Needs ``N, M >= 2``. See the module docstring for the formula.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must be [N, D] and [M, D] with the same D, got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"the unbiased MMD needs at least 2 samples on each side, got {n} and {m}")
    k = get_kernel(kernel)
    k_xx, k_yy, k_xy = k(x, x), k(y, y), k(x, y)
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return term_xx + term_yy - 2.0 * k_xy.mean()
