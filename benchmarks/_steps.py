"""Training steps compared by the benchmarks: ours (pyautoencoder) and hand-written PyTorch.

Each ``make_*`` function seeds the RNG, builds a model and an Adam optimizer (``lr = 1e-3``,
PyTorch defaults otherwise unless ``optimizer_kwargs`` says more) and returns
``(step, model)`` where ``step(x)`` is one full training step: forward, loss, ``zero_grad``,
backward, optimizer step. The hand-written steps are what a user would write in plain PyTorch
for the same model and objective (Kingma & Welling 2014, eq. 10 with the closed-form KL of
their Appendix B; Burda et al. 2016, eq. 8 for the IWAE bound).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from _common import HIDDEN, LATENT, conv_decoder, conv_encoder, mlp_decoder, mlp_encoder
from torch import nn

Step = Callable[[torch.Tensor], None]
MODELS = ("vae-mlp", "ae-mlp", "iwae-mlp", "vae-conv")
IWAE_K = 5
_LOG_2PI = math.log(2 * math.pi)


def networks(model_name: str) -> tuple[nn.Module, nn.Module, int]:
    """``(encoder body, decoder, latent_dim)`` of a benchmark model."""
    if model_name.endswith("conv"):
        return conv_encoder(), conv_decoder(16), 16
    return mlp_encoder(), mlp_decoder(), LATENT


def _adam(model: nn.Module, optimizer_kwargs: dict[str, Any] | None) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=1e-3, **(optimizer_kwargs or {}))


def make_ours(
    model_name: str, first: torch.Tensor, optimizer_kwargs: dict[str, Any] | None = None
) -> tuple[Step, nn.Module]:
    """Our model's step: ``model(x)``, ``model.compute_loss(x, output).objective``."""
    from pyautoencoder.vanilla import AE
    from pyautoencoder.variational import IWAE, VAE

    torch.manual_seed(0)
    encoder, decoder, latent = networks(model_name)
    model: nn.Module
    if model_name.startswith("vae"):
        model = VAE(encoder, decoder, latent, likelihood="bernoulli")
    elif model_name.startswith("iwae"):
        model = IWAE(encoder, decoder, latent, num_samples=IWAE_K, likelihood="bernoulli")
    else:
        model = AE(nn.Sequential(encoder, nn.Linear(HIDDEN, latent)), decoder)
    model.build(first)  # type: ignore[operator]
    optimizer = _adam(model, optimizer_kwargs)
    loss_kwargs = {"likelihood": "bernoulli"} if model_name.startswith("ae") else {}

    def step(x: torch.Tensor) -> None:
        output = model(x)
        loss = model.compute_loss(x, output, **loss_kwargs).objective  # type: ignore[operator]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, model


class HandVAE(nn.Module):
    """Plain PyTorch VAE / IWAE: encoder body, two linear heads, decoder."""

    def __init__(self, model_name: str) -> None:
        super().__init__()
        self.encoder, self.decoder, latent = networks(model_name)
        features = 64 * 7 * 7 if model_name.endswith("conv") else HIDDEN
        self.mu = nn.Linear(features, latent)
        self.log_var = nn.Linear(features, latent)
        self.num_samples = IWAE_K if model_name.startswith("iwae") else 1

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)
        mu, log_var = self.mu(h), self.log_var(h)
        if self.num_samples == 1:
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
            logits = self.decoder(z)
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
            kl = -0.5 * (1 + log_var - mu.square() - log_var.exp())
            return (rec.flatten(1).sum(1) + kl.sum(1)).mean()
        batch, k = x.shape[0], self.num_samples
        eps = torch.randn(batch, k, mu.shape[1])
        z = mu.unsqueeze(1) + torch.exp(0.5 * log_var).unsqueeze(1) * eps  # [B, K, D_z]
        logits = self.decoder(z.reshape(batch * k, -1)).reshape(batch, k, -1)
        target = x.reshape(batch, 1, -1).expand(batch, k, -1)
        log_lik = -F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
        log_prior = -0.5 * (z.square() + _LOG_2PI).sum(-1)
        log_post = -0.5 * (eps.square() + log_var.unsqueeze(1) + _LOG_2PI).sum(-1)
        log_w = log_lik + log_prior - log_post  # [B, K]
        return -(torch.logsumexp(log_w, dim=1) - math.log(k)).mean()


class HandAE(nn.Module):
    """Plain PyTorch autoencoder with the Bernoulli reconstruction loss."""

    def __init__(self, model_name: str) -> None:
        super().__init__()
        encoder, self.decoder, latent = networks(model_name)
        self.encoder = nn.Sequential(encoder, nn.Linear(HIDDEN, latent))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.decoder(self.encoder(x))
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        return rec.flatten(1).sum(1).mean()


def make_hand(
    model_name: str, first: torch.Tensor, optimizer_kwargs: dict[str, Any] | None = None
) -> tuple[Step, nn.Module]:
    """The hand-written step of the same model and objective."""
    torch.manual_seed(0)
    model: HandVAE | HandAE = (
        HandAE(model_name) if model_name.startswith("ae") else HandVAE(model_name)
    )
    optimizer = _adam(model, optimizer_kwargs)

    def step(x: torch.Tensor) -> None:
        loss = model.loss(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, model


def image_batches(model_name: str, batches: list[torch.Tensor]) -> list[torch.Tensor]:
    """``[B, 1, 28, 28]`` views for the conv model, the flat batches otherwise."""
    if model_name.endswith("conv"):
        return [b.reshape(-1, 1, 28, 28) for b in batches]
    return batches
