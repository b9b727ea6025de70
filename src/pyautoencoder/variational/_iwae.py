"""Importance-weighted autoencoder (Burda, Grosse & Salakhutdinov 2016): a preset of VAE."""

from __future__ import annotations

from torch import nn

from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._priors import Prior
from ..objectives._importance import GradientEstimator, ImportanceWeightedBound
from ..registry import register_model
from ._vae import VAE


@register_model("iwae", latent="features")
class IWAE(VAE):
    r"""Importance-weighted autoencoder: a :class:`VAE` trained on the ``K``-sample bound.

    A named preset: ``IWAE(encoder, decoder, latent_dim, K, estimator)`` is
    ``VAE(encoder, decoder, latent_dim, objective=ImportanceWeightedBound(K, estimator))``
    with the constructor of 2.x; the objective, its math (Burda et al. 2016, eq. 8; DReG of
    Tucker et al. 2019) and its diagnostics (``iwae_bound``, ``elbo``, ``log_likelihood``,
    ``kl_divergence``, ``elbo_unweighted``, ``effective_sample_size``) are those of
    :class:`~pyautoencoder.objectives.ImportanceWeightedBound`. ``forward(x)`` draws
    ``num_samples`` samples (``forward(x, S=k)`` any other number; ``S=None`` is the
    default, as in 2.x).

    Parameters
    ----------
    encoder, decoder, latent_dim
        As for :class:`VAE`.
    num_samples : int
        ``K >= 1``, the importance samples per input drawn by ``forward``.
    gradient_estimator : {"iwae", "dreg"}
        ``"iwae"``: the plain reparameterised gradient of the bound; ``"dreg"``: DReG.
    prior, likelihood, kl_estimator
        As for :class:`VAE` (the KL only feeds the diagnostics).
    """

    _none_samples_is_default = True  # 2.x: forward(x, S=None) drew num_samples

    _likelihood_was_third = True  # 2.x compute_loss(x, output, likelihood)

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        num_samples: int = 5,
        gradient_estimator: GradientEstimator = "iwae",
        *,
        prior: str | Prior | None = None,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
        kl_estimator: KLEstimator = "auto",
    ) -> None:
        objective = ImportanceWeightedBound(num_samples, gradient_estimator)
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            prior=prior,
            likelihood=likelihood,
            kl_estimator=kl_estimator,
            objective=objective,
        )
        self.num_samples = objective.num_samples
        self.gradient_estimator: GradientEstimator = gradient_estimator
