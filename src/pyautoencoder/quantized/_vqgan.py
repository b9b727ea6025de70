"""VQGAN's objective (Esser, Rombach & Ommer 2021) on the library's VQ-VAE."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from .._base._discriminator import FeatureDiscriminator
from .._base._steps import UpdateStep, discriminator_update, parameters_except
from .._validation import check_weight
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..loss._adversarial import (
    adaptive_adversarial_weight,
    hinge_discriminator_loss,
    hinge_generator_loss,
    logistic_discriminator_loss,
    non_saturating_generator_loss,
)
from ..loss._result import LossResult
from ..registry import register_model
from ..vanilla._reconstruction import reconstruction_log_likelihood
from ._protocol import Quantizer
from ._vqvae import VQVAE, VQVAEOutput

GANLoss = Literal["hinge", "non_saturating"]
_GAN_LOSSES: dict[str, tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]] = {
    "hinge": (hinge_discriminator_loss, hinge_generator_loss),
    "non_saturating": (logistic_discriminator_loss, non_saturating_generator_loss),
}


@register_model("vqgan", latent="code", latent_arg="code_dim")
class VQGAN(VQVAE):
    r"""A :class:`VQVAE` trained with VQGAN's adversarial objective (Esser et al. 2021, eq. 5-7).

    The autoencoder update minimises

    .. math::

        \mathcal{L} = \mathcal{L}_{rec} + \mathcal{L}_{VQ}
            + \lambda_{adv}\, \mathbb{1}[t \ge t_0]\, \lambda\, \mathcal{L}_G(\hat x),
        \qquad
        \lambda = \frac{\lVert \nabla_{G_L} \mathcal{L}_{rec} \rVert}
            {\lVert \nabla_{G_L} \mathcal{L}_G \rVert + \delta},

    with ``L_rec`` the reconstruction NLL of the model's likelihood, ``L_VQ`` the quantizer's
    loss, ``G_L`` the weight of the decoder's last layer (the last parameter with two or more
    dimensions), ``lambda`` from :func:`~pyautoencoder.loss.adaptive_adversarial_weight` (eq. 7)
    and ``t_0 = discriminator_start_step``: before it, neither the adversarial term nor the
    discriminator update is active. The discriminator update minimises the hinge loss
    (default; :func:`~pyautoencoder.loss.hinge_discriminator_loss`) or the logistic one
    (``gan_loss="non_saturating"``) with inputs real and reconstructions fake.
    :meth:`training_steps` declares the two optimizers (``"autoencoder"``,
    ``"discriminator"``); the steps seen by the autoencoder update are a buffer
    (``adversarial_steps``), so a resumed run gates the same way.

    ``compute_loss`` (validation, hand-written loops) uses ``lambda = 1``: the adaptive weight
    needs gradients and is computed in the training update only (diagnostic
    ``adaptive_weight``). Diagnostics: those of :class:`VQVAE` plus ``generator_loss``.

    What differs from the paper: the default discriminator is an MLP on flattened inputs
    (a convolutional, patch-based critic such as
    :class:`~pyautoencoder.nets.PatchDiscriminator` can replace ``model.discriminator``: a
    critic returning one tensor has every entry taken as a logit), and there is no
    perceptual term (add it to the likelihood or subclass).

    Parameters
    ----------
    encoder, decoder, num_codes, code_dim
        As for :class:`VQVAE`.
    adversarial_weight : float
        ``lambda_adv >= 0`` (the paper's ``disc_weight``; 0.8 in their configs).
    gan_loss : {"hinge", "non_saturating"}
        The pair of discriminator/generator losses.
    adaptive_weight : bool
        Whether the adversarial term is scaled by eq. 7's ``lambda`` (else 1).
    discriminator_hidden : sequence of int
        Hidden widths of the default MLP discriminator.
    discriminator_lr : float, optional
        The discriminator optimizer's learning rate; ``None`` takes the run's ``lr``.
    discriminator_start_step : int
        ``t_0``.
    quantizer, commitment_weight, ema, decay, eps, cosine, dead_code_steps,
    dead_code_threshold, sync_statistics, likelihood
        As for :class:`VQVAE`.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        num_codes: int | None = None,
        code_dim: int | None = None,
        *,
        adversarial_weight: float = 0.8,
        gan_loss: GANLoss = "hinge",
        adaptive_weight: bool = True,
        discriminator_hidden: Sequence[int] = (256, 256),
        discriminator_lr: float | None = None,
        discriminator_start_step: int = 0,
        quantizer: Quantizer | str | None = None,
        commitment_weight: float = 0.25,
        ema: bool = True,
        decay: float = 0.99,
        eps: float = 1e-5,
        cosine: bool = False,
        dead_code_steps: int | None = 100,
        dead_code_threshold: float | None = None,
        sync_statistics: bool = True,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
    ) -> None:
        super().__init__(
            encoder,
            decoder,
            num_codes,
            code_dim,
            quantizer=quantizer,
            commitment_weight=commitment_weight,
            ema=ema,
            decay=decay,
            eps=eps,
            cosine=cosine,
            dead_code_steps=dead_code_steps,
            dead_code_threshold=dead_code_threshold,
            sync_statistics=sync_statistics,
            likelihood=likelihood,
        )
        if gan_loss not in _GAN_LOSSES:
            raise ValueError(f"gan_loss must be one of {sorted(_GAN_LOSSES)}, got {gan_loss!r}")
        self.gan_loss: GANLoss = gan_loss
        self._discriminator_objective, self._generator_objective = _GAN_LOSSES[gan_loss]
        self.adversarial_weight = float(check_weight(adversarial_weight, "adversarial_weight"))
        self.adaptive_weight = bool(adaptive_weight)
        self.discriminator = FeatureDiscriminator(discriminator_hidden)
        self.discriminator_lr = discriminator_lr
        self.discriminator_start_step = discriminator_start_step
        self._discriminator_step()  # validates start step and lr now, not when training starts
        self.register_buffer("adversarial_steps", torch.zeros((), dtype=torch.long))

    def _build_pass(self, input_sample: torch.Tensor) -> None:
        super()._build_pass(input_sample)
        self.discriminator(input_sample)  # materialise the lazy first layer

    def last_decoder_weight(self) -> nn.Parameter:
        """``G_L``: the decoder's last parameter with two or more dimensions."""
        weights = [p for p in self.decoder.parameters() if p.dim() >= 2]
        if not weights:
            raise ValueError("the decoder has no weight matrix/kernel for the adaptive weight")
        return weights[-1]

    def _gate(self, like: torch.Tensor) -> torch.Tensor:
        """``1[t >= t_0]`` as a 0-dim tensor (no host read)."""
        steps: torch.Tensor = self.adversarial_steps  # type: ignore[assignment]
        return (steps >= self.discriminator_start_step).to(like.dtype)

    def _critic(self, images: torch.Tensor) -> torch.Tensor:
        """The critic's logits: the first item of the default critic's ``(logits [B],
        features)``, or the whole output of a critic that returns one tensor (a
        :class:`~pyautoencoder.nets.PatchDiscriminator`'s ``[B, 1, H', W']``, flattened to
        ``[B * H' * W']``: every patch a logit, the GAN losses average over them)."""
        scores = self.discriminator(images)
        return scores.reshape(-1) if isinstance(scores, torch.Tensor) else scores[0]

    def _terms(
        self, x: torch.Tensor, output: VQVAEOutput, likelihood: object
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``(reconstruction NLL, generator loss, VQ-VAE diagnostics)``, each 0-dim."""
        spec = self.likelihood if likelihood is None else likelihood
        nll = -reconstruction_log_likelihood(x, output.x_hat, spec).mean()  # type: ignore[arg-type]
        generator = self._generator_objective(self._critic(output.x_hat))
        diagnostics = {
            "log_likelihood": -nll.detach(),
            "vq_loss": output.quantization.loss.detach(),
            **output.quantization.diagnostics,
            "generator_loss": generator.detach(),
        }
        return nll, generator, diagnostics

    def compute_loss(
        self,
        x: torch.Tensor,
        output: VQVAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """``L_rec + L_VQ + adversarial_weight * 1[t >= t_0] * L_G`` (no adaptive weight).

        The signature is :class:`VQVAE`'s (no ``beta``: the trainer passes none).
        """
        nll, generator, diagnostics = self._terms(x, output, likelihood)
        weight = self.adversarial_weight * self._gate(generator)
        return LossResult(nll + output.quantization.loss + weight * generator, diagnostics)

    def autoencoder_loss(
        self, x: torch.Tensor, likelihood: LikelihoodType | str | Likelihood | None = None
    ) -> LossResult:
        """The autoencoder update with eq. 7's adaptive weight; counts the update."""
        output = self(x)
        nll, generator, diagnostics = self._terms(x, output, likelihood)
        gate = self._gate(generator)
        adaptive = torch.ones_like(generator)
        if self.adaptive_weight:
            adaptive = adaptive_adversarial_weight(nll, generator, self.last_decoder_weight())
        weight = self.adversarial_weight * gate * adaptive
        with torch.no_grad():
            self.adversarial_steps.add_(1)  # type: ignore[operator]
        objective = nll + output.quantization.loss + weight * generator
        return LossResult(objective, {**diagnostics, "adaptive_weight": adaptive.detach()})

    def discriminator_loss(self, x: torch.Tensor) -> LossResult:
        """The critic's loss with ``x`` real and its reconstruction (no grad) fake."""
        with torch.no_grad():
            x_hat = self(x, update_codebook=False).x_hat
        real, fake = self._critic(x), self._critic(x_hat)
        loss = self._discriminator_objective(real, fake)
        accuracy = 0.5 * ((real > 0).float().mean() + (fake < 0).float().mean())
        return LossResult(loss, {"accuracy": accuracy.detach()})

    def _discriminator_step(self) -> UpdateStep:
        return discriminator_update(
            self.discriminator,
            self.discriminator_loss,
            self.discriminator_start_step,
            self.discriminator_lr,
        )

    def training_steps(self) -> tuple[UpdateStep, UpdateStep]:
        """``"autoencoder"`` (all but the discriminator's parameters), ``"discriminator"``."""
        rest = parameters_except(self, self.discriminator)
        return (
            UpdateStep("autoencoder", rest, self.autoencoder_loss, uses_loss_kwargs=True),
            self._discriminator_step(),
        )
