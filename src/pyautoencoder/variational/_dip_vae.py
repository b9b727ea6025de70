"""DIP-VAE I and II: match the aggregate posterior's covariance to I (Kumar et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_weight
from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._priors import Prior
from ..loss._dip import DIPVariant, dip_covariance, dip_penalty
from ..loss._result import LossResult
from ..registry import register_model
from ._outputs import VAEOutput
from ._vae import VAE


@register_model("dip_vae", latent="features")
class DIPVAE(VAE):
    r"""DIP-VAE: the (beta-)ELBO plus a penalty that decorrelates the inferred code.

    .. math::

        \text{objective} = -\mathcal{L}_\beta
            + \lambda_{od} \sum_{i \ne j} \mathrm{Cov}_{ij}^2
            + \lambda_d \sum_i (\mathrm{Cov}_{ii} - 1)^2,

    with ``Cov`` the batch covariance of the posterior means (``variant="i"``) or of the
    aggregate posterior, ``E[diag sigma^2] + Cov[mu]`` (``variant="ii"``) (Kumar,
    Sattigeri & Balakrishnan 2018, *Variational inference of disentangled latent concepts from
    unlabeled observations*, eqs. 7-9; :mod:`pyautoencoder.loss._dip`).

    Shapes as :class:`VAE`; the penalty needs batches of several inputs (``B >= 2``).

    Diagnostics: those of :class:`VAE` (``elbo``, ``log_likelihood``, ``kl_divergence``,
    ``elbo_unweighted``) plus ``dip_penalty``, ``covariance_off_diagonal`` (sum of squared
    off-diagonal entries) and ``covariance_diagonal`` (sum of squared deviations from 1).

    Parameters
    ----------
    encoder, decoder, latent_dim
        As for :class:`VAE`.
    variant : {"i", "ii"}
        DIP-VAE-I or DIP-VAE-II.
    lambda_od : float
        Weight of the off-diagonal term (>= 0).
    lambda_d : float, optional
        Weight of the diagonal term; default ``10 * lambda_od`` for "i" and ``lambda_od`` for
        "ii", the paper's settings.
    prior, likelihood, free_bits, kl_estimator
        As for :class:`VAE`.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        variant: DIPVariant = "i",
        lambda_od: float = 10.0,
        lambda_d: float | None = None,
        *,
        prior: str | Prior | None = None,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
        free_bits: float | None = None,
        kl_estimator: KLEstimator = "auto",
    ) -> None:
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            prior=prior,
            likelihood=likelihood,
            free_bits=free_bits,
            kl_estimator=kl_estimator,
        )
        if variant not in ("i", "ii"):
            raise ValueError(f"variant must be 'i' or 'ii', got {variant!r}")
        self.variant: DIPVariant = variant
        self.lambda_od = float(check_weight(lambda_od, "lambda_od"))
        default_d = 10.0 * self.lambda_od if variant == "i" else self.lambda_od
        self.lambda_d = default_d if lambda_d is None else float(check_weight(lambda_d, "lambda_d"))

    def compute_loss(
        self,
        x: torch.Tensor,
        output: VAEOutput,
        beta: float | torch.Tensor = 1,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """The VAE objective plus the DIP penalty; see the class docstring."""
        result = super().compute_loss(x, output, beta=beta, likelihood=likelihood)
        if x.shape[0] < 2:
            raise ValueError(
                f"DIP-VAE estimates a covariance over the batch and needs B >= 2, got {x.shape[0]}"
            )
        cov = dip_covariance(output.mu, output.log_var, self.variant)
        penalty, off_diagonal, diagonal = dip_penalty(cov, self.lambda_od, self.lambda_d)
        diagnostics = dict(result.diagnostics)
        diagnostics["dip_penalty"] = penalty.detach()
        diagnostics["covariance_off_diagonal"] = off_diagonal.detach()
        diagnostics["covariance_diagonal"] = diagonal.detach()
        return LossResult(objective=result.objective + penalty, diagnostics=diagnostics)
