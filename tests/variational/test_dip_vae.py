"""DIP-VAE I and II (Kumar et al. 2018)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyautoencoder.variational import DIPVAE


def _model(**kwargs: object) -> DIPVAE:
    encoder = nn.Sequential(nn.Linear(6, 16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 6))
    model = DIPVAE(encoder, decoder, 3, **kwargs)  # type: ignore[arg-type]
    model.build(torch.zeros(1, 6))
    return model


def _data(n: int = 64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(5)
    return torch.randn(n, 3, generator=gen) @ torch.randn(3, 6, generator=gen)


def _reference_penalty(
    mu: torch.Tensor, log_var: torch.Tensor, variant: str, lambda_od: float, lambda_d: float
) -> float:
    """Kumar et al. eqs. 7-9, entry by entry with Python loops (population covariance)."""
    mu, log_var = mu.detach(), log_var.detach()
    batch, dim = mu.shape
    means = [sum(float(mu[b, i]) for b in range(batch)) / batch for i in range(dim)]
    penalty = 0.0
    for i in range(dim):
        for j in range(dim):
            cov = (
                sum(
                    (float(mu[b, i]) - means[i]) * (float(mu[b, j]) - means[j])
                    for b in range(batch)
                )
                / batch
            )
            if variant == "ii" and i == j:
                cov += sum(float(log_var[b, i].exp()) for b in range(batch)) / batch
            penalty += lambda_d * (cov - 1.0) ** 2 if i == j else lambda_od * cov**2
    return penalty


@pytest.mark.parametrize("variant", ["i", "ii"])
def test_dip_loss_equals_float64_recomputation(variant: str) -> None:
    torch.manual_seed(0)
    model = _model(variant=variant, lambda_od=3.0, lambda_d=7.0).double()
    x = _data(9).double()
    out = model(x, S=2)
    result = model.compute_loss(x, out, beta=2.0)
    penalty = _reference_penalty(out.mu, out.log_var, variant, 3.0, 7.0)
    log_lik = (-0.5 * (x.unsqueeze(1) - out.x_hat) ** 2).sum(-1).mean()
    kl = 0.5 * (out.mu**2 + out.log_var.exp() - 1 - out.log_var).sum(-1).mean()
    expected = -(log_lik - 2.0 * kl) + penalty
    torch.testing.assert_close(result.objective, expected)
    torch.testing.assert_close(result.diagnostics["dip_penalty"], torch.tensor(penalty).double())
    torch.testing.assert_close(result.diagnostics["elbo"], (log_lik - 2.0 * kl).detach())


def test_default_diagonal_weights_follow_the_paper() -> None:
    assert _model(variant="i", lambda_od=2.0).lambda_d == 20.0
    assert _model(variant="ii", lambda_od=2.0).lambda_d == 2.0


@pytest.mark.parametrize("variant", ["i", "ii"])
def test_gradients_reach_every_parameter_and_loss_falls(variant: str) -> None:
    torch.manual_seed(0)
    model = _model(variant=variant)
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


def test_compiles_with_fullgraph() -> None:
    model = _model(variant="ii")
    x = _data(8)

    def step(inputs: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(inputs, model(inputs)).objective

    loss = torch.compile(step, fullgraph=True, backend="eager")(x)
    loss.backward()
    assert torch.isfinite(loss)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "iii"}, "variant must be 'i' or 'ii'"),
        ({"lambda_od": -1.0}, "lambda_od must be finite and >= 0"),
        ({"lambda_d": -2.0}, "lambda_d must be finite and >= 0"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DIPVAE(nn.Linear(6, 4), nn.Linear(3, 6), 3, **kwargs)  # type: ignore[arg-type]


def test_single_input_batch_is_rejected() -> None:
    model = _model()
    x = _data(1)
    with pytest.raises(ValueError, match="needs B >= 2"):
        model.compute_loss(x, model(x))
