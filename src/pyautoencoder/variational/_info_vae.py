"""InfoVAE / MMD-VAE (Zhao et al. 2019) and WAE-MMD (Tolstikhin et al. 2018)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import check_weight
from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._priors import Prior
from ..loss._mmd import Kernel, get_kernel, mmd_unbiased
from ..loss._result import LossResult
from ..registry import register_model
from ._outputs import VAEOutput
from ._vae import VAE


def _aggregate_mmd(model: VAE, output: VAEOutput, kernel: Kernel) -> torch.Tensor:
    """Unbiased ``MMD^2`` between the ``B * S`` posterior samples and as many prior draws."""
    codes = output.z.reshape(-1, output.z.shape[-1])  # [B * S, D_z], samples of q(z)
    if codes.shape[0] < 2:
        raise ValueError(
            "the MMD between q(z) and p(z) needs at least 2 latent samples (B * S >= 2), got "
            f"z of shape {tuple(output.z.shape)}"
        )
    prior_codes = model.latent_prior.sample(codes.shape[0]).to(codes.dtype)  # [B * S, D_z]
    return mmd_unbiased(codes, prior_codes, kernel)


@register_model("info_vae", latent="features")
class InfoVAE(VAE):
    r"""InfoVAE: the ELBO with a re-weighted KL and an MMD between ``q(z)`` and ``p(z)``.

    .. math::

        \mathcal{L} = \mathbb{E}_q[\log p(x \mid z)]
            - (1 - \alpha)\, \mathrm{KL}(q(z \mid x) \,\|\, p(z))
            - (\alpha + \lambda - 1)\, \mathrm{MMD}^2(q(z), p(z))

    (Zhao, Song & Ermon 2019, *InfoVAE: balancing learning and inference in variational
    autoencoders*, eq. 6, with the MMD divergence of Sec. 3.2). ``alpha = 1`` is the MMD-VAE:
    no per-input KL, only the aggregate posterior is pulled to the prior, which avoids
    uninformative latents. ``MMD^2`` is the unbiased estimator between the ``B * S`` posterior
    samples of the batch and as many prior draws (:mod:`pyautoencoder.loss._mmd`). Requires
    ``alpha <= 1`` and ``alpha + lambda_ >= 1`` (both weights non-negative).

    Diagnostics: ``elbo`` (``log_likelihood - kl_divergence``, the plain ELBO estimate, for
    comparison with other models), ``log_likelihood``, ``kl_divergence``, ``elbo_unweighted``
    (= ``elbo``), ``mmd``, ``info_vae_bound`` (minus the objective).

    Parameters
    ----------
    encoder, decoder, latent_dim
        As for :class:`VAE`.
    alpha : float
        ``alpha <= 1``; the KL weight is ``1 - alpha``.
    lambda_ : float
        The MMD weight is ``alpha + lambda_ - 1``.
    kernel : {"imq", "rbf"} or Kernel
        The MMD kernel (bandwidth ``2 D_z``, see :class:`~pyautoencoder.loss.RBFKernel`).
    prior, likelihood, kl_estimator
        As for :class:`VAE`.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        alpha: float = 1.0,
        lambda_: float = 1000.0,
        kernel: str | Kernel = "rbf",
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
        kl_weight = 1.0 - float(alpha)
        mmd_weight = float(alpha) + float(lambda_) - 1.0
        if (
            not (math.isfinite(kl_weight) and math.isfinite(mmd_weight))
            or min(kl_weight, mmd_weight) < 0
        ):
            raise ValueError(
                "InfoVAE needs alpha <= 1 and alpha + lambda_ >= 1 (non-negative KL and MMD "
                f"weights), got alpha={alpha!r} and lambda_={lambda_!r}"
            )
        self.alpha = float(alpha)
        self.lambda_ = float(lambda_)
        self.kl_weight = kl_weight
        self.mmd_weight = mmd_weight
        self.kernel = get_kernel(kernel)

    def compute_loss(  # type: ignore[override]
        self,
        x: torch.Tensor,
        output: VAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """Minus the batch mean of the InfoVAE objective; see the class docstring."""
        log_lik, kl_per_dim = self._elbo_terms(x, output, likelihood)
        mean_log_lik = log_lik.mean()
        mean_kl = kl_per_dim.sum(dim=-1).mean()
        mmd = _aggregate_mmd(self, output, self.kernel)
        bound = mean_log_lik - self.kl_weight * mean_kl - self.mmd_weight * mmd
        elbo = (mean_log_lik - mean_kl).detach()
        return LossResult(
            objective=-bound,
            diagnostics={
                "elbo": elbo,
                "log_likelihood": mean_log_lik.detach(),
                "kl_divergence": mean_kl.detach(),
                "elbo_unweighted": elbo,
                "mmd": mmd.detach(),
                "info_vae_bound": bound.detach(),
            },
        )


@register_model("wae", latent="features")
class WAE(VAE):
    r"""Wasserstein autoencoder with the MMD penalty (WAE-MMD).

    .. math::

        \text{objective} = \mathbb{E}_{x}\mathbb{E}_{q(z \mid x)}[-\log p(x \mid z)]
            + \lambda\, \mathrm{MMD}^2(q(z), p(z))

    (Tolstikhin, Bousquet, Gelly & Schoelkopf 2018, *Wasserstein auto-encoders*, Algorithm 2):
    the reconstruction cost ``c(x, G(z)) = -log p(x | z)`` (squared error for the default
    ``"gaussian"`` likelihood) plus a penalty that matches only the aggregate posterior
    ``q(z)`` to the prior. The encoder is the Gaussian sampling layer of :class:`VAE`
    (the paper's "random encoder"); its per-input KL is not penalised, so posterior variances
    may shrink freely. Defaults follow the paper's MNIST setting: inverse-multiquadric kernel,
    ``lambda_ = 10``.

    Diagnostics: ``elbo`` (``log_likelihood - kl_divergence``, only for comparison: WAE does
    not optimise it), ``log_likelihood``, ``kl_divergence``, ``elbo_unweighted`` (= ``elbo``),
    ``mmd``, ``wae_objective`` (the objective).

    Parameters
    ----------
    encoder, decoder, latent_dim
        As for :class:`VAE`.
    lambda_ : float
        MMD weight (>= 0).
    kernel : {"imq", "rbf"} or Kernel
        The MMD kernel.
    prior, likelihood, kl_estimator
        As for :class:`VAE`.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        lambda_: float = 10.0,
        kernel: str | Kernel = "imq",
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
        self.lambda_ = float(check_weight(lambda_, "lambda_"))
        self.kernel = get_kernel(kernel)

    def compute_loss(  # type: ignore[override]
        self,
        x: torch.Tensor,
        output: VAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """Reconstruction cost plus ``lambda_`` times the MMD; see the class docstring."""
        log_lik, kl_per_dim = self._elbo_terms(x, output, likelihood)
        mean_log_lik = log_lik.mean()
        mean_kl = kl_per_dim.sum(dim=-1).mean().detach()
        mmd = _aggregate_mmd(self, output, self.kernel)
        objective = -mean_log_lik + self.lambda_ * mmd
        elbo = mean_log_lik.detach() - mean_kl
        return LossResult(
            objective=objective,
            diagnostics={
                "elbo": elbo,
                "log_likelihood": mean_log_lik.detach(),
                "kl_divergence": mean_kl,
                "elbo_unweighted": elbo,
                "mmd": mmd.detach(),
                "wae_objective": objective.detach(),
            },
        )
