"""InfoVAE / MMD-VAE (Zhao et al. 2019) and WAE-MMD (Tolstikhin et al. 2018): presets of VAE."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .._validation import check_weight
from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._priors import Prior
from ..loss._mmd import Kernel
from ..loss._result import LossResult
from ..objectives._base import LikelihoodSpec, Objective, VariationalModel, Weight
from ..objectives._elbo import ELBO
from ..objectives._mmd import MMDPenalty
from ..registry import register_model
from ._vae import VAE


class _ReportedAs2x(Objective):
    """``ELBO(kl_weight) + MMDPenalty`` with the diagnostics InfoVAE and WAE have had since 2.x.

    ``elbo`` is the plain (unweighted) ELBO, and ``key`` holds the objective times ``sign``
    (InfoVAE: ``info_vae_bound`` = minus the objective; WAE: ``wae_objective``).
    """

    def __init__(self, kl_weight: float, penalty: MMDPenalty, key: str, sign: float) -> None:
        super().__init__()
        self.inner = ELBO(beta=kl_weight) + penalty
        self.key, self.sign = key, sign

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        result = self.inner(model, x, output, beta=beta, likelihood=likelihood)
        diagnostics = dict(result.diagnostics)
        diagnostics["elbo"] = diagnostics["elbo_unweighted"]
        diagnostics[self.key] = self.sign * result.objective.detach()
        return LossResult(objective=result.objective, diagnostics=diagnostics)

    def diagnostic_keys(self) -> frozenset[str]:
        return self.inner.diagnostic_keys() | {self.key}


@register_model("info_vae", latent="features")
class InfoVAE(VAE):
    r"""InfoVAE: the ELBO with a re-weighted KL and an MMD between ``q(z)`` and ``p(z)``.

    A named preset of :class:`VAE` with the objective
    ``ELBO(beta=1 - alpha) + MMDPenalty(kernel, alpha + lambda_ - 1)``:

    .. math::

        \mathcal{L} = \mathbb{E}_q[\log p(x \mid z)]
            - (1 - \alpha)\, \mathrm{KL}(q(z \mid x) \,\|\, p(z))
            - (\alpha + \lambda - 1)\, \mathrm{MMD}^2(q(z), p(z))

    (Zhao, Song & Ermon 2019, *InfoVAE: balancing learning and inference in variational
    autoencoders*, eq. 6, with the MMD divergence of Sec. 3.2). ``alpha = 1`` is the MMD-VAE:
    no per-input KL, only the aggregate posterior is pulled to the prior, which avoids
    uninformative latents. ``MMD^2`` is the unbiased estimator between the ``B * S`` posterior
    samples of the batch and as many prior draws
    (:class:`~pyautoencoder.objectives.MMDPenalty`). Requires ``alpha <= 1`` and
    ``alpha + lambda_ >= 1`` (both weights non-negative).

    Diagnostics (those of 2.x): ``elbo`` (``log_likelihood - kl_divergence``, the plain ELBO
    estimate, for comparison with other models), ``log_likelihood``, ``kl_divergence``,
    ``elbo_unweighted`` (= ``elbo``), ``mmd``, ``info_vae_bound`` (minus the objective).

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

    _likelihood_was_third = True  # 2.x compute_loss(x, output, likelihood)

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
        penalty = MMDPenalty(kernel, mmd_weight)
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            prior=prior,
            likelihood=likelihood,
            kl_estimator=kl_estimator,
            objective=_ReportedAs2x(kl_weight, penalty, "info_vae_bound", -1.0),
        )
        self.alpha = float(alpha)
        self.lambda_ = float(lambda_)
        self.kl_weight = kl_weight
        self.mmd_weight = mmd_weight
        self.kernel = penalty.kernel


@register_model("wae", latent="features")
class WAE(VAE):
    r"""Wasserstein autoencoder with the MMD penalty (WAE-MMD).

    A named preset of :class:`VAE` with the objective
    ``ELBO(beta=0) + MMDPenalty(kernel, lambda_)``:

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

    Diagnostics (those of 2.x): ``elbo`` (``log_likelihood - kl_divergence``, only for
    comparison: WAE does not optimise it), ``log_likelihood``, ``kl_divergence``,
    ``elbo_unweighted`` (= ``elbo``), ``mmd``, ``wae_objective`` (the objective).

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

    _likelihood_was_third = True  # 2.x compute_loss(x, output, likelihood)

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
        penalty = MMDPenalty(kernel, float(check_weight(lambda_, "lambda_")))
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            prior=prior,
            likelihood=likelihood,
            kl_estimator=kl_estimator,
            objective=_ReportedAs2x(0.0, penalty, "wae_objective", 1.0),
        )
        self.lambda_ = penalty.weight
        self.kernel = penalty.kernel
