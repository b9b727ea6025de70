"""PIWAE: the decoder follows the IWAE(M K) gradient, the encoder the MIWAE(M, K) gradient."""

from __future__ import annotations

import pytest
import torch
from objective_helpers import binary_data, make_vae

from pyautoencoder.objectives import MIWAE, PIWAE, ImportanceWeightedBound
from pyautoencoder.variational import VAE


def _grads(model: VAE, objective: object, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    model.zero_grad()
    torch.manual_seed(7)
    output = model(x, S=6)
    result = objective(model, x, output)  # type: ignore[operator]
    result.objective.backward()
    encoder = [model.encoder, model.sampling_layer]
    enc = torch.cat([p.grad.flatten() for m in encoder for p in m.parameters()])  # type: ignore[union-attr]
    dec = torch.cat([p.grad.flatten() for p in model.decoder.parameters()])  # type: ignore[union-attr]
    return result.objective.detach(), enc, dec


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_piwae_routes_iwae_to_the_decoder_and_miwae_to_the_encoder(beta: float) -> None:
    model = make_vae(PIWAE(num_importance=3, num_averaged=2))
    x = binary_data()
    piwae = PIWAE(3, 2)
    value, enc, dec = _grads(model, lambda m, x, o: piwae(m, x, o, beta=beta), x)
    iwae_value, _, iwae_dec = _grads(
        model, lambda m, x, o: ImportanceWeightedBound(6)(m, x, o, beta=beta), x
    )
    _, miwae_enc, _ = _grads(model, lambda m, x, o: MIWAE(3, 2)(m, x, o, beta=beta), x)
    torch.testing.assert_close(value, iwae_value)  # its value is the IWAE bound
    torch.testing.assert_close(dec, iwae_dec)
    torch.testing.assert_close(enc, miwae_enc)
    assert not torch.allclose(enc, _grads(model, ImportanceWeightedBound(6), x)[1])


def test_piwae_diagnostics_report_both_bounds() -> None:
    model = make_vae(PIWAE(num_importance=2, num_averaged=3))
    x = binary_data()
    result = model.compute_loss(x, model(x))
    d = result.diagnostics
    assert d["miwae_bound"] <= d["iwae_bound"] + 1e-12
    torch.testing.assert_close(d["iwae_bound"], -result.objective.detach())
