r"""The ELBO with NVAE's KL balancing across latent groups during KL warm-up."""

from __future__ import annotations

from typing import Any

import torch

from .._validation import vouch_finite
from ..loss._result import LossResult
from ._base import (
    LikelihoodSpec,
    Objective,
    VariationalModel,
    Weight,
    check_nonnegative,
    register_objective,
)
from ._elbo import beta_elbo_result, elbo_terms


def group_kl(kl_per_dim: torch.Tensor, model: object) -> tuple[torch.Tensor, torch.Tensor]:
    """``(KL per latent group [B, L], latent variables per group [L])`` from ``kl_per_dim [B, D]``.

    The groups are the model's ``group_slices`` (the hierarchical models); a model without
    them (or a Monte Carlo KL, ``[B, 1]``) is one group of all its dimensions. The sizes are in
    ``kl_per_dim``'s dtype and device.
    """
    slices = getattr(model, "group_slices", None)
    dtype, device = kl_per_dim.dtype, kl_per_dim.device
    if slices is None or kl_per_dim.shape[-1] == 1:
        return kl_per_dim.sum(dim=-1, keepdim=True), torch.ones(1, dtype=dtype, device=device)
    groups = torch.stack([kl_per_dim[:, s].sum(dim=-1) for s in slices], dim=-1)
    return groups, torch.tensor(
        [float(s.stop - s.start) for s in slices], dtype=dtype, device=device
    )


def balancing_coefficients(
    kl_groups: torch.Tensor, sizes: torch.Tensor, epsilon: float
) -> torch.Tensor:
    r"""NVAE's balancing coefficients ``gamma_l`` (detached), ``[L]``, mean 1.

    ``c_l = (mean_b KL_bl + epsilon) / d_l`` with ``d_l`` the size of group ``l``, and
    ``gamma_l = L c_l / sum_k c_k`` (Vahdat & Kautz 2020, Appendix A: the coefficient of a group
    is proportional to its KL per latent variable, so a group that carries more information
    is pushed harder and a nearly unused one is left alone while the KL is annealed).

    Parameters
    ----------
    kl_groups : torch.Tensor
        ``[B, L]`` KL of every group.
    sizes : torch.Tensor
        ``[L]`` number of latent variables per group (floating point).
    epsilon : float
        Added to every group's mean KL, so that an unused group still has a weight.
    """
    per_variable = (kl_groups.detach().mean(dim=0) + epsilon) / sizes  # [L]
    return per_variable * (per_variable.shape[0] / per_variable.sum())


@register_objective("kl_balanced_elbo")
class KLBalancedELBO(Objective):
    r"""The ELBO whose KL term is balanced across latent groups while the KL is warmed up.

    Per input ``b`` with groups ``l = 1 .. L`` (a hierarchical model's ``group_slices``; one
    group for a one-layer model) and the effective KL weight ``beta`` (this object's ``beta``
    times the ``beta`` of ``compute_loss``, e.g. a warm-up schedule),

    .. math::

        \mathcal{L}_b = \frac1S \sum_s \log p(x_b \mid z_{bs})
            - \beta \sum_l \gamma_l\,\mathrm{KL}_{bl},

    with ``gamma_l = L c_l / sum_k c_k``, ``c_l = (mean_b KL_bl + epsilon) / d_l`` (detached)
    while ``beta < 1`` and ``gamma_l = 1`` from then on (Vahdat & Kautz 2020, *NVAE: A Deep
    Hierarchical Variational Autoencoder*, Appendix A, "KL balancing coefficients"). During the
    warm-up the groups that carry more KL per variable are penalised more, which keeps the
    others from collapsing; after it the objective is the ELBO (the negative ELBO, batch mean).

    Diagnostics: ``elbo`` (the beta-weighted bound of the true KL), ``log_likelihood``,
    ``kl_divergence`` (the true batch-mean KL), ``elbo_unweighted`` and ``kl_balanced``
    (``sum_l gamma_l mean_b KL_bl``, the KL term the objective used).

    Parameters
    ----------
    beta : float
        KL weight, ``>= 0`` (default 1).
    epsilon : float
        Added to each group's mean KL before the coefficients are formed, ``>= 0`` (default
        0.01).
    """

    def __init__(self, beta: float = 1.0, epsilon: float = 0.01) -> None:
        super().__init__()
        self.beta = check_nonnegative(beta, "beta")
        self.epsilon = check_nonnegative(epsilon, "epsilon")

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        nll, kl_per_dim, weight = elbo_terms(model, x, output, likelihood, beta, self.beta)
        kl_groups, sizes = group_kl(kl_per_dim, model)  # [B, L], [L]
        gamma = balancing_coefficients(kl_groups, sizes, self.epsilon)  # [L]
        group_means = kl_groups.mean(dim=0)  # [L]
        balanced = (group_means * gamma).sum()  # []
        plain = group_means.sum()  # []
        if isinstance(weight, torch.Tensor):  # a schedule's tensor: no host read
            kl_objective = torch.where(weight < 1, balanced, plain)
        else:
            kl_objective = balanced if weight < 1 else plain
        kl = kl_per_dim.sum(dim=-1)  # [B]
        vouch_finite(kl, kl_per_dim)
        return beta_elbo_result(nll, kl, weight, kl_objective, objective_kl_key="kl_balanced")

    def diagnostic_keys(self) -> frozenset[str]:
        return frozenset(
            {"elbo", "log_likelihood", "kl_divergence", "elbo_unweighted", "kl_balanced"}
        )

    def _config_args(self) -> dict[str, Any]:
        return {"beta": self.beta, "epsilon": self.epsilon}
