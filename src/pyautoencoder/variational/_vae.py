"""The variational autoencoder (Kingma & Welling 2014) with a beta-weighted bound (C-VAE)."""

from __future__ import annotations

import torch
from torch import distributions as D
from torch import nn

from .._base import BaseAutoencoder
from .._validation import (
    check_all_finite,
    check_module,
    check_positive_int,
    check_weight,
)
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..loss._kl import kl_divergence_diag_gaussian
from ..loss._result import LossResult
from ..loss._sampled import check_sampled_reconstruction, sampled_log_likelihood
from ..registry import register_model
from . import stochastic_layers
from ._outputs import VAEDecodeOutput, VAEEncodeOutput, VAEOutput


def check_posterior_params(
    mu: torch.Tensor, log_var: torch.Tensor, batch: int, latent_dim: int
) -> None:
    """Raise ``ValueError`` unless ``mu`` and ``log_var`` are both ``[B, latent_dim]``."""
    expected = (batch, latent_dim)
    if tuple(mu.shape) != expected or tuple(log_var.shape) != expected:
        raise ValueError(
            f"mu and log_var must have shape [B, D_z] = [{batch}, {latent_dim}], "
            f"got mu {tuple(mu.shape)} and log_var {tuple(log_var.shape)}"
        )


@register_model("vae", latent="features")
class VAE(BaseAutoencoder):
    r"""Variational autoencoder with a diagonal Gaussian posterior and a ``N(0, I)`` prior.

    ``encoder(x) -> h [B, F]``; a :class:`~pyautoencoder.variational.stochastic_layers.
    FullyFactorizedGaussian` maps ``h`` to ``mu, log_var [B, D_z]`` and draws
    ``z [B, S, D_z]``; the decoder maps ``z.reshape(B * S, D_z)`` to outputs reshaped to
    ``x_hat [B, S, ...]``.

    Objective (beta-VAE bound, Higgins et al. 2017; beta = 1 is the ELBO of Kingma & Welling
    2014, eq. 10), per input ``b``:

    .. math::

        \mathcal{L}_b = \frac1S \sum_s \sum_j \log p(x_{bj} \mid z_{bs})
            - \beta\,\mathrm{KL}(q(z \mid x_b) \,\|\, \mathcal{N}(0, I)),

    ``objective = -mean_b L_b``. The KL is closed form
    (:func:`~pyautoencoder.loss.kl_divergence_diag_gaussian`).

    Diagnostics (detached 0-dim tensors): ``elbo`` (the beta-weighted bound, batch mean),
    ``log_likelihood`` (sample- and batch-mean reconstruction term), ``kl_divergence``
    (batch-mean KL), ``elbo_unweighted`` (the true ELBO, ``log_likelihood - kl_divergence``).

    Parameters
    ----------
    encoder : nn.Module
        Maps ``x [B, ...]`` to flat features ``[B, F]`` (end it with ``nn.Flatten()``).
    decoder : nn.Module
        Maps ``z [N, D_z]`` to ``[N, ...]``.
    latent_dim : int
        ``D_z``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        check_module(encoder, "encoder")
        check_module(decoder, "decoder")
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.sampling_layer = stochastic_layers.FullyFactorizedGaussian(self.latent_dim)
        # Not persistent: state_dicts stay those of the 2.x API.
        self.register_buffer("_prior_loc", torch.zeros(self.latent_dim), persistent=False)

    @property
    def prior(self) -> D.Distribution:
        """The prior ``p(z) = N(0, I)`` as a distribution with event shape ``[D_z]``."""
        loc: torch.Tensor = self._prior_loc  # type: ignore[assignment]
        return D.Independent(D.Normal(loc, torch.ones_like(loc)), 1)

    def posterior(self, x: torch.Tensor) -> D.Distribution:
        """``q(z | x)`` as a distribution: batch shape ``[B]``, event shape ``[D_z]``.

        Runs with the active grad mode (use it inside ``torch.no_grad()`` for inference).
        """
        mu, log_var = self.sampling_layer.get_params(self.encoder(x))
        return D.Independent(D.Normal(mu, torch.exp(0.5 * log_var)), 1)

    def _build_pass(self, input_sample: torch.Tensor) -> None:
        # The posterior mean is enough to materialise every layer and draws no samples.
        self(input_sample, sample=False)

    def _encode(self, x: torch.Tensor, S: int = 1, sample: bool = True) -> VAEEncodeOutput:
        """``VAEEncodeOutput(z [B, S, D_z], mu [B, D_z], log_var [B, D_z])``."""
        stochastic_layers._check_sample_args(S, sample)  # before the encoder runs
        z, mu, log_var = self.sampling_layer(self.encoder(x), S=S, sample=sample)
        return VAEEncodeOutput(z=z, mu=mu, log_var=log_var)

    def _decode(self, z: torch.Tensor) -> VAEDecodeOutput:
        """Decode ``z [B, S, D_z]`` in one decoder call into ``x_hat [B, S, ...]``."""
        if z.dim() != 3 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"z must have shape [B, S, D_z] with D_z = {self.latent_dim}, got "
                f"{tuple(z.shape)}; for one latent per input of shape [B, D_z] use "
                "z.unsqueeze(1)"
            )
        batch, num_samples, latent_dim = z.shape
        flat = self.decoder(z.reshape(batch * num_samples, latent_dim))  # [B * S, ...]
        return VAEDecodeOutput(x_hat=flat.reshape(batch, num_samples, *flat.shape[1:]))

    def forward(self, x: torch.Tensor, S: int = 1, sample: bool = True) -> VAEOutput:
        """Encode (``S`` samples, or the mean with ``sample=False``) and decode."""
        enc = self._encode(x, S=S, sample=sample)
        return VAEOutput(x_hat=self._decode(enc.z).x_hat, z=enc.z, mu=enc.mu, log_var=enc.log_var)

    def encode(self, x: torch.Tensor, S: int = 1, sample: bool = False) -> VAEEncodeOutput:
        """Posterior mean by default (``z = mu.unsqueeze(1)``); ``sample=True`` draws ``S``."""
        with torch.no_grad():
            return self._encode(x, S=S, sample=sample)

    def compute_loss(
        self,
        x: torch.Tensor,
        output: VAEOutput,
        beta: float | torch.Tensor = 1,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
    ) -> LossResult:
        """Negative beta-ELBO averaged over the batch; see the class docstring."""
        check_sampled_reconstruction(x, output.x_hat)
        check_posterior_params(output.mu, output.log_var, x.shape[0], self.latent_dim)
        beta = check_weight(beta, "beta")
        check_all_finite(mu=output.mu, log_var=output.log_var)
        log_lik = sampled_log_likelihood(x, output.x_hat, likelihood).mean(dim=1)  # [B]
        kl = kl_divergence_diag_gaussian(output.mu, output.log_var)  # [B]
        return beta_elbo_result(log_lik, kl, beta)


def beta_elbo_result(
    log_lik: torch.Tensor, kl: torch.Tensor, beta: float | torch.Tensor
) -> LossResult:
    """Assemble the beta-ELBO objective and diagnostics from per-input terms ``[B]``."""
    elbo = log_lik - beta * kl  # [B]
    objective = -elbo.mean()
    mean_log_lik = log_lik.mean().detach()
    mean_kl = kl.mean().detach()
    return LossResult(
        objective=objective,
        diagnostics={
            "elbo": -objective.detach(),
            "log_likelihood": mean_log_lik,
            "kl_divergence": mean_kl,
            "elbo_unweighted": mean_log_lik - mean_kl,
        },
    )
