r"""The combination importance-weighted bound CIWAE (Rainforth et al. 2018)."""

from __future__ import annotations

import math
from typing import Any

import torch

from .._validation import check_num_samples
from ..loss._iwae_bound import effective_sample_size, iwae_bound
from ..loss._result import LossResult
from ._base import (
    LikelihoodSpec,
    Objective,
    VariationalModel,
    Weight,
    check_nonnegative,
    register_objective,
)
from ._importance import SAMPLE_DIAGNOSTICS, importance_terms


def ciwae_bound(log_weights: torch.Tensor, beta: float) -> torch.Tensor:
    """``beta * mean_k log w_k + (1 - beta) * (logsumexp_k log w_k - log K)``: ``[B, K] -> [B]``."""
    elbo = log_weights.mean(dim=1)  # [B]
    iwae = torch.logsumexp(log_weights, dim=1) - math.log(log_weights.shape[1])  # [B]
    return beta * elbo + (1.0 - beta) * iwae


@register_objective("ciwae")
class CIWAE(Objective):
    r"""A convex combination of the ELBO and the IWAE bound on the same ``K`` samples.

    .. math::

        \mathcal{L}^{\mathrm{CIWAE}}_\beta(x) = \beta\, \frac1K \sum_k \log w_k
            + (1 - \beta) \log \frac1K \sum_k w_k,
        \qquad w_k = \frac{p(x, z_k)}{q(z_k \mid x)},

    (Rainforth et al. 2018, *Tighter variational bounds are not necessarily better*, Sec. 4):
    the ELBO part keeps the encoder gradient's signal-to-noise ratio from vanishing as ``K``
    grows, the IWAE part tightens the bound. ``beta = 1`` is the ELBO with a Monte Carlo KL
    averaged over ``K`` samples, ``beta = 0`` the IWAE. (This ``beta`` is the paper's mixing
    weight; the KL weight ``beta`` of ``compute_loss`` tempers ``log p(z) - log q(z | x)`` in
    every ``w_k``, as for the other importance-weighted bounds.)

    Diagnostics: ``ciwae_bound`` (minus the objective), ``iwae_bound`` (the IWAE part),
    ``elbo``, ``log_likelihood``, ``kl_divergence``, ``elbo_unweighted`` (at the same
    samples), ``effective_sample_size`` (mean Kish ESS, in ``[1, K]``).

    Parameters
    ----------
    beta : float
        Mixing weight in ``[0, 1]`` of the ELBO.
    num_samples : int
        ``K >= 1`` drawn by ``forward(x)``.
    """

    def __init__(self, beta: float = 0.5, num_samples: int = 5) -> None:
        super().__init__()
        self.beta = check_nonnegative(beta, "beta")
        if self.beta > 1.0:
            raise ValueError(f"beta (the CIWAE mixing weight) must lie in [0, 1], got {beta!r}")
        self._num_samples = check_num_samples(num_samples, "num_samples")

    @property
    def num_samples(self) -> int:
        return self._num_samples

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        terms = importance_terms(model, x, output, beta, likelihood)
        log_w = terms.log_weights  # [B, K]
        objective = -ciwae_bound(log_w, self.beta).mean()
        diagnostics = {
            "ciwae_bound": -objective.detach(),
            "iwae_bound": iwae_bound(log_w.detach()).mean(),
            **terms.diagnostics(),
        }
        diagnostics["effective_sample_size"] = effective_sample_size(log_w.detach()).mean()
        return LossResult(objective=objective, diagnostics=diagnostics)

    def diagnostic_keys(self) -> frozenset[str]:
        return SAMPLE_DIAGNOSTICS | {"ciwae_bound", "iwae_bound", "effective_sample_size"}

    def _config_args(self) -> dict[str, Any]:
        return {"beta": self.beta, "num_samples": self.num_samples}
