"""DIP-VAE I and II (Kumar et al. 2018): a preset of VAE with the ELBO plus the DIP penalty."""

from __future__ import annotations

from torch import nn

from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._priors import Prior
from ..objectives._dip import DIPKind, DIPPenalty
from ..objectives._elbo import ELBO
from ..registry import register_model
from ._vae import VAE


@register_model("dip_vae", latent="features")
class DIPVAE(VAE):
    r"""DIP-VAE: the (beta-)ELBO plus a penalty that decorrelates the inferred code.

    A named preset: ``DIPVAE(encoder, decoder, latent_dim, variant, lambda_od, lambda_d)`` is
    ``VAE(encoder, decoder, latent_dim, objective=ELBO(free_bits=...) + DIPPenalty(variant,
    lambda_od, lambda_d))`` with the constructor of 2.x:

    .. math::

        \text{objective} = -\mathcal{L}_\beta
            + \lambda_{od} \sum_{i \ne j} \mathrm{Cov}_{ij}^2
            + \lambda_d \sum_i (\mathrm{Cov}_{ii} - 1)^2

    (Kumar, Sattigeri & Balakrishnan 2018, eqs. 7-9; see
    :class:`~pyautoencoder.objectives.DIPPenalty`). Diagnostics: those of the ELBO (``elbo``,
    ``log_likelihood``, ``kl_divergence``, ``elbo_unweighted``) plus ``dip_penalty``,
    ``covariance_off_diagonal`` and ``covariance_diagonal``. Needs batches with ``B >= 2``.

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
        variant: DIPKind = "i",
        lambda_od: float = 10.0,
        lambda_d: float | None = None,
        *,
        prior: str | Prior | None = None,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
        free_bits: float | None = None,
        kl_estimator: KLEstimator = "auto",
    ) -> None:
        if variant not in ("i", "ii"):
            raise ValueError(f"variant must be 'i' or 'ii', got {variant!r}")
        penalty = DIPPenalty(variant, lambda_od, lambda_d)
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            prior=prior,
            likelihood=likelihood,
            kl_estimator=kl_estimator,
            objective=ELBO(free_bits=free_bits) + penalty,
        )
        self.variant: DIPKind = penalty.kind
        self.lambda_od, self.lambda_d = penalty.lambda_od, penalty.lambda_d
