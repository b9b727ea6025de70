"""Fixtures of the training tests."""

from __future__ import annotations

import pytest
import torch
from training_helpers import FEATURES, LATENT


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    """``(train [120, 12], val [40, 12])`` with low-rank structure a VAE can learn."""
    generator = torch.Generator().manual_seed(123)
    mixing = torch.randn(LATENT, FEATURES, generator=generator)
    codes = torch.randn(160, LATENT, generator=generator)
    x = torch.tanh(codes @ mixing) + 0.05 * torch.randn(160, FEATURES, generator=generator)
    return x[:120], x[120:]
