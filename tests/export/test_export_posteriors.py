"""Export with every posterior: programs equal eager, flows export their code f(mu) as ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from pyautoencoder.export import export_encoder, run_onnx, to_onnx
from pyautoencoder.variational import VAE


def _vae(posterior: str) -> VAE:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.Tanh())
    model = VAE(encoder, nn.Linear(3, 6), 3, posterior=posterior)
    model.build(torch.zeros(2, 6))
    return model.eval()


def _cases() -> list[tuple[str, str]]:
    """Every registered posterior but the diagonal (exported elsewhere) and the field its
    encoder program returns: ``mu``, or ``z = f(mu)`` for a flow (``code_is_mu`` False)."""
    from pyautoencoder.distributions import FlowPosterior, available_posteriors
    from pyautoencoder.distributions._posteriors import POSTERIORS

    cases = []
    for name in available_posteriors():
        cls = POSTERIORS.get(name)
        if name != "diagonal":
            spec = f"{name}:2" if issubclass(cls, FlowPosterior) else name
            cases.append((spec, "mu" if cls.code_is_mu else "z"))
    return cases


@pytest.mark.parametrize(("posterior", "field"), _cases())
def test_encoder_program_returns_the_posteriors_code(posterior: str, field: str) -> None:
    model = _vae(posterior)
    program = export_encoder(model, torch.randn(4, 6))
    x = torch.randn(7, 6)  # another batch size: the batch dimension is symbolic
    expected = getattr(model.encode(x), field)
    torch.testing.assert_close(program.module()(x), expected)


@pytest.mark.slow
def test_a_flow_encoder_exports_to_onnx(tmp_path: Path) -> None:
    model = _vae("iaf:2")
    path = to_onnx(export_encoder(model, torch.randn(4, 6)), tmp_path / "encoder.onnx")
    x = torch.randn(5, 6)
    (z,) = run_onnx(path, x)
    np.testing.assert_allclose(z, model.encode(x).z.numpy(), atol=1e-5, rtol=0)
