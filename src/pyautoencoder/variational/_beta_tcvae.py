"""beta-TCVAE: penalise the total correlation of the latent code (Chen et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_positive_int, check_weight
from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._priors import Prior
from ..loss._result import LossResult
from ..loss._tc import Sampling, tc_decomposition
from ..registry import register_model
from ._outputs import VAEOutput
from ._vae import VAE


@register_model("beta_tcvae", latent="features", dataset_size_arg="dataset_size")
class BetaTCVAE(VAE):
    r"""beta-TCVAE: the ELBO with its KL term split and re-weighted.

    .. math::

        \mathcal{L} = \mathbb{E}_q[\log p(x \mid z)] - \alpha\, I_q(x; z)
            - \beta\, \mathrm{TC}(z) - \gamma \sum_d \mathrm{KL}(q(z_d) \,\|\, p(z_d))

    (Chen, Li, Grosse & Duvenaud 2018, *Isolating sources of disentanglement in VAEs*,
    eqs. 2 and 4), the three terms estimated on the minibatch with minibatch-weighted
    (``"mws"``) or minibatch-stratified (``"mss"``) sampling
    (:mod:`pyautoencoder.loss._tc`). ``alpha = beta = gamma = 1`` is the ELBO (with a Monte
    Carlo KL); the paper's setting is ``alpha = gamma = 1`` and a large ``beta``.

    Shapes as :class:`VAE`. The estimators need the batch: use batches of tens to hundreds.

    Diagnostics: ``elbo`` (minus the objective, the weighted bound), ``log_likelihood``,
    ``kl_divergence`` (the closed-form or MC KL), ``elbo_unweighted``
    (``log_likelihood - kl_divergence``), ``mutual_information``, ``total_correlation``,
    ``dimension_wise_kl``.

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
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            prior=prior,
            likelihood=likelihood,
            kl_estimator=kl_estimator,
        )
        self.alpha = float(check_weight(alpha, "alpha"))
        self.beta = float(check_weight(beta, "beta"))
        self.gamma = float(check_weight(gamma, "gamma"))
        if sampling not in ("mws", "mss"):
            raise ValueError(f"sampling must be 'mws' or 'mss', got {sampling!r}")
        if sampling == "mss" and dataset_size is None:
            raise ValueError("sampling='mss' needs dataset_size, the number of training examples")
        self.dataset_size = (
            None if dataset_size is None else check_positive_int(dataset_size, "dataset_size")
        )
        self.sampling: Sampling = sampling

    def compute_loss(  # type: ignore[override]
        self,
        x: torch.Tensor,
        output: VAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """Minus the batch mean of the weighted decomposition; see the class docstring."""
        log_lik, kl_per_dim = self._elbo_terms(x, output, likelihood)  # [B, S], [B, *]
        batch = x.shape[0]
        if self.sampling == "mss" and batch < 2:
            raise ValueError(f"sampling='mss' needs a batch of at least 2 inputs, got {batch}")
        dataset_size = batch if self.dataset_size is None else self.dataset_size
        if dataset_size < batch:
            raise ValueError(f"dataset_size must be >= the batch size {batch}, got {dataset_size}")
        terms = tc_decomposition(
            output.z,
            output.mu,
            output.log_var,
            self.latent_prior.log_prob(output.z),
            dataset_size,
            self.sampling,
        )
        mean_log_lik = log_lik.mean()
        mi = terms.mutual_information.mean()
        tc = terms.total_correlation.mean()
        dwkl = terms.dimension_wise_kl.mean()
        bound = mean_log_lik - self.alpha * mi - self.beta * tc - self.gamma * dwkl
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
