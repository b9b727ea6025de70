"""Tiny models and data for the training tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from pyautoencoder.variational import VAE

FEATURES = 12
LATENT = 3


def make_vae(seed: int = 0) -> VAE:
    """A small VAE (lazy sampling layer) with a deterministic initialisation."""
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(FEATURES, 16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(LATENT, 16), nn.Tanh(), nn.Linear(16, FEATURES))
    return VAE(encoder, decoder, LATENT)


@pytest.fixture
def vae_factory() -> Callable[[], VAE]:
    return make_vae


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    """``(train [120, 12], val [40, 12])`` with low-rank structure a VAE can learn."""
    generator = torch.Generator().manual_seed(123)
    mixing = torch.randn(LATENT, FEATURES, generator=generator)
    codes = torch.randn(160, LATENT, generator=generator)
    x = torch.tanh(codes @ mixing) + 0.05 * torch.randn(160, FEATURES, generator=generator)
    return x[:120], x[120:]


QUIET = {"progress": False, "accelerator": "cpu", "log_every_n_steps": 5}
