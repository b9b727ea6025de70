r"""The DIP-VAE penalty (Kumar, Sattigeri & Balakrishnan 2018) as an objective term."""

from __future__ import annotations

from typing import Any, Literal

import torch

from ..loss._dip import dip_covariance, dip_penalty
from ..loss._result import LossResult
from ._base import (
    LikelihoodSpec,
    Objective,
    VariationalModel,
    Weight,
    check_nonnegative,
    flat_latents,
    register_objective,
    require_diagonal_posterior,
)

DIPKind = Literal["i", "ii"]


@register_objective("dip_penalty")
class DIPPenalty(Objective):
    r"""Penalise the distance of the aggregate posterior's covariance from ``I``.

    .. math::

        R = \lambda_{od} \sum_{i \ne j} \mathrm{Cov}_{ij}^2
            + \lambda_d \sum_i (\mathrm{Cov}_{ii} - 1)^2,

    with ``Cov`` the batch covariance of the posterior means (``kind="i"``) or
    ``E[diag sigma^2] + Cov[mu]`` (``kind="ii"``) (Kumar, Sattigeri & Balakrishnan 2018,
    *Variational inference of disentangled latent concepts from unlabeled observations*,
    eqs. 7-9; :func:`~pyautoencoder.loss.dip_covariance`). A penalty: add it to a bound,
    ``ELBO() + DIPPenalty("ii", 10.0)``. Needs ``B >= 2`` and a diagonal Gaussian posterior;
    ignores ``beta``.

    Diagnostics: ``dip_penalty`` (``R``), ``covariance_off_diagonal`` (sum of squared
    off-diagonal entries), ``covariance_diagonal`` (sum of squared deviations from 1).

    Parameters
    ----------
    kind : {"i", "ii"}
        DIP-VAE-I or DIP-VAE-II.
    lambda_od : float
        Weight of the off-diagonal term (>= 0).
    lambda_d : float, optional
        Weight of the diagonal term; default ``10 * lambda_od`` for "i" and ``lambda_od`` for
        "ii", the paper's settings.
    """

    is_penalty = True

    def __init__(
        self, kind: DIPKind = "i", lambda_od: float = 10.0, lambda_d: float | None = None
    ) -> None:
        super().__init__()
        if kind not in ("i", "ii"):
            raise ValueError(f"kind must be 'i' or 'ii', got {kind!r}")
        self.kind: DIPKind = kind
        self.lambda_od = check_nonnegative(lambda_od, "lambda_od")
        default_d = 10.0 * self.lambda_od if kind == "i" else self.lambda_od
        self.lambda_d = default_d if lambda_d is None else check_nonnegative(lambda_d, "lambda_d")

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        require_diagonal_posterior(model, "DIPPenalty")
        if x.shape[0] < 2:
            raise ValueError(
                f"DIP-VAE estimates a covariance over the batch and needs B >= 2, got {x.shape[0]}"
            )
        codes = flat_latents(output)  # mu, log_var [B, D_z]
        if codes.mu.dim() != 2:
            raise TypeError(
                "DIPPenalty needs one diagonal Gaussian posterior per input, mu [B, D_z]; got "
                f"mu of shape {tuple(codes.mu.shape)} (per-sample moments, as a top-down "
                "hierarchical posterior has)"
            )
        cov = dip_covariance(codes.mu, codes.log_var, self.kind)
        penalty, off_diagonal, diagonal = dip_penalty(cov, self.lambda_od, self.lambda_d)
        return LossResult(
            objective=penalty,
            diagnostics={
                "dip_penalty": penalty.detach(),
                "covariance_off_diagonal": off_diagonal.detach(),
                "covariance_diagonal": diagonal.detach(),
            },
        )

    def diagnostic_keys(self) -> frozenset[str]:
        return frozenset({"dip_penalty", "covariance_off_diagonal", "covariance_diagonal"})

    def _config_args(self) -> dict[str, Any]:
        return {"kind": self.kind, "lambda_od": self.lambda_od, "lambda_d": self.lambda_d}
