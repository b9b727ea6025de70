"""beta-TCVAE (Chen et al. 2018): a preset of VAE with the total-correlation objective."""

from __future__ import annotations

from torch import nn

from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._priors import Prior
from ..objectives._total_correlation import Sampling, TotalCorrelation
from ..registry import register_model
from ._vae import VAE


@register_model("beta_tcvae", latent="features", dataset_size_arg="dataset_size")
class BetaTCVAE(VAE):
    r"""beta-TCVAE: a :class:`VAE` trained on the ELBO with its KL term split and re-weighted.

    A named preset: ``BetaTCVAE(encoder, decoder, latent_dim, alpha, beta, gamma, N, s)`` is
    ``VAE(encoder, decoder, latent_dim, objective=TotalCorrelation(alpha, beta, gamma, s, N))``
    with the constructor of 2.x. The objective

    .. math::

        \mathcal{L} = \mathbb{E}_q[\log p(x \mid z)] - \alpha\, I_q(x; z)
            - \beta\, \mathrm{TC}(z) - \gamma \sum_d \mathrm{KL}(q(z_d) \,\|\, p(z_d))

    (Chen, Li, Grosse & Duvenaud 2018, eqs. 2 and 4), its estimators and its diagnostics
    (``elbo``, ``log_likelihood``, ``kl_divergence``, ``elbo_unweighted``,
    ``mutual_information``, ``total_correlation``, ``dimension_wise_kl``) are those of
    :class:`~pyautoencoder.objectives.TotalCorrelation`. Use batches of tens to hundreds.

    Parameters
    ----------
    encoder, decoder, latent_dim
        As for :class:`VAE`.
    alpha, beta, gamma : float
        Weights (>= 0) of the index-code MI, the total correlation and the dimension-wise KL.
    dataset_size : int, optional
        ``N``, the number of training examples. ``None`` takes the batch size (the minibatch
        is then treated as the whole data set); set it for the paper's estimator. Required by
        ``"mss"``.
    sampling : {"mws", "mss"}
        The estimator of the aggregate posterior.
    prior, likelihood, kl_estimator
        As for :class:`VAE`.
    """

    _likelihood_was_third = True  # 2.x compute_loss(x, output, likelihood)

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        alpha: float = 1.0,
        beta: float = 6.0,
        gamma: float = 1.0,
        dataset_size: int | None = None,
        sampling: Sampling = "mws",
        *,
        prior: str | Prior | None = None,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
        kl_estimator: KLEstimator = "auto",
    ) -> None:
        objective = TotalCorrelation(alpha, beta, gamma, sampling, dataset_size)
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            prior=prior,
            likelihood=likelihood,
            kl_estimator=kl_estimator,
            objective=objective,
        )
        self.alpha, self.beta, self.gamma = objective.alpha, objective.beta, objective.gamma
        self.dataset_size = objective.dataset_size
        self.sampling: Sampling = objective.sampling
