r"""Adversarial autoencoder (Makhzani, Shlens, Jaitly, Goodfellow & Frey 2016)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from .._base._discriminator import LatentDiscriminator
from .._base._steps import UpdateStep, discriminator_update, parameters_except
from .._validation import check_num_samples, check_positive_int, check_weight
from ..distributions._priors import Prior, get_prior
from ..loss._adversarial import logistic_discriminator_loss, non_saturating_generator_loss
from ..loss._result import LossResult
from ..registry import register_model
from ._outputs import AEOutput
from ._regularized import LikelihoodAE, LikelihoodSpec


@register_model("aae", latent="code", latent_arg="latent_dim")
class AAE(LikelihoodAE):
    r"""Adversarial autoencoder: a deterministic autoencoder whose aggregate posterior
    ``q(z) = E_x[delta(z - encoder(x))]`` is matched to a prior ``p(z)`` by a discriminator.

    Makhzani et al. (2016, Sec. 2) alternate a reconstruction phase and a regularisation
    phase: the discriminator learns to tell prior samples (label 1) from codes (label 0), then
    the encoder, as the generator, learns to fool it (their eq. 1 with ``G`` the encoder). Here
    the reconstruction and generator updates share one optimizer step:

    .. math::

        \mathcal{L}_{AE} = -\frac1B \sum_b \sum_j \log p(x_{bj} \mid \hat x_{bj})
            + \lambda\, \frac1B \sum_b \operatorname{softplus}(-l(z_b)),

    the non-saturating generator loss (:func:`~pyautoencoder.loss.
    non_saturating_generator_loss`; Goodfellow et al. 2014, Sec. 3) with weight
    ``lambda = adversarial_weight``; the discriminator step minimises
    :func:`~pyautoencoder.loss.logistic_discriminator_loss` with prior draws as real and codes
    as fake (:meth:`discriminator_loss`). :meth:`training_steps` declares the two optimizers
    (``"autoencoder"``, ``"discriminator"``), so ``fit()`` and
    ``pyautoencoder train --model aae`` run both; :meth:`sample` decodes prior draws.

    Diagnostics: ``log_likelihood`` (batch mean) and ``generator_loss``; the discriminator
    step logs ``discriminator_loss`` and ``discriminator_accuracy``.

    Parameters
    ----------
    encoder : nn.Module
        Maps ``x [B, ...]`` to codes ``z [B, latent_dim]``.
    decoder : nn.Module
        Maps ``z [N, latent_dim]`` back to outputs shaped like ``x``.
    latent_dim : int
        ``D_z``.
    adversarial_weight : float
        ``lambda >= 0``.
    prior : str or Prior, optional
        ``p(z)`` to match (any prior that samples without an encoder; default ``N(0, I)``,
        e.g. ``"mixture_of_gaussians"``).
    discriminator_hidden : sequence of int
        Hidden widths of the :class:`~pyautoencoder.nets.LatentDiscriminator` (the paper:
        two layers of 1000 units).
    discriminator_lr : float, optional
        The discriminator optimizer's learning rate; ``None`` takes the run's ``lr``.
    discriminator_start_step : int
        Trainer step at which discriminator updates begin.
    likelihood : str, LikelihoodType or Likelihood
        The reconstruction term's observation model (default ``"gaussian"``).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"code", "prior_sampling"})

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        adversarial_weight: float = 1.0,
        *,
        prior: str | Prior | None = None,
        discriminator_hidden: Sequence[int] = (256, 256),
        discriminator_lr: float | None = None,
        discriminator_start_step: int = 0,
        likelihood: LikelihoodSpec = "gaussian",
    ) -> None:
        super().__init__(encoder, decoder, likelihood)
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.adversarial_weight = float(check_weight(adversarial_weight, "adversarial_weight"))
        self.latent_prior = get_prior(prior, self.latent_dim)
        self.discriminator = LatentDiscriminator(self.latent_dim, discriminator_hidden)
        self.discriminator_lr = discriminator_lr
        self.discriminator_start_step = discriminator_start_step
        self._discriminator_step()  # validates start step and lr now, not when training starts

    def _check_code(self, z: torch.Tensor) -> None:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"AAE needs codes of shape [B, latent_dim] = [B, {self.latent_dim}] from the "
                f"encoder, got {tuple(z.shape)}"
            )

    def compute_loss(
        self, x: torch.Tensor, output: AEOutput, likelihood: LikelihoodSpec | None = None
    ) -> LossResult:
        """Reconstruction NLL plus ``adversarial_weight`` times the generator loss (0-dim)."""
        self._check_code(output.z)
        log_lik = self.mean_log_likelihood(x, output.x_hat, likelihood)  # []
        generator = non_saturating_generator_loss(self.discriminator(output.z))
        objective = -log_lik + self.adversarial_weight * generator
        return LossResult(
            objective,
            {"log_likelihood": log_lik.detach(), "generator_loss": generator.detach()},
        )

    def discriminator_loss(self, x: torch.Tensor) -> LossResult:
        """Logistic loss: ``B`` prior draws as real, the codes of ``x`` (no grad) as fake."""
        with torch.no_grad():
            codes = self._encode(x).z  # [B, D_z]
        self._check_code(codes)
        draws = self.latent_prior.sample(codes.shape[0]).to(codes)  # [B, D_z]
        real, fake = self.discriminator(draws), self.discriminator(codes)
        loss = logistic_discriminator_loss(real, fake)
        accuracy = 0.5 * ((real > 0).float().mean() + (fake < 0).float().mean())
        return LossResult(loss, {"accuracy": accuracy.detach()})

    def _autoencoder_loss(
        self, x: torch.Tensor, likelihood: LikelihoodSpec | None = None
    ) -> LossResult:
        return self.compute_loss(x, self(x), likelihood=likelihood)

    def _discriminator_step(self) -> UpdateStep:
        return discriminator_update(
            self.discriminator,
            self.discriminator_loss,
            self.discriminator_start_step,
            self.discriminator_lr,
        )

    def training_steps(self) -> tuple[UpdateStep, UpdateStep]:
        """``"autoencoder"`` (every parameter but the discriminator's), ``"discriminator"``."""
        rest = parameters_except(self, self.discriminator)
        return (
            UpdateStep("autoencoder", rest, self._autoencoder_loss, uses_loss_kwargs=True),
            self._discriminator_step(),
        )

    def sample(self, num_samples: int) -> torch.Tensor:
        """Decoder outputs ``[num_samples, ...]`` for ``z ~ p(z)`` (no grad)."""
        num_samples = check_num_samples(num_samples, "num_samples")
        with torch.no_grad():
            z = self.latent_prior.sample(num_samples)  # [N, D_z]
            return self._decode(z).x_hat
