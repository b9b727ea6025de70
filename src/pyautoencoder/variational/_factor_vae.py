"""FactorVAE (Kim & Mnih 2018): a VAE whose total correlation a discriminator estimates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._base._discriminator import LatentDiscriminator
from .._base._steps import UpdateStep, discriminator_update, parameters_except
from .._validation import check_weight
from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._posteriors import Posterior
from ..distributions._priors import Prior
from ..loss._adversarial import density_ratio_tc, logistic_discriminator_loss, permute_dims
from ..loss._result import LossResult
from ..objectives._base import Objective
from ..registry import register_model
from ._outputs import VAEOutput
from ._vae import VAE


@register_model("factor_vae", latent="features")
class FactorVAE(VAE):
    r"""FactorVAE: the ELBO plus ``gamma`` times a discriminator's estimate of the total
    correlation of the codes (Kim & Mnih 2018, eq. 2).

    .. math::

        \mathcal{L} = \frac1B \sum_b \Big(\mathbb{E}_{q(z|x_b)}[\log p(x_b \mid z)]
            - \beta\,\mathrm{KL}(q(z \mid x_b) \,\|\, p(z))\Big)
            - \gamma\, \mathrm{TC}(z), \qquad
        \mathrm{TC}(z) \approx \frac1B \sum_b l(z_b),

    with ``l`` the logit of :attr:`discriminator` at the drawn codes ``z_b ~ q(z | x_b)``
    (the density-ratio trick, :func:`~pyautoencoder.loss.density_ratio_tc`). The discriminator
    learns to tell codes of the batch from codes whose dimensions were permuted independently
    across the batch (:func:`~pyautoencoder.loss.permute_dims`, their Algorithm 1) with the
    logistic loss (:meth:`discriminator_loss`).

    Training uses two optimizers (:meth:`training_steps`): step ``"vae"`` updates encoder,
    decoder and any prior/likelihood parameters on :meth:`compute_loss`; step
    ``"discriminator"`` updates the discriminator only. ``fit()`` and
    ``pyautoencoder train --model factor_vae`` run both. What differs from the paper: the
    discriminator step draws fresh codes of the *same* batch from the just-updated encoder
    (Algorithm 1 uses a second batch), and the default discriminator is smaller (three
    hidden layers of 256 units instead of five of 1000; pass ``discriminator_hidden``).

    Diagnostics: those of the objective (``elbo``, ``log_likelihood``, ``kl_divergence``,
    ``elbo_unweighted``) and ``tc_estimate``; the discriminator step logs
    ``discriminator_loss``, ``discriminator_accuracy`` and ``discriminator_tc_estimate``.

    Parameters
    ----------
    encoder, decoder, latent_dim
        As for :class:`VAE`.
    tc_weight : float
        ``gamma >= 0``, the weight of the total-correlation estimate (the paper's ``gamma``;
        they report good disentanglement for 10-40 on dSprites).
    discriminator_hidden : sequence of int
        Hidden widths of the :class:`~pyautoencoder.nets.LatentDiscriminator`.
    discriminator_lr : float, optional
        The discriminator optimizer's learning rate; ``None`` takes the run's ``lr``.
    discriminator_start_step : int
        Trainer step at which discriminator updates begin.
    prior, likelihood, kl_estimator, objective, posterior
        As for :class:`VAE` (the objective is the VAE part; the TC term is added to it).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        tc_weight: float = 10.0,
        *,
        discriminator_hidden: Sequence[int] = (256, 256, 256),
        discriminator_lr: float | None = None,
        discriminator_start_step: int = 0,
        prior: str | Prior | None = None,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
        kl_estimator: KLEstimator = "auto",
        objective: Objective | dict[str, Any] | None = None,
        posterior: str | Posterior | None = None,
    ) -> None:
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            prior=prior,
            likelihood=likelihood,
            kl_estimator=kl_estimator,
            objective=objective,
            posterior=posterior,
        )
        self.tc_weight = float(check_weight(tc_weight, "tc_weight"))
        self.discriminator = LatentDiscriminator(self.latent_dim, discriminator_hidden)
        self.discriminator_lr = discriminator_lr
        self.discriminator_start_step = discriminator_start_step
        self._discriminator_step()  # validates start step and lr now, not when training starts

    def compute_loss(
        self,
        x: torch.Tensor,
        output: VAEOutput,
        beta: float | torch.Tensor = 1,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """The objective of :class:`VAE` plus ``tc_weight * tc_estimate`` (batch mean, 0-dim).

        ``tc_estimate`` is :func:`~pyautoencoder.loss.density_ratio_tc` at all ``B * S``
        drawn codes; its gradient reaches the encoder through ``z`` (and the discriminator's
        weights, which only the discriminator step updates).
        """
        result = super().compute_loss(x, output, beta=beta, likelihood=likelihood)
        codes = output.z.reshape(-1, self.latent_dim)  # [B * S, D_z]
        tc = density_ratio_tc(self.discriminator(codes))
        diagnostics = {**result.diagnostics, "tc_estimate": tc.detach()}
        return LossResult(result.objective + self.tc_weight * tc, diagnostics)

    def discriminator_loss(self, x: torch.Tensor) -> LossResult:
        r"""The discriminator's logistic loss on codes of ``x`` against permuted codes.

        ``z ~ q(z | x)`` (one sample per input, no gradient to the encoder), ``z_perm =
        permute_dims(z)``; loss ``0.5 (mean softplus(-l(z)) + mean softplus(l(z_perm)))``
        (:func:`~pyautoencoder.loss.logistic_discriminator_loss`, Kim & Mnih 2018, Alg. 1).
        Diagnostics: ``accuracy`` (share of both halves classified right) and
        ``tc_estimate`` (mean logit on ``z``).
        """
        with torch.no_grad():
            codes = self._encode(x, S=1, sample=True).z[:, 0]  # [B, D_z]
        real = self.discriminator(codes)  # [B]
        permuted = self.discriminator(permute_dims(codes))  # [B]
        loss = logistic_discriminator_loss(real, permuted)
        accuracy = 0.5 * ((real > 0).float().mean() + (permuted < 0).float().mean())
        return LossResult(
            loss, {"accuracy": accuracy.detach(), "tc_estimate": real.mean().detach()}
        )

    def _vae_loss(
        self,
        x: torch.Tensor,
        beta: float | torch.Tensor = 1,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        return self.compute_loss(x, self(x), beta=beta, likelihood=likelihood)

    def training_steps(self) -> tuple[UpdateStep, UpdateStep]:
        """``"vae"`` (every parameter but the discriminator's) then ``"discriminator"``."""
        rest = parameters_except(self, self.discriminator)
        return (
            UpdateStep("vae", rest, self._vae_loss, uses_loss_kwargs=True),
            self._discriminator_step(),
        )

    def _discriminator_step(self) -> UpdateStep:
        return discriminator_update(
            self.discriminator,
            self.discriminator_loss,
            self.discriminator_start_step,
            self.discriminator_lr,
        )
