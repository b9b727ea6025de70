"""VQVAE trained by ``pyautoencoder.training.fit``: dead-code resets inside a compiled step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyautoencoder.quantized import VQVAE
from pyautoencoder.training import fit


def _collapsed_vqvae() -> VQVAE:
    torch.manual_seed(0)
    model = VQVAE(
        nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2)),
        nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 6)),
        num_codes=16,
        code_dim=2,
        dead_code_steps=2,
    )
    with torch.no_grad():  # every code but one far from the encoder outputs
        model.quantizer.codebook.fill_(40.0)
        model.quantizer.codebook[0] = 0.0
        model.quantizer.ema_code_sum.copy_(model.quantizer.codebook)
    return model


@pytest.mark.slow
def test_fit_resets_dead_codes_inside_its_compiled_step() -> None:
    x = torch.randn(128, 6, generator=torch.Generator().manual_seed(1))
    model = _collapsed_vqvae()
    result = fit(
        model,
        x,
        max_steps=12,
        batch_size=32,
        compile={"backend": "aot_eager", "fullgraph": True},
        progress=False,
        accelerator="cpu",
        log_every_n_steps=1,
    )
    train = [e for e in result.history if e["event"] == "train"]
    assert train[0]["codes_used"] == pytest.approx(1 / 16)  # step 1: code 0 only
    assert train[-1]["codes_used"] > 0.5  # the reset ran inside fit's compiled step
    assert float(model.quantizer.codebook.abs().max()) < 10.0
