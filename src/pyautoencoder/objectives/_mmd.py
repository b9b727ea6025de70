r"""An MMD penalty between the aggregate posterior and the prior (InfoVAE, WAE)."""

from __future__ import annotations

from typing import Any

import torch

from ..loss._mmd import InverseMultiquadricKernel, Kernel, RBFKernel, get_kernel, mmd_unbiased
from ..loss._result import LossResult
from ._base import (
    LikelihoodSpec,
    Objective,
    VariationalModel,
    Weight,
    check_nonnegative,
    flat_latents,
    register_objective,
)

_KERNEL_NAMES = {RBFKernel: "rbf", InverseMultiquadricKernel: "imq"}


@register_objective("mmd_penalty")
class MMDPenalty(Objective):
    r"""``weight * MMD^2(q(z), p(z))`` from the batch's posterior samples and prior draws.

    .. math::

        \widehat{\mathrm{MMD}}^2 = \frac{1}{n(n-1)} \sum_{i \ne j} k(z_i, z_j)
            + \frac{1}{n(n-1)} \sum_{i \ne j} k(\tilde z_i, \tilde z_j)
            - \frac{2}{n^2} \sum_{i, j} k(z_i, \tilde z_j),

    with ``z_i ~ q(z)`` and ``z~_j ~ p(z)``, ``n = B S``:
    the unbiased estimator (Gretton et al. 2012, *A kernel two-sample test*, eq. 3) between
    the ``B S`` posterior samples of the batch (samples of the aggregate posterior ``q(z)``)
    and as many draws from the prior (:func:`~pyautoencoder.loss.mmd_unbiased`): the
    divergence of InfoVAE / MMD-VAE (Zhao, Song & Ermon 2019, eq. 6 and Sec. 3.2) and
    WAE-MMD (Tolstikhin et al. 2018, Algorithm 2). A penalty: add it to a bound,
    ``ELBO() + MMDPenalty("imq", 10.0)``. Draws from the global RNG; ignores ``beta``.

    Diagnostics: ``mmd`` (the unweighted ``MMD^2`` estimate; it can be slightly negative).

    Parameters
    ----------
    kernel : {"imq", "rbf"} or Kernel
        The kernel (bandwidth ``2 D_z``, see :class:`~pyautoencoder.loss.RBFKernel`).
    weight : float
        The penalty's weight (>= 0).
    """

    is_penalty = True

    def __init__(self, kernel: str | Kernel = "imq", weight: float = 1.0) -> None:
        super().__init__()
        self.kernel = get_kernel(kernel)
        self.weight = check_nonnegative(weight, "weight")

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        mmd = aggregate_mmd(model, output, self.kernel)
        return LossResult(objective=self.weight * mmd, diagnostics={"mmd": mmd.detach()})

    def diagnostic_keys(self) -> frozenset[str]:
        return frozenset({"mmd"})

    def _config_args(self) -> dict[str, Any]:
        kernel = self.kernel
        name = _KERNEL_NAMES.get(type(kernel))
        if name is None or kernel.scales != (1.0,) or kernel.prior_variance != 1.0:
            raise NotImplementedError(f"MMDPenalty cannot describe the kernel {kernel!r} in JSON")
        return {"kernel": name, "weight": self.weight}


def aggregate_mmd(model: VariationalModel, output: Any, kernel: Kernel) -> torch.Tensor:
    """Unbiased ``MMD^2`` between the ``B * S`` posterior samples and as many prior draws."""
    z = flat_latents(output).z  # [B, S, D_z]
    codes = z.reshape(-1, z.shape[-1])  # [B * S, D_z], samples of q(z)
    if codes.shape[0] < 2:
        raise ValueError(
            "the MMD between q(z) and p(z) needs at least 2 latent samples (B * S >= 2), got "
            f"z of shape {tuple(output.z.shape)}"
        )
    prior_codes = model.latent_prior.sample(codes.shape[0]).to(codes.dtype)  # [B * S, D_z]
    return mmd_unbiased(codes, prior_codes, kernel)
