"""VAE-GAN (Larsen, Sonderby, Larochelle & Winther 2016): a VAE whose reconstruction error is
measured in a discriminator's feature space."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._base._discriminator import FeatureDiscriminator
from .._base._steps import UpdateStep, discriminator_update, parameters_except
from .._validation import check_weight
from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._penalized import PenalizedLikelihood
from ..distributions._priors import Prior
from ..loss._adversarial import logistic_discriminator_loss, non_saturating_generator_loss
from ..loss._result import LossResult
from ..loss._sampled import sampled_log_likelihood
from ..registry import register_model
from ._outputs import VAEOutput
from ._vae import VAE


@register_model("vae_gan", latent="features")
class VAEGAN(VAE):
    r"""VAE-GAN: VAE encoder and decoder, and a discriminator whose hidden features replace the
    pixel likelihood (Larsen et al. 2016, Sec. 2.1 and Algorithm 1).

    With ``x~ = Dec(z)``, ``z ~ q(z | x)``, ``x_p = Dec(z_p)``, ``z_p ~ p(z)`` and
    ``Dis_l`` the discriminator's last hidden layer:

    .. math::

        \mathcal{L}_{prior} &= \mathrm{KL}(q(z \mid x) \,\|\, p(z)), \qquad
        \mathcal{L}^{Dis_l}_{llike} = \tfrac12 \lVert Dis_l(x) - Dis_l(\tilde x) \rVert^2
            \quad (\text{eq. 8, a unit-variance Gaussian}),\\
        \theta_{Enc} &\leftarrow \nabla(\beta\mathcal{L}_{prior} + \mathcal{L}^{Dis_l}_{llike}),
        \quad
        \theta_{Dec} \leftarrow \nabla(\gamma\,\mathcal{L}^{Dis_l}_{llike} + \mathcal{L}_G),
        \quad
        \theta_{Dis} \leftarrow \nabla \mathcal{L}_D,

    each a batch mean. ``L_D`` is the logistic loss with ``x`` real and both ``x~`` and ``x_p``
    fake (:func:`~pyautoencoder.loss.logistic_discriminator_loss`, fakes pooled into one
    mean); ``L_G`` the non-saturating generator loss on ``x~`` and ``x_p`` (the paper writes
    ``-L_GAN``; the non-saturating form of Goodfellow et al. 2014 is what is trained in
    practice). :meth:`training_steps` declares the three optimizers (``"encoder"``,
    ``"decoder"``, ``"discriminator"``); ``fit()`` and ``pyautoencoder train --model vae_gan``
    run them. ``compute_loss`` (validation, hand-written loops) is
    ``beta * L_prior + L_llike + L_G(x~)``.

    Diagnostics: ``kl_divergence``, ``feature_distance`` (``L_llike``), ``generator_loss``;
    the discriminator step logs ``discriminator_loss`` and ``discriminator_accuracy``.

    Parameters
    ----------
    encoder, decoder, latent_dim
        As for :class:`VAE`.
    similarity_weight : float
        ``gamma >= 0``, the weight of ``L_llike`` in the decoder's loss (the paper's
        ``gamma``; small values favour the GAN term).
    discriminator_hidden : sequence of int
        Hidden widths of the MLP discriminator on flattened inputs (its last hidden layer is
        ``Dis_l``). Convolutional discriminators: subclass and replace ``discriminator``.
    discriminator_lr : float, optional
        The discriminator optimizer's learning rate; ``None`` takes the run's ``lr``.
    discriminator_start_step : int
        Trainer step at which discriminator updates begin.
    prior, likelihood, kl_estimator
        As for :class:`VAE`. The likelihood is used only by tools that evaluate ``log p(x)``
        (training reconstructs in feature space), except a
        :class:`~pyautoencoder.distributions.PenalizedLikelihood` (a pixel likelihood plus an
        MS-SSIM, log-cosh or perceptual loss): its negative log-likelihood
        ``L_rec = -mean_b log p~(x_b | x~_b)`` then joins the encoder's and decoder's updates
        and ``compute_loss`` (diagnostic ``log_likelihood``), next to ``L_llike``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        similarity_weight: float = 1.0,
        *,
        discriminator_hidden: Sequence[int] = (256, 256),
        discriminator_lr: float | None = None,
        discriminator_start_step: int = 0,
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
        self.similarity_weight = float(check_weight(similarity_weight, "similarity_weight"))
        self.discriminator = FeatureDiscriminator(discriminator_hidden)
        self.discriminator_lr = discriminator_lr
        self.discriminator_start_step = discriminator_start_step
        self._discriminator_step()  # validates start step and lr now, not when training starts
        # Resolved once: a PenalizedLikelihood is a training term, a plain one is not.
        self._trains_likelihood = isinstance(self.likelihood, PenalizedLikelihood)

    def _build_pass(self, input_sample: torch.Tensor) -> None:
        super()._build_pass(input_sample)
        self.discriminator(input_sample)  # materialise the lazy first layer

    def _reconstruction(self, output: VAEOutput) -> torch.Tensor:
        return output.x_hat[:, 0]  # [B, ...]: the first sample's decoding

    def feature_distance(self, x: torch.Tensor, x_tilde: torch.Tensor) -> torch.Tensor:
        """``L_llike = mean_b 0.5 ||Dis_l(x_b) - Dis_l(x~_b)||^2`` (0-dim; eq. 8 up to a
        constant)."""
        real = self.discriminator(x)[1]  # [B, F]
        fake = self.discriminator(x_tilde)[1]
        return 0.5 * (real - fake).pow(2).sum(dim=1).mean()

    def _pixel_terms(
        self, x: torch.Tensor, x_tilde: torch.Tensor
    ) -> tuple[torch.Tensor | float, dict[str, torch.Tensor]]:
        """``(L_rec, {"log_likelihood": -L_rec})`` for a PenalizedLikelihood, else ``(0, {})``."""
        if not self._trains_likelihood:
            return 0.0, {}
        log_lik = sampled_log_likelihood(x, x_tilde.unsqueeze(1), self.likelihood).mean()  # []
        return -log_lik, {"log_likelihood": log_lik.detach()}

    def _kl(self, output: VAEOutput) -> torch.Tensor:
        return self.kl_per_dim(output).sum(dim=1).mean()  # []

    def compute_loss(
        self,
        x: torch.Tensor,
        output: VAEOutput,
        beta: float | torch.Tensor = 1,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """``beta * KL + L_llike + L_G(x~)`` (batch means, 0-dim); ``likelihood`` is unused.

        The signature is :class:`VAE`'s (the trainer passes the same ``beta`` schedule).
        """
        x_tilde = self._reconstruction(output)
        kl = self._kl(output)
        distance = self.feature_distance(x, x_tilde)
        generator = non_saturating_generator_loss(self.discriminator(x_tilde)[0])
        pixel, pixel_diagnostics = self._pixel_terms(x, x_tilde)
        return LossResult(
            beta * kl + distance + generator + pixel,
            {
                "kl_divergence": kl.detach(),
                "feature_distance": distance.detach(),
                "generator_loss": generator.detach(),
                **pixel_diagnostics,
            },
        )

    def encoder_loss(self, x: torch.Tensor, beta: float | torch.Tensor = 1) -> LossResult:
        """The encoder's update: ``beta * L_prior + L_llike`` (``+ L_rec``, see the class)."""
        output = self(x)
        kl = self._kl(output)
        x_tilde = self._reconstruction(output)
        distance = self.feature_distance(x, x_tilde)
        pixel, pixel_diagnostics = self._pixel_terms(x, x_tilde)
        return LossResult(
            beta * kl + distance + pixel,
            {
                "kl_divergence": kl.detach(),
                "feature_distance": distance.detach(),
                **pixel_diagnostics,
            },
        )

    def _prior_decodings(self, batch: int) -> torch.Tensor:
        z = self.latent_prior.sample(batch).unsqueeze(1)  # [B, 1, D_z]
        return self._decode(z).x_hat[:, 0]  # [B, ...]

    def decoder_loss(self, x: torch.Tensor) -> LossResult:
        """The decoder's update: ``gamma * L_llike + L_G(x~) + L_G(x_p)`` (``+ L_rec``)."""
        with torch.no_grad():
            z = self._encode(x, S=1, sample=True).z  # [B, 1, D_z]
        x_tilde = self._decode(z).x_hat[:, 0]
        x_prior = self._prior_decodings(x.shape[0])
        distance = self.feature_distance(x, x_tilde)
        generator = non_saturating_generator_loss(
            self.discriminator(x_tilde)[0]
        ) + non_saturating_generator_loss(self.discriminator(x_prior)[0])
        pixel, _ = self._pixel_terms(x, x_tilde)
        return LossResult(
            self.similarity_weight * distance + generator + pixel,
            {"generator_loss": generator.detach()},
        )

    def discriminator_loss(self, x: torch.Tensor) -> LossResult:
        """Logistic loss: ``x`` real; ``x~`` and ``x_p`` (no grad to the VAE) fake."""
        with torch.no_grad():
            x_tilde = self._decode(self._encode(x, S=1, sample=True).z).x_hat[:, 0]
            fakes = torch.cat([x_tilde, self._prior_decodings(x.shape[0])])  # [2B, ...]
        real, fake = self.discriminator(x)[0], self.discriminator(fakes)[0]
        loss = logistic_discriminator_loss(real, fake)
        accuracy = 0.5 * ((real > 0).float().mean() + (fake < 0).float().mean())
        return LossResult(loss, {"accuracy": accuracy.detach()})

    def _discriminator_step(self) -> UpdateStep:
        return discriminator_update(
            self.discriminator,
            self.discriminator_loss,
            self.discriminator_start_step,
            self.discriminator_lr,
        )

    def training_steps(self) -> tuple[UpdateStep, UpdateStep, UpdateStep]:
        """``"encoder"`` (encoder, sampling layer, posterior and prior parameters),
        ``"decoder"``, ``"discriminator"``: Larsen et al. (2016), Algorithm 1."""
        encoder = parameters_except(self, self.decoder, self.discriminator)
        decoder = tuple(p for p in self.decoder.parameters() if p.requires_grad)
        return (
            UpdateStep("encoder", encoder, self.encoder_loss, uses_loss_kwargs=True),
            UpdateStep("decoder", decoder, self.decoder_loss),
            self._discriminator_step(),
        )
