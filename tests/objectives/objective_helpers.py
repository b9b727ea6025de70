"""Tiny float64 VAEs and independent reference terms (torch.distributions) for objective tests."""

from __future__ import annotations

import torch
from torch import distributions as D
from torch import nn

from pyautoencoder.objectives import Objective
from pyautoencoder.variational import VAE

X_DIM, LATENT = 6, 2


def make_vae(objective: Objective | None = None, **kwargs: object) -> VAE:
    """A built float64 VAE with a Bernoulli likelihood (seeded)."""
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(X_DIM, 16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(LATENT, 16), nn.Tanh(), nn.Linear(16, X_DIM))
    model = VAE(encoder, decoder, LATENT, likelihood="bernoulli", objective=objective, **kwargs)  # type: ignore[arg-type]
    model.build(torch.zeros(1, X_DIM))
    return model.double()


def binary_data(n: int = 8) -> torch.Tensor:
    gen = torch.Generator().manual_seed(5)
    return (torch.rand(n, X_DIM, generator=gen) > 0.5).double()


def reference_log_weights(x: torch.Tensor, output: object) -> tuple[torch.Tensor, ...]:
    """``(log p(x|z) [B,S], log p(z) [B,S], log q(z|x) [B,S], KL [B])`` from torch.distributions."""
    x_hat, z, mu, log_var = output.x_hat, output.z, output.mu, output.log_var  # type: ignore[attr-defined]
    log_lik = D.Bernoulli(logits=x_hat).log_prob(x.unsqueeze(1).expand_as(x_hat)).sum(-1)
    log_prior = D.Normal(0.0, 1.0).log_prob(z).sum(-1)
    q = D.Normal(mu, (0.5 * log_var).exp())
    log_q = D.Normal(mu.unsqueeze(1), (0.5 * log_var).exp().unsqueeze(1)).log_prob(z).sum(-1)
    kl = D.kl_divergence(q, D.Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    return log_lik, log_prior, log_q, kl
