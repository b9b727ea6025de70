"""beta-TCVAE: the MI / TC / dimension-wise KL decomposition (Chen et al. 2018)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D
from torch import nn

from pyautoencoder.variational import VAE, BetaTCVAE


def _model(**kwargs: object) -> BetaTCVAE:
    encoder = nn.Sequential(nn.Linear(6, 16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 6))
    model = BetaTCVAE(encoder, decoder, 3, **kwargs)  # type: ignore[arg-type]
    model.build(torch.zeros(1, 6))
    return model


def _data(n: int = 64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(4)
    return torch.randn(n, 3, generator=gen) @ torch.randn(3, 6, generator=gen)


def _log_normal(z: float, mu: float, log_var: float) -> float:
    return -0.5 * (math.log(2 * math.pi) + log_var + (z - mu) ** 2 / math.exp(log_var))


def _reference_terms(
    z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor, n_data: int, sampling: str
) -> tuple[float, float, float]:
    """Chen et al. eqs. 2, 4 and Appendix C.2 with Python loops over the batch, S = 1."""
    z, mu, log_var = z.detach(), mu.detach(), log_var.detach()
    batch, dim = mu.shape
    mi = tc = dwkl = 0.0
    for i in range(batch):
        zi = [float(v) for v in z[i, 0]]

        def weight(j: int, i: int = i) -> float:
            if sampling == "mws":
                return 1.0 / (n_data * batch)
            if j == i:
                return 1.0 / n_data
            if j == (i + 1) % batch:
                return (n_data - batch + 1) / (n_data * (batch - 1))
            return 1.0 / (batch - 1)

        def cond(j: int, dims: range, zi: list[float] = zi) -> float:
            return sum(_log_normal(zi[d], float(mu[j, d]), float(log_var[j, d])) for d in dims)

        log_q_own = cond(i, range(dim))
        log_qz = math.log(sum(weight(j) * math.exp(cond(j, range(dim))) for j in range(batch)))
        log_marg = sum(
            math.log(sum(weight(j) * math.exp(cond(j, range(d, d + 1))) for j in range(batch)))
            for d in range(dim)
        )
        log_prior = sum(_log_normal(v, 0.0, 0.0) for v in zi)
        mi += (log_q_own - log_qz) / batch
        tc += (log_qz - log_marg) / batch
        dwkl += (log_marg - log_prior) / batch
    return mi, tc, dwkl


@pytest.mark.parametrize("sampling", ["mws", "mss"])
def test_beta_tcvae_loss_equals_float64_recomputation(sampling: str) -> None:
    torch.manual_seed(0)
    model = _model(alpha=0.5, beta=4.0, gamma=2.0, dataset_size=20, sampling=sampling).double()
    x = _data(6).double()
    out = model(x)
    result = model.compute_loss(x, out)
    mi, tc, dwkl = _reference_terms(out.z, out.mu, out.log_var, 20, sampling)
    log_lik = float((-0.5 * (x.unsqueeze(1) - out.x_hat.detach()) ** 2).sum(-1).mean())
    expected = log_lik - 0.5 * mi - 4.0 * tc - 2.0 * dwkl
    diag = result.diagnostics
    assert math.isclose(float(diag["mutual_information"]), mi, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(float(diag["total_correlation"]), tc, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(float(diag["dimension_wise_kl"]), dwkl, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(float(-result.objective.detach()), expected, rel_tol=1e-9)
    assert math.isclose(float(diag["elbo"]), expected, rel_tol=1e-9)
    kl = (
        D.kl_divergence(D.Normal(out.mu, (0.5 * out.log_var).exp()), D.Normal(0.0, 1.0))
        .sum(-1)
        .mean()
    )
    torch.testing.assert_close(diag["kl_divergence"], kl.detach())


def test_unit_weights_give_the_monte_carlo_elbo() -> None:
    torch.manual_seed(0)
    model = _model(alpha=1.0, beta=1.0, gamma=1.0, dataset_size=50, sampling="mss").double()
    vae = VAE(model.encoder, model.decoder, 3, kl_estimator="monte_carlo").double()
    vae.sampling_layer = model.sampling_layer
    x = _data(8).double()
    out = model(x, S=3)
    torch.testing.assert_close(
        model.compute_loss(x, out).objective, vae.compute_loss(x, out).objective
    )


def test_gradients_reach_every_parameter_and_loss_falls() -> None:
    torch.manual_seed(0)
    model = _model(dataset_size=64, sampling="mss")
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
    model = _model(dataset_size=100, sampling="mss")
    x = _data(8)

    def step(inputs: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(inputs, model(inputs)).objective

    loss = torch.compile(step, fullgraph=True, backend="eager")(x)
    loss.backward()
    assert torch.isfinite(loss)


def test_sample_and_reconstruct_shapes() -> None:
    model = _model()
    assert model.sample(4).shape == (4, 6)
    assert model.reconstruct(_data(3)).shape == (3, 6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beta": -1.0}, "beta must be finite and >= 0"),
        ({"alpha": float("nan")}, "alpha must be finite and >= 0"),
        ({"sampling": "mss"}, "sampling='mss' needs dataset_size"),
        ({"sampling": "stratified"}, "sampling must be 'mws' or 'mss'"),
        ({"dataset_size": 0}, "dataset_size must be a positive int"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BetaTCVAE(nn.Linear(6, 4), nn.Linear(3, 6), 3, **kwargs)  # type: ignore[arg-type]


def test_batch_errors() -> None:
    model = _model(dataset_size=4, sampling="mss")
    x = _data(6)
    with pytest.raises(ValueError, match=r"dataset_size must be >= the batch size 6, got 4"):
        model.compute_loss(x, model(x))
    one = _data(1)
    with pytest.raises(ValueError, match="needs a batch of at least 2 inputs"):
        model.compute_loss(one, model(one))
