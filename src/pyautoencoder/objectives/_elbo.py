r"""The (beta-weighted) evidence lower bound, with optional free bits."""

from __future__ import annotations

from typing import Any

import torch

from .._validation import check_weight, vouch_finite
from ..loss._result import DeferredLossResult, LossResult
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
        nll, kl_per_dim, weight = elbo_terms(model, x, output, likelihood, beta, self.beta)
        kl_objective = free_bits_kl(kl_per_dim, self.free_bits, model.latent_dim)
        kl = kl_per_dim.sum(dim=-1)  # [B]
        vouch_finite(kl, kl_per_dim)  # a sum is non-finite wherever a term is
        return beta_elbo_result(nll, kl, weight, kl_objective)

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
    """``(nll [B], kl_per_dim [B, D_z] or [B, 1], weight)`` of an ELBO-type objective.

    ``nll`` is each input's reconstruction term, ``-mean_s log p(x_b | z_bs)``
    (``model.reconstruction_nll``); ``weight`` is the checked ``beta`` of ``compute_loss``
    times the objective's own ``own_beta`` (no op when that is 1).
    """
    nll = model.reconstruction_nll(x, output, likelihood)  # [B]
    kl_per_dim = model.kl_per_dim(output)
    weight = check_weight(beta, "beta")
    if own_beta != 1.0:
        weight = scaled(own_beta, weight)
    return nll, kl_per_dim, weight


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
    nll: torch.Tensor,
    kl: torch.Tensor,
    beta: Weight,
    kl_objective: torch.Tensor | None = None,
    objective_kl_key: str = "kl_free_bits",
) -> LossResult:
    r"""Assemble the beta-ELBO objective and its (deferred) diagnostics from per-input terms.

    ``nll`` ``[B]`` is ``-mean_s log p(x_b | z_bs)`` (:func:`elbo_terms`), ``kl`` ``[B]`` the
    KL of each input. The objective is one batch mean of the per-input terms,

    .. math::

        \text{objective} = \frac1B \sum_b \left(-\log p(x_b \mid z_b) + \beta\,
            \mathrm{KL}_b\right),

    the tensor operations of a hand-written step (no separate means to subtract). A
    ``kl_objective`` (a scalar, e.g. the free-bits KL) replaces ``beta mean_b KL_b``:
    ``objective = beta kl_objective + mean_b nll_b``.

    The diagnostics are computed when first read (:class:`DeferredLossResult`), from the
    detached terms: ``elbo`` is ``-mean_b (nll_b + beta KL_b)`` by the same operations, so
    without ``kl_objective`` it equals ``-objective`` bit for bit; ``log_likelihood`` is
    ``-mean_b nll_b``, ``kl_divergence`` ``mean_b KL_b``, ``elbo_unweighted``
    ``-mean_b (nll_b + KL_b)`` (for ``beta = 1`` the same value as ``elbo``), and
    ``kl_objective`` is added under ``objective_kl_key``. While compiling they are computed at
    once (a plain :class:`LossResult`).
    """
    unit_beta = _is_unit(beta)
    if kl_objective is None:
        objective = (nll + (kl if unit_beta else beta * kl)).mean()
    else:
        objective = (kl_objective if unit_beta else beta * kl_objective) + nll.mean()
    # The objective is non-finite wherever a term is: the value checks test this one number.
    vouch_finite(objective, nll, kl)

    def diagnostics() -> dict[str, torch.Tensor]:
        return elbo_diagnostics(nll, kl, beta, kl_objective, objective_kl_key)

    if torch.compiler.is_compiling():
        return LossResult(objective=objective, diagnostics=diagnostics())
    return DeferredLossResult(objective, compute=diagnostics)


def elbo_diagnostics(
    nll: torch.Tensor,
    kl: torch.Tensor,
    beta: Weight,
    kl_objective: torch.Tensor | None = None,
    objective_kl_key: str = "kl_free_bits",
) -> dict[str, torch.Tensor]:
    """The diagnostics of :func:`beta_elbo_result`, detached 0-dim tensors."""
    nll, kl = nll.detach(), kl.detach()
    unit_beta = _is_unit(beta)
    weight = beta.detach() if isinstance(beta, torch.Tensor) else beta
    unweighted = -(nll + kl).mean()
    diagnostics = {
        "elbo": unweighted.clone() if unit_beta else -(nll + weight * kl).mean(),
        "log_likelihood": -nll.mean(),
        "kl_divergence": kl.mean(),
        "elbo_unweighted": unweighted,
    }
    if kl_objective is not None:
        diagnostics[objective_kl_key] = kl_objective.detach()
    return diagnostics


def _is_unit(beta: Weight) -> bool:
    """Whether ``beta`` is the Python number 1, which multiplies nothing (one op less a step)."""
    return isinstance(beta, float) and beta == 1.0
