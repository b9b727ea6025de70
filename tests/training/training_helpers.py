"""Tiny models shared by the training tests (a uniquely named module: conftest names clash)."""

from __future__ import annotations

import torch
from torch import nn

from pyautoencoder.variational import VAE

FEATURES = 12
LATENT = 3
QUIET = {"progress": False, "accelerator": "cpu", "log_every_n_steps": 5}


def make_vae(seed: int = 0) -> VAE:
    """A small VAE (lazy sampling layer) with a deterministic initialisation."""
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(FEATURES, 16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(LATENT, 16), nn.Tanh(), nn.Linear(16, FEATURES))
    return VAE(encoder, decoder, LATENT)
