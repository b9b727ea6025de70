"""SparseAE: the L1 and KL-to-rho penalties against a float64 recomputation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pyautoencoder.loss import log_likelihood
from pyautoencoder.registry import get_model_entry
from pyautoencoder.vanilla import SparseAE
from pyautoencoder.vanilla._sparse import log_mean_activation, sparsity_kl


def _model(**kwargs: object) -> SparseAE:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 5))
    decoder = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 6))
    return SparseAE(encoder, decoder, **kwargs).double()  # type: ignore[arg-type]


def _bernoulli_kl(rho: float, rho_hat: torch.Tensor) -> torch.Tensor:
    return (rho * math.log(rho) - rho * rho_hat.log()) + (
        (1 - rho) * math.log(1 - rho) - (1 - rho) * (1 - rho_hat).log()
    )


def test_loss_equals_an_independent_recomputation() -> None:
    model = _model(sparsity_weight=2.0, target_sparsity=0.1, l1_weight=0.3)
    x = torch.randn(9, 6, dtype=torch.float64)
    out = model(x)
    result = model.compute_loss(x, out)
    z = model.encoder(x)
    rho_hat = torch.sigmoid(z).mean(dim=0)  # [5]
    kl = _bernoulli_kl(0.1, rho_hat).sum()
    l1 = z.abs().sum(dim=1).mean()
    nll = 0.5 * (x - model.decoder(z)).square().sum(dim=1).mean()
    torch.testing.assert_close(result.objective, nll + 2.0 * kl + 0.3 * l1)
    torch.testing.assert_close(result.diagnostics["sparsity_kl"], kl.detach())
    torch.testing.assert_close(result.diagnostics["l1_penalty"], l1.detach())
    torch.testing.assert_close(result.diagnostics["mean_activation"], rho_hat.mean().detach())


def test_kl_matches_torch_distributions_and_vanishes_at_the_target() -> None:
    z = torch.randn(7, 4, dtype=torch.float64)
    rho_hat = torch.sigmoid(z).mean(dim=0)
    reference = torch.distributions.kl_divergence(
        torch.distributions.Bernoulli(probs=torch.full_like(rho_hat, 0.05)),
        torch.distributions.Bernoulli(probs=rho_hat),
    ).sum()
    torch.testing.assert_close(sparsity_kl(*log_mean_activation(z), 0.05), reference)
    at_target = torch.full((3, 4), math.log(0.05 / 0.95), dtype=torch.float64)  # sigmoid = 0.05
    assert float(sparsity_kl(*log_mean_activation(at_target), 0.05)) == pytest.approx(0, abs=1e-12)


def test_kl_is_finite_for_saturated_units() -> None:
    z = torch.tensor([[200.0, -200.0], [150.0, -300.0]], dtype=torch.float64, requires_grad=True)
    kl = sparsity_kl(*log_mean_activation(z), 0.05)
    # rho_hat -> 1 for unit 0: log(1 - rho_hat) = logsumexp(-200, -150) - log 2
    log_c0 = torch.logsumexp(torch.tensor([-200.0, -150.0], dtype=torch.float64), 0) - math.log(2)
    log_r1 = torch.logsumexp(torch.tensor([-200.0, -300.0], dtype=torch.float64), 0) - math.log(2)
    expected = (
        0.05 * math.log(0.05)
        + 0.95 * math.log(0.95)
        - 0.95 * float(log_c0)  # unit 0
        + 0.05 * math.log(0.05)
        + 0.95 * math.log(0.95)
        - 0.05 * float(log_r1)  # unit 1
    )
    assert float(kl.detach()) == pytest.approx(expected, rel=1e-6)
    (grad,) = torch.autograd.grad(kl, z)
    assert bool(torch.isfinite(grad).all())


def test_identity_activation_reads_activations_directly() -> None:
    torch.manual_seed(0)
    model = SparseAE(
        nn.Sequential(nn.Linear(6, 4), nn.Sigmoid()), nn.Linear(4, 6), activation="identity"
    )
    x = torch.randn(8, 6)
    out = model(x)
    rho_hat = out.z.mean(dim=0)
    torch.testing.assert_close(
        model.compute_loss(x, out).diagnostics["sparsity_kl"],
        _bernoulli_kl(0.05, rho_hat).sum().detach(),
    )
    out.z = out.z * 3  # outside [0, 1]
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        model.compute_loss(x, out)


def test_training_lowers_the_loss_and_moves_mean_activation_to_the_target() -> None:
    x = torch.randn(64, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    model = _model(sparsity_weight=5.0, target_sparsity=0.05)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    start = model.compute_loss(x, model(x))
    first = float(start.diagnostics["mean_activation"])
    for _ in range(200):
        result = model.compute_loss(x, model(x))
        optimizer.zero_grad()
        result.objective.backward()
        optimizer.step()
    last = model.compute_loss(x, model(x))
    assert abs(float(last.diagnostics["mean_activation"]) - 0.05) < 0.02 < abs(first - 0.05)
    assert float(last.objective.detach()) < 0.5 * float(start.objective.detach())


@pytest.mark.parametrize("likelihood", ["bernoulli", "laplace"])
def test_other_likelihoods(likelihood: str) -> None:
    model = _model(likelihood=likelihood)
    x = torch.rand(4, 6, dtype=torch.float64)
    out = model(x)
    result = model.compute_loss(x, out)
    log_lik = log_likelihood(x, out.x_hat, likelihood).sum(dim=1).mean()
    d = result.diagnostics
    torch.testing.assert_close(d["log_likelihood"], log_lik.detach())
    torch.testing.assert_close(result.objective.detach(), -log_lik.detach() + d["sparsity_kl"])


def test_compiles_with_fullgraph() -> None:
    model = _model(l1_weight=0.1)
    x = torch.randn(5, 6, dtype=torch.float64)
    step = torch.compile(
        lambda x: model.compute_loss(x, model(x)).objective, fullgraph=True, backend="eager"
    )
    torch.testing.assert_close(step(x), model.compute_loss(x, model(x)).objective)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="target_sparsity"):
        _model(target_sparsity=1.5)
    with pytest.raises(ValueError, match="sparsity_weight"):
        _model(sparsity_weight=-1.0)
    with pytest.raises(ValueError, match="activation"):
        _model(activation="relu")


def test_registered_for_the_generic_factory() -> None:
    entry = get_model_entry("sparse_ae")
    assert entry.cls is SparseAE and entry.latent == "code" and entry.latent_arg is None
