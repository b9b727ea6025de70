"""Importance-weighted autoencoder (Burda, Grosse & Salakhutdinov 2016)."""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_num_samples
from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._priors import Prior
from ..loss._iwae_bound import (
    GradientEstimator,
    dreg_surrogate,
    effective_sample_size,
    importance_log_weights,
    iwae_bound,
)
from ..loss._result import LossResult
from ..registry import register_model
from ._outputs import VAEOutput
from ._vae import VAE


@register_model("iwae", latent="features")
class IWAE(VAE):
    r"""Importance-weighted autoencoder: a VAE trained on the ``K``-sample bound.

    Same networks and shapes as :class:`VAE` (``z [B, K, D_z]``, ``x_hat [B, K, ...]``); the
    objective is minus the batch mean of

    .. math::

        \mathcal{L}_K(x) = \log \frac1K \sum_{k=1}^K
            \frac{p(x \mid z_k)\, p(z_k)}{q(z_k \mid x)}, \qquad z_k \sim q(z \mid x)

    (Burda et al. 2016, *Importance weighted autoencoders*, eq. 8), computed with
    ``logsumexp`` (:mod:`pyautoencoder.loss._iwae_bound`). ``K = 1`` is the single-sample
    ELBO with a Monte Carlo KL. ``K`` is the number of samples of the forward pass
    (``forward(x)`` draws ``num_samples``; ``forward(x, S=k)`` any other number).

    ``gradient_estimator="dreg"`` uses the doubly reparameterised gradient of Tucker et al.
    (2019), whose encoder gradients have lower variance and, unlike the standard estimator's,
    do not lose their signal-to-noise ratio as ``K`` grows; the value of the bound is the same.

    Diagnostics: ``iwae_bound`` (minus the objective: the ``K``-sample bound, batch mean),
    ``elbo`` (``log_likelihood - kl_divergence``, the standard ELBO
    estimate at the same samples), ``log_likelihood``, ``kl_divergence``, ``elbo_unweighted``
    (= ``elbo``), ``effective_sample_size`` (mean Kish ESS of the normalised weights, in
    ``[1, K]``).

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
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            prior=prior,
            likelihood=likelihood,
            kl_estimator=kl_estimator,
        )
        self.num_samples = check_num_samples(num_samples, "num_samples")
        if gradient_estimator not in ("iwae", "dreg"):
            raise ValueError(
                f"gradient_estimator must be 'iwae' or 'dreg', got {gradient_estimator!r}"
            )
        self.gradient_estimator: GradientEstimator = gradient_estimator

    def forward(self, x: torch.Tensor, S: int | None = None, sample: bool = True) -> VAEOutput:
        """Encode and decode ``S`` samples per input (default ``num_samples``; 1 for the mean)."""
        if S is None:
            S = self.num_samples if sample else 1
        return super().forward(x, S=S, sample=sample)

    def compute_loss(  # type: ignore[override]
        self,
        x: torch.Tensor,
        output: VAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """Minus the batch-mean ``K``-sample bound; ``K`` = ``output.z.shape[1]``."""
        log_lik, kl_per_dim = self._elbo_terms(x, output, likelihood)  # [B, K], [B, *]
        dreg = self.gradient_estimator == "dreg"
        log_w = importance_log_weights(
            log_lik, output.z, output.mu, output.log_var, self.latent_prior, dreg
        )  # [B, K]
        bound = dreg_surrogate(log_w, output.z) if dreg else iwae_bound(log_w)  # [B]
        objective = -bound.mean()
        mean_log_lik = log_lik.mean().detach()
        mean_kl = kl_per_dim.sum(dim=-1).mean().detach()
        return LossResult(
            objective=objective,
            diagnostics={
                "iwae_bound": -objective.detach(),
                "elbo": mean_log_lik - mean_kl,
                "log_likelihood": mean_log_lik,
                "kl_divergence": mean_kl,
                "elbo_unweighted": mean_log_lik - mean_kl,
                "effective_sample_size": effective_sample_size(log_w.detach()).mean(),
            },
        )
