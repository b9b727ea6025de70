r"""The (beta-weighted) evidence lower bound, with optional free bits."""

from __future__ import annotations

from typing import Any

import torch

from .._validation import check_weight, vouch_finite
from ..loss._result import LossResult
from ._base import (
    LikelihoodSpec,
    Objective,
    VariationalModel,
    Weight,
    check_nonnegative,
    register_objective,
    scaled,
)


@register_objective("elbo")
class ELBO(Objective):
    r"""The evidence lower bound with a KL weight ``beta`` and optional free bits.

    Per input ``b``, with ``S`` samples ``z_bs ~ q(z | x_b)``,

    .. math::

        \mathcal{L}_b = \frac1S \sum_s \log p(x_b \mid z_{bs})
            - \beta\,\mathrm{KL}(q(z \mid x_b) \,\|\, p(z)),

    ``objective = -mean_b L_b`` (Kingma & Welling 2014, eq. 10 for ``beta = 1``; the
    beta-VAE of Higgins et al. 2017, eq. 4, otherwise). The KL is the model's
    ``kl_per_dim(output)``: closed form where registered for the (posterior, prior) pair,
    else the Monte Carlo estimate at the drawn samples. The ``beta`` of ``compute_loss`` (a
    schedule) multiplies this object's ``beta``.

    Free bits (Kingma et al. 2016, *Improved variational inference with inverse
    autoregressive flow*, eq. 15): with ``free_bits = lambda`` the KL term of the objective is
    ``sum_d max(lambda, mean_b KL_bd)``; a Monte Carlo KL is one group with threshold
    ``lambda * D_z``. The diagnostics keep the true KL.

    Diagnostics: ``elbo`` (the beta-weighted bound, batch mean), ``log_likelihood``
    (sample- and batch-mean reconstruction term), ``kl_divergence`` (batch-mean KL),
    ``elbo_unweighted`` (``log_likelihood - kl_divergence``) and, with free bits,
    ``kl_free_bits`` (the thresholded KL term).

    Parameters
    ----------
    beta : float
        KL weight, ``>= 0`` (default 1: the ELBO).
    free_bits : float, optional
        Threshold per latent dimension in nats; ``None`` for none.
    """

    def __init__(self, beta: float = 1.0, free_bits: float | None = None) -> None:
        super().__init__()
        self.beta = check_nonnegative(beta, "beta")
        self.free_bits = None if free_bits is None else check_nonnegative(free_bits, "free_bits")

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        log_lik, kl_per_dim, weight = elbo_terms(model, x, output, likelihood, beta, self.beta)
        kl_objective = free_bits_kl(kl_per_dim, self.free_bits, model.latent_dim)
        kl = kl_per_dim.sum(dim=-1)  # [B]
        vouch_finite(kl, kl_per_dim)  # a sum is non-finite wherever a term is
        return beta_elbo_result(log_lik, kl, weight, kl_objective)

    def diagnostic_keys(self) -> frozenset[str]:
        keys = {"elbo", "log_likelihood", "kl_divergence", "elbo_unweighted"}
        return frozenset(keys | ({"kl_free_bits"} if self.free_bits is not None else set()))

    def _config_args(self) -> dict[str, Any]:
        return {"beta": self.beta, "free_bits": self.free_bits}


def elbo_terms(
    model: VariationalModel,
    x: torch.Tensor,
    output: Any,
    likelihood: LikelihoodSpec,
    beta: Weight,
    own_beta: float,
) -> tuple[torch.Tensor, torch.Tensor, Weight]:
    """``(mean_log_lik [], kl_per_dim [B, D_z] or [B, 1], weight)`` of an ELBO-type objective.

    ``mean_log_lik`` is the reconstruction term averaged over inputs and samples (the mean of
    ``mean_s log p(x_b | z_bs)`` over ``b``); ``weight`` is the checked ``beta`` of
    ``compute_loss`` times the objective's own ``own_beta`` (no op when that is 1).
    """
    log_lik = model.mean_reconstruction_log_prob(x, output, likelihood)  # []
    kl_per_dim = model.kl_per_dim(output)
    weight = check_weight(beta, "beta")
    if own_beta != 1.0:
        weight = scaled(own_beta, weight)
    return log_lik, kl_per_dim, weight


def free_bits_kl(
    kl_per_dim: torch.Tensor, free_bits: float | None, latent_dim: int
) -> torch.Tensor | None:
    """The thresholded KL term ``sum_d max(lambda, mean_b KL_bd)`` (scalar), or ``None``.

    ``kl_per_dim`` is ``[B, D_z]``, or ``[B, 1]`` for a Monte Carlo KL (one group with
    threshold ``lambda * D_z``).
    """
    if free_bits is None:
        return None
    threshold = free_bits * (latent_dim if kl_per_dim.shape[1] == 1 else 1)
    return kl_per_dim.mean(dim=0).clamp(min=threshold).sum()


def beta_elbo_result(
    log_lik: torch.Tensor,
    kl: torch.Tensor,
    beta: Weight,
    kl_objective: torch.Tensor | None = None,
    objective_kl_key: str = "kl_free_bits",
) -> LossResult:
    """Assemble the beta-ELBO objective and diagnostics from the batch terms.

    ``log_lik`` is the reconstruction term already averaged over inputs and samples, ``[]``
    (:func:`elbo_terms`); ``kl`` is ``[B]``. The bound ``mean_b (log_lik_b - beta KL_b)`` is
    computed as ``log_lik - beta mean(KL)`` (equal by linearity, fewer and smaller tensor ops
    in the step). ``kl_objective`` (a scalar, e.g.
    the free-bits KL) replaces ``mean_b KL_b`` in the objective only; the diagnostics keep the
    true KL and then add it under ``objective_kl_key`` (``kl_free_bits`` by default).
    """
    mean_log_lik = log_lik  # []
    mean_kl = kl.mean()  # []
    # beta = 1 (a Python number) multiplies nothing: one op less in the training step.
    unit_beta = isinstance(beta, float) and beta == 1.0
    weighted_kl = mean_kl if unit_beta else beta * mean_kl
    if kl_objective is None:
        objective = weighted_kl - mean_log_lik
    else:
        objective = beta * kl_objective - mean_log_lik
    # The diagnostics come from the detached means: ``a - b`` is exactly ``-(b - a)`` in IEEE
    # arithmetic, so the bound equals ``-objective`` (without free bits) bit for bit.
    mean_log_lik, mean_kl = mean_log_lik.detach(), mean_kl.detach()
    # A mean is non-finite wherever a term is: the value checks test these two numbers
    # instead of summing log_lik and kl again.
    vouch_finite(mean_log_lik, log_lik)
    vouch_finite(mean_kl, kl)
    unweighted = mean_log_lik - mean_kl
    # With beta = 1 a tensor of its own (equal to `unweighted`, not an alias of it).
    bound = mean_log_lik - (mean_kl if unit_beta else weighted_kl.detach())
    diagnostics = {
        "elbo": bound,
        "log_likelihood": mean_log_lik,
        "kl_divergence": mean_kl,
        "elbo_unweighted": unweighted,
    }
    if kl_objective is not None:
        diagnostics[objective_kl_key] = kl_objective.detach()
    return LossResult(objective=objective, diagnostics=diagnostics)
