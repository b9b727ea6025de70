"""InfoVAE / MMD-VAE and WAE-MMD."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyautoencoder.loss._mmd import mmd_unbiased
from pyautoencoder.variational import WAE, InfoVAE


def _model(cls: type, **kwargs: object) -> InfoVAE | WAE:
    encoder = nn.Sequential(nn.Linear(6, 16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 6))
    model = cls(encoder, decoder, 2, **kwargs)
    model.build(torch.zeros(1, 6))
    return model


def _data(n: int = 64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(6)
    return torch.randn(n, 2, generator=gen) @ torch.randn(2, 6, generator=gen)


def _prior_draws_of_next_loss(model: nn.Module, x: torch.Tensor, seed: int) -> tuple:
    """Run forward, then the loss, recording the prior draws the loss makes (same RNG)."""
    torch.manual_seed(seed)
    out = model(x)
    state = torch.get_rng_state()
    prior_z = torch.randn(out.z.shape[0] * out.z.shape[1], out.z.shape[-1], dtype=out.z.dtype)
    torch.set_rng_state(state)
    return out, prior_z


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_info_vae_loss_equals_float64_recomputation(kernel: str) -> None:
    torch.manual_seed(0)
    model = _model(InfoVAE, alpha=0.25, lambda_=3.0, kernel=kernel).double()
    x = _data(7).double()
    out, prior_z = _prior_draws_of_next_loss(model, x, seed=1)
    result = model.compute_loss(x, out)
    log_lik = (-0.5 * (x.unsqueeze(1) - out.x_hat) ** 2).sum(-1).mean()
    kl = 0.5 * (out.mu**2 + out.log_var.exp() - 1 - out.log_var).sum(-1).mean()
    mmd = mmd_unbiased(out.z.reshape(-1, 2), prior_z, kernel)
    expected = log_lik - 0.75 * kl - 2.25 * mmd
    torch.testing.assert_close(-result.objective, expected)
    torch.testing.assert_close(result.diagnostics["mmd"], mmd.detach())
    torch.testing.assert_close(result.diagnostics["elbo"], (log_lik - kl).detach())


def test_wae_loss_equals_float64_recomputation() -> None:
    torch.manual_seed(0)
    model = _model(WAE, lambda_=5.0).double()
    x = _data(7).double()
    out, prior_z = _prior_draws_of_next_loss(model, x, seed=2)
    result = model.compute_loss(x, out)
    cost = (0.5 * (x.unsqueeze(1) - out.x_hat) ** 2).sum(-1).mean()
    expected = cost + 5.0 * mmd_unbiased(out.z.reshape(-1, 2), prior_z, "imq")
    torch.testing.assert_close(result.objective, expected)


@pytest.mark.parametrize("cls", [InfoVAE, WAE])
def test_gradients_reach_every_parameter_and_loss_falls(cls: type) -> None:
    torch.manual_seed(0)
    model = _model(cls)
    x = _data(64)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(80):
        optimizer.zero_grad()
        loss = model.compute_loss(x, model(x)).objective
        loss.backward()
        if step == 0:
            assert all(
                p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters()
            )
        optimizer.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])


def test_mmd_pulls_the_aggregate_posterior_to_the_prior() -> None:
    torch.manual_seed(0)
    model = _model(WAE, lambda_=100.0)
    x = _data(128) * 3
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        model.compute_loss(x, model(x)).objective.backward()
        optimizer.step()
    with torch.no_grad():
        codes = model(x).z.reshape(-1, 2)
    assert codes.mean(0).abs().max() < 0.3
    assert (codes.std(0) - 1).abs().max() < 0.3


@pytest.mark.parametrize("cls", [InfoVAE, WAE])
def test_compiles_with_fullgraph(cls: type) -> None:
    model = _model(cls)
    x = _data(8)

    def step(inputs: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(inputs, model(inputs)).objective

    loss = torch.compile(step, fullgraph=True, backend="eager")(x)
    loss.backward()
    assert torch.isfinite(loss)


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (InfoVAE, {"alpha": 1.5}, "alpha <= 1 and alpha \\+ lambda_ >= 1"),
        (InfoVAE, {"alpha": -1.0, "lambda_": 1.0}, "alpha <= 1 and alpha \\+ lambda_ >= 1"),
        (InfoVAE, {"kernel": "rbff"}, "Unknown kernel 'rbff'.*did you mean 'rbf'"),
        (WAE, {"lambda_": -1.0}, "lambda_ must be finite and >= 0"),
    ],
)
def test_bad_arguments(cls: type, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cls(nn.Linear(6, 4), nn.Linear(2, 6), 2, **kwargs)


def test_single_latent_sample_is_rejected() -> None:
    model = _model(WAE)
    x = _data(1)
    with pytest.raises(ValueError, match=r"needs at least 2 latent samples \(B \* S >= 2\)"):
        model.compute_loss(x, model(x))
    result = model.compute_loss(x, model(x, S=2))  # two samples of one input are enough
    assert torch.isfinite(result.objective)
