r"""The multiply importance-weighted bound MIWAE (Rainforth et al. 2018)."""

from __future__ import annotations

import math
from typing import Any

import torch

from .._validation import check_positive_int
from ..loss._iwae_bound import effective_sample_size
from ..loss._result import LossResult
from ._base import LikelihoodSpec, Objective, VariationalModel, Weight, register_objective
from ._importance import SAMPLE_DIAGNOSTICS, importance_terms


def miwae_bound(log_weights: torch.Tensor, num_averaged: int) -> torch.Tensor:
    r"""``mean_m (logsumexp_k log w_mk - log K)`` per input: ``[B, M * K] -> [B]``.

    Sample ``s = m K + k`` belongs to group ``m``. ``M = 1`` is the IWAE bound with ``K``
    samples, ``K = 1`` the ELBO averaged over ``M`` samples.
    """
    batch, total = log_weights.shape
    grouped = log_weights.reshape(batch, num_averaged, total // num_averaged)  # [B, M, K]
    return (torch.logsumexp(grouped, dim=2) - math.log(grouped.shape[2])).mean(dim=1)


def check_group_samples(output: Any, num_averaged: int, num_importance: int, name: str) -> None:
    """Raise ``ValueError`` unless ``output.z`` holds ``M * K`` samples per input."""
    total = output.z.shape[1]
    if total != num_averaged * num_importance:
        raise ValueError(
            f"{name}(num_importance={num_importance}, num_averaged={num_averaged}) needs "
            f"M * K = {num_averaged * num_importance} samples per input, got z of shape "
            f"{tuple(output.z.shape)}; call the model with S=None (its default)"
        )


class GroupedSamplesObjective(Objective):
    """Base of the objectives that draw ``M`` groups of ``K`` samples per input (MIWAE, PIWAE):
    ``num_importance = K``, ``num_averaged = M``, ``num_samples = M K``, and their config."""

    def __init__(self, num_importance: int = 8, num_averaged: int = 8) -> None:
        super().__init__()
        self.num_importance = check_positive_int(num_importance, "num_importance")
        self.num_averaged = check_positive_int(num_averaged, "num_averaged")

    @property
    def num_samples(self) -> int:
        return self.num_importance * self.num_averaged

    def _config_args(self) -> dict[str, Any]:
        return {"num_importance": self.num_importance, "num_averaged": self.num_averaged}


@register_objective("miwae")
class MIWAE(GroupedSamplesObjective):
    r"""``M`` independent ``K``-sample importance-weighted bounds, averaged (MIWAE).

    With ``M K`` samples ``z_mk ~ q(z | x)`` and ``w_mk = p(x, z_mk) / q(z_mk | x)``,

    .. math::

        \mathcal{L}_{M,K}(x) = \frac1M \sum_{m=1}^M \log \frac1K \sum_{k=1}^K w_{mk}

    (Rainforth, Kosiorek, Le, Maddison, Igl, Wood & Teh 2018, *Tighter variational bounds are
    not necessarily better*, Sec. 4). For a fixed budget ``M K`` it trades the tightness of
    the bound (best at ``M = 1``, the IWAE) against the signal-to-noise ratio of the encoder
    gradient, which decays like ``1 / sqrt(K)`` (their Theorem 1). ``M = 1`` is the IWAE,
    ``K = 1`` the ELBO with a Monte Carlo KL. ``forward(x)`` draws ``M K`` samples; sample
    ``s = m K + k`` is in group ``m``. A ``beta != 1`` tempers ``log p(z) - log q(z | x)``.

    Diagnostics: ``miwae_bound`` (minus the objective), ``elbo``, ``log_likelihood``,
    ``kl_divergence``, ``elbo_unweighted`` (as for the ELBO, at the same samples),
    ``effective_sample_size`` (mean Kish ESS within a group, in ``[1, K]``).

    Parameters
    ----------
    num_importance : int
        ``K >= 1``, the samples of each importance-weighted estimate.
    num_averaged : int
        ``M >= 1``, the number of estimates averaged.
    """

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        check_group_samples(output, self.num_averaged, self.num_importance, "MIWAE")
        terms = importance_terms(model, x, output, beta, likelihood)
        objective = -miwae_bound(terms.log_weights, self.num_averaged).mean()
        grouped = terms.log_weights.detach().reshape(-1, self.num_importance)  # [B * M, K]
        diagnostics = {"miwae_bound": -objective.detach(), **terms.diagnostics()}
        diagnostics["effective_sample_size"] = effective_sample_size(grouped).mean()
        return LossResult(objective=objective, diagnostics=diagnostics)

    def diagnostic_keys(self) -> frozenset[str]:
        return SAMPLE_DIAGNOSTICS | {"miwae_bound", "effective_sample_size"}
