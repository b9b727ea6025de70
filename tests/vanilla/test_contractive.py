"""ContractiveAE: exact Jacobian norm for any encoder, closed form for a sigmoid layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pyautoencoder.vanilla._contractive as contractive
from pyautoencoder.registry import get_model_entry
from pyautoencoder.vanilla import ContractiveAE
from pyautoencoder.vanilla._contractive import sigmoid_layer_jacobian_frobenius_sq
from pyautoencoder.vanilla._jacobian import jacobian_frobenius_sq


def _explicit_jacobian_norm(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Reference: the full per-example Jacobian from torch.autograd.functional.jacobian."""
    norms = []
    for example in x:
        jac = torch.autograd.functional.jacobian(
            lambda t: encoder(t.unsqueeze(0)).squeeze(0), example, create_graph=True
        )
        norms.append(jac.square().sum())
    return torch.stack(norms)


def test_autograd_norm_equals_the_explicit_jacobian_for_an_mlp() -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    z, norm = jacobian_frobenius_sq(encoder, x, mode="reverse")
    torch.testing.assert_close(z, encoder(x))
    torch.testing.assert_close(norm, _explicit_jacobian_norm(encoder, x))


def test_autograd_norm_for_image_inputs_and_feature_map_codes() -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Softplus()).double()  # [B, 2, 3, 3] codes
    x = torch.randn(3, 1, 5, 5, dtype=torch.float64)
    _, norm = jacobian_frobenius_sq(encoder, x, mode="reverse")
    torch.testing.assert_close(norm, _explicit_jacobian_norm(encoder, x))


def test_sigmoid_closed_form_and_autograd_agree_with_their_gradients() -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.Sigmoid()).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    z, exact = jacobian_frobenius_sq(encoder, x, mode="reverse")
    closed = sigmoid_layer_jacobian_frobenius_sq(z, encoder[1].weight)
    torch.testing.assert_close(closed, exact)
    params = list(encoder.parameters())
    grads_exact = torch.autograd.grad(exact.sum(), params, retain_graph=True)
    grads_closed = torch.autograd.grad(closed.sum(), params)
    for a, b in zip(grads_exact, grads_closed):
        torch.testing.assert_close(a, b)


def test_gradient_w_r_t_parameters_matches_create_graph_reference() -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(4, 6), nn.ELU(), nn.Linear(6, 2)).double()
    x = torch.randn(3, 4, dtype=torch.float64)
    _, norm = jacobian_frobenius_sq(encoder, x, mode="reverse")
    leaf = x.clone().requires_grad_(True)
    z = encoder(leaf)
    reference = sum(
        torch.autograd.grad(z[:, u].sum(), leaf, create_graph=True)[0].square().sum(dim=1)
        for u in range(2)
    )
    params = list(encoder.parameters())
    got = torch.autograd.grad(norm.mean(), params, allow_unused=True, materialize_grads=True)
    want = torch.autograd.grad(reference.mean(), params, allow_unused=True, materialize_grads=True)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_auto_uses_the_closed_form_for_a_sigmoid_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("the autograd path was used")

    monkeypatch.setattr(contractive, "jacobian_frobenius_sq", fail)
    model = ContractiveAE(nn.Sequential(nn.LazyLinear(3), nn.Sigmoid()), nn.LazyLinear(6))
    out = model(torch.randn(4, 6))  # lazy layer: materialised before its weight is read
    assert out.jacobian_norm_sq.shape == (4,)


def test_loss_equals_an_independent_recomputation() -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    decoder = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 6)).double()
    model = ContractiveAE(encoder, decoder, contraction_weight=0.7)
    x = torch.randn(5, 6, dtype=torch.float64)
    result = model.compute_loss(x, model(x))
    nll = 0.5 * (x - decoder(encoder(x))).square().sum(dim=1).mean()
    penalty = _explicit_jacobian_norm(encoder, x).mean()
    torch.testing.assert_close(result.objective, nll + 0.7 * penalty)
    torch.testing.assert_close(result.diagnostics["jacobian_norm_sq"], penalty.detach())


def test_training_lowers_the_loss_and_the_penalty_contracts_the_code() -> None:
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))

    def trained_norm(weight: float) -> float:
        torch.manual_seed(0)
        encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
        decoder = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 6))
        model = ContractiveAE(encoder, decoder, contraction_weight=weight)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        losses = []
        for _ in range(100):
            result = model.compute_loss(x, model(x))
            optimizer.zero_grad()
            result.objective.backward()
            optimizer.step()
            losses.append(float(result.objective.detach()))
        assert losses[-1] < 0.8 * losses[0]  # the loss falls
        return float(result.diagnostics["jacobian_norm_sq"])

    assert trained_norm(1.0) < 0.5 * trained_norm(0.0)


@pytest.mark.parametrize("jacobian", ["autograd", "sigmoid_layer"])
def test_compiles_with_fullgraph(jacobian: str) -> None:
    torch.manual_seed(0)
    model = ContractiveAE(
        nn.Sequential(nn.Linear(6, 3), nn.Sigmoid()), nn.Linear(3, 6), jacobian=jacobian
    )
    x = torch.randn(5, 6)
    step = torch.compile(
        lambda x: model.compute_loss(x, model(x)).objective, fullgraph=True, backend="eager"
    )
    torch.testing.assert_close(step(x), model.compute_loss(x, model(x)).objective)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sigmoid_layer"):
        ContractiveAE(nn.Linear(6, 3), nn.Linear(3, 6), jacobian="sigmoid_layer")
    with pytest.raises(ValueError, match="jacobian must be"):
        ContractiveAE(nn.Linear(6, 3), nn.Linear(3, 6), jacobian="finite_differences")
    with pytest.raises(ValueError, match="contraction_weight"):
        ContractiveAE(nn.Linear(6, 3), nn.Linear(3, 6), contraction_weight=-0.1)


def test_registered_for_the_generic_factory() -> None:
    entry = get_model_entry("contractive_ae")
    assert entry.cls is ContractiveAE and entry.latent == "code" and entry.latent_arg is None


@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.Tanh], ids=["sigmoid_layer", "autograd"])
def test_an_empty_batch_is_a_value_error(activation: type[nn.Module]) -> None:
    """docs/design.md: an empty batch (B = 0) gets a ValueError, not a reshape RuntimeError."""
    model = ContractiveAE(nn.Sequential(nn.Linear(4, 3), activation()), nn.Linear(3, 4))
    with pytest.raises(ValueError, match=r"at least one example.*\(0, 4\)"):
        model(torch.zeros(0, 4))
