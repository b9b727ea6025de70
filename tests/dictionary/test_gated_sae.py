"""GatedSAE: the three-term objective against a float64 reference, gradients of each path."""

from __future__ import annotations

import pytest
import torch

from pyautoencoder.dictionary import GatedOutput, GatedSAE

pytestmark = pytest.mark.usefixtures("seeded")


def reference_objective(model: GatedSAE, x: torch.Tensor) -> torch.Tensor:
    """Rajamanoharan et al. (2024a), eqs. 6-9, written out with plain tensors."""
    w_gate = model.W_enc.detach()  # type: ignore[union-attr]
    w_dec, b_dec = model.W_dec.detach(), model.b_dec.detach()
    centred = x - b_dec
    pi_gate = centred @ w_gate.T + model.b_enc.detach()
    w_mag = torch.exp(model.r_mag.detach())[:, None] * w_gate
    pi_mag = centred @ w_mag.T + model.b_mag.detach()
    z = (pi_gate > 0).double() * torch.clamp(pi_mag, min=0)
    x_hat = z @ w_dec.T + b_dec
    x_frozen = torch.clamp(pi_gate, min=0) @ w_dec.T + b_dec
    per_example = (
        ((x - x_hat) ** 2).sum(1)
        + model.l1_weight * torch.clamp(pi_gate, min=0).sum(1)
        + ((x - x_frozen) ** 2).sum(1)
    )
    return per_example.mean()


def test_objective_matches_the_paper_written_out() -> None:
    model = GatedSAE(5, 8, l1_weight=0.3).double()
    with torch.no_grad():
        model.r_mag.uniform_(-0.5, 0.5)
        model.b_mag.uniform_(-0.2, 0.2)
        model.b_enc.uniform_(-0.2, 0.2)
        model.b_dec.uniform_(-0.2, 0.2)
    x = torch.randn(6, 5, dtype=torch.float64)
    result = model.compute_loss(x, model(x))
    torch.testing.assert_close(result.objective.detach(), reference_objective(model, x))


def test_the_auxiliary_term_trains_the_gate_but_not_the_decoder() -> None:
    """With the code forced to zero only the L1 and frozen-decoder terms reach the gate."""
    model = GatedSAE(5, 8, l1_weight=0.0).double()
    x = torch.randn(6, 5, dtype=torch.float64)
    gate, magnitude = model.gate_and_magnitude(x, model.dictionary())
    zeros = torch.zeros_like(gate)
    output = GatedOutput(
        x_hat=model.decode_linear(zeros, model.W_dec.detach()),
        z=zeros,
        pre_activations=gate,
        magnitudes=magnitude,
    )
    model.compute_loss(x, output).objective.backward()
    assert model.W_dec.grad is None
    assert model.W_enc is not None and model.W_enc.grad is not None
    assert bool(model.W_enc.grad.abs().sum() > 0)


def test_gate_path_and_magnitude_path_both_learn() -> None:
    model = GatedSAE(5, 8)
    x = torch.randn(16, 5)
    model.compute_loss(x, model(x)).objective.backward()
    for name in ("W_enc", "b_enc", "r_mag", "b_mag", "W_dec", "b_dec"):
        grad = getattr(model, name).grad
        assert grad is not None and bool(grad.abs().sum() > 0), name


def test_gradcheck_of_the_objective_in_the_input() -> None:
    model = GatedSAE(4, 6).double()
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: model.compute_loss(v, model(v)).objective, (x,))


def test_code_is_gate_times_relu_magnitude() -> None:
    model = GatedSAE(4, 6)
    output = model(torch.randn(5, 4))
    expected = (output.pre_activations > 0).float() * output.magnitudes.relu()
    torch.testing.assert_close(output.z, expected)
