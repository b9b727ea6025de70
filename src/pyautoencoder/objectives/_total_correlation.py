r"""The beta-TCVAE objective: the KL term split into MI, TC and dimension-wise KL."""

from __future__ import annotations

from typing import Any, Literal

import torch

from .._validation import check_positive_int, check_weight
from ..loss._result import LossResult
from ..loss._tc import tc_decomposition
from ._base import (
    LikelihoodSpec,
    Objective,
    VariationalModel,
    Weight,
    check_nonnegative,
    flat_latents,
    register_objective,
    require_diagonal_posterior,
    scaled,
)

Sampling = Literal["mws", "mss"]


@register_objective("total_correlation")
class TotalCorrelation(Objective):
    r"""The ELBO with its KL term decomposed and re-weighted (beta-TCVAE).

    .. math::

        \mathcal{L} = \mathbb{E}_q[\log p(x \mid z)] - \alpha\, I_q(x; z)
            - \beta\, \mathrm{TC}(z) - \gamma \sum_d \mathrm{KL}(q(z_d) \,\|\, p(z_d))

    (Chen, Li, Grosse & Duvenaud 2018, *Isolating sources of disentanglement in VAEs*,
    eqs. 2 and 4), the three terms estimated on the minibatch with minibatch-weighted
    (``"mws"``, eq. 4) or minibatch-stratified (``"mss"``, Appendix C.2) sampling
    (:func:`~pyautoencoder.loss.tc_decomposition`). ``alpha = beta = gamma = 1`` is the ELBO
    with a Monte Carlo KL. The KL weight ``beta`` of ``compute_loss`` multiplies all three
    weights. Needs a diagonal Gaussian posterior (``q(z | x_j)`` is evaluated at every other
    input's samples) and batches of tens to hundreds.

    Diagnostics: ``elbo`` (minus the objective), ``log_likelihood``, ``kl_divergence`` (the
    model's KL), ``elbo_unweighted`` (``log_likelihood - kl_divergence``),
    ``mutual_information``, ``total_correlation``, ``dimension_wise_kl``.

    Parameters
    ----------
    alpha, beta, gamma : float
        Weights (>= 0) of the index-code MI, the total correlation and the dimension-wise KL.
    sampling : {"mws", "mss"}
        The estimator of the aggregate posterior.
    dataset_size : int, optional
        ``N``, the number of training examples; ``None`` takes the batch size. Required by
        ``"mss"``.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 6.0,
        gamma: float = 1.0,
        sampling: Sampling = "mws",
        dataset_size: int | None = None,
    ) -> None:
        super().__init__()
        self.alpha = check_nonnegative(alpha, "alpha")
        self.beta = check_nonnegative(beta, "beta")
        self.gamma = check_nonnegative(gamma, "gamma")
        if sampling not in ("mws", "mss"):
            raise ValueError(f"sampling must be 'mws' or 'mss', got {sampling!r}")
        if sampling == "mss" and dataset_size is None:
            raise ValueError("sampling='mss' needs dataset_size, the number of training examples")
        self.sampling: Sampling = sampling
        self.dataset_size = (
            None if dataset_size is None else check_positive_int(dataset_size, "dataset_size")
        )

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        require_diagonal_posterior(model, "TotalCorrelation")
        log_lik = model.reconstruction_log_prob(x, output, likelihood)  # [B, S]
        kl_per_dim = model.kl_per_dim(output)
        weight = check_weight(beta, "beta")
        batch = x.shape[0]
        if self.sampling == "mss" and batch < 2:
            raise ValueError(f"sampling='mss' needs a batch of at least 2 inputs, got {batch}")
        dataset_size = batch if self.dataset_size is None else self.dataset_size
        if dataset_size < batch:
            raise ValueError(f"dataset_size must be >= the batch size {batch}, got {dataset_size}")
        codes = flat_latents(output)  # [B, S, D_z], mu and log_var [B, D_z]
        terms = tc_decomposition(
            codes.z,
            codes.mu,
            codes.log_var,
            model.latent_prior.log_prob(codes.z),
            dataset_size,
            self.sampling,
        )
        mean_log_lik = log_lik.mean()
        mi = terms.mutual_information.mean()
        tc = terms.total_correlation.mean()
        dwkl = terms.dimension_wise_kl.mean()
        bound = (
            mean_log_lik
            - scaled(self.alpha, weight) * mi
            - scaled(self.beta, weight) * tc
            - scaled(self.gamma, weight) * dwkl
        )
        mean_kl = kl_per_dim.sum(dim=-1).mean().detach()
        return LossResult(
            objective=-bound,
            diagnostics={
                "elbo": bound.detach(),
                "log_likelihood": mean_log_lik.detach(),
                "kl_divergence": mean_kl,
                "elbo_unweighted": mean_log_lik.detach() - mean_kl,
                "mutual_information": mi.detach(),
                "total_correlation": tc.detach(),
                "dimension_wise_kl": dwkl.detach(),
            },
        )

    def diagnostic_keys(self) -> frozenset[str]:
        return frozenset(
            {
                "elbo",
                "log_likelihood",
                "kl_divergence",
                "elbo_unweighted",
                "mutual_information",
                "total_correlation",
                "dimension_wise_kl",
            }
        )

    def _config_args(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "gamma": self.gamma,
            "sampling": self.sampling,
            "dataset_size": self.dataset_size,
        }
