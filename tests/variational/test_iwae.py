"""IWAE: the K-sample bound, K = 1 equals the ELBO, DReG gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D
from torch import nn

from pyautoencoder.variational import IWAE, VAE


def _model(num_samples: int = 4, estimator: str = "iwae", x_dim: int = 6, latent: int = 2) -> IWAE:
    encoder = nn.Sequential(nn.Linear(x_dim, 16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(latent, 16), nn.Tanh(), nn.Linear(16, x_dim))
    model = IWAE(encoder, decoder, latent, num_samples=num_samples, gradient_estimator=estimator)  # type: ignore[arg-type]
    model.build(torch.zeros(1, x_dim))  # materialise the lazy heads (their init draws from the RNG)
    return model


def _data(n: int = 64, x_dim: int = 6) -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    latent = torch.randn(n, 2, generator=gen)
    mixing = torch.randn(2, x_dim, generator=gen)
    return latent @ mixing + 0.1 * torch.randn(n, x_dim, generator=gen)


def _reference_bound(x: torch.Tensor, out: object) -> torch.Tensor:
    """Burda et al. eq. 8 in float64 from torch.distributions, independent of the library."""
    x_hat, z, mu, log_var = out.x_hat, out.z, out.mu, out.log_var  # type: ignore[attr-defined]
    log_lik = (-0.5 * (x.unsqueeze(1) - x_hat) ** 2).sum(-1)  # 2.x "gaussian" likelihood
    log_prior = D.Normal(0.0, 1.0).log_prob(z).sum(-1)
    log_q = D.Normal(mu.unsqueeze(1), (0.5 * log_var).exp().unsqueeze(1)).log_prob(z).sum(-1)
    log_w = log_lik + log_prior - log_q
    return (torch.logsumexp(log_w, dim=1) - math.log(z.shape[1])).mean()


@pytest.mark.parametrize("estimator", ["iwae", "dreg"])
def test_iwae_loss_equals_float64_recomputation(estimator: str) -> None:
    torch.manual_seed(0)
    model = _model(num_samples=5, estimator=estimator).double()
    x = _data(8).double()
    out = model(x)
    assert out.z.shape == (8, 5, 2) and out.x_hat.shape == (8, 5, 6)
    result = model.compute_loss(x, out)
    expected = _reference_bound(x, out)
    torch.testing.assert_close(-result.objective, expected)
    torch.testing.assert_close(result.diagnostics["iwae_bound"], expected.detach())
    ess = result.diagnostics["effective_sample_size"]
    assert 1.0 <= float(ess) <= 5.0
    for value in result.diagnostics.values():
        assert value.dim() == 0 and not value.requires_grad


def test_iwae_bound_with_k1_equals_vae_elbo() -> None:
    torch.manual_seed(0)
    iwae = _model(num_samples=1).double()
    vae = VAE(iwae.encoder, iwae.decoder, 2, kl_estimator="monte_carlo").double()
    vae.sampling_layer = iwae.sampling_layer
    x = _data(8).double()
    out = iwae(x)
    iwae_loss = iwae.compute_loss(x, out).objective
    vae_loss = vae.compute_loss(x, out).objective
    torch.testing.assert_close(iwae_loss, vae_loss, rtol=0, atol=1e-12)


def test_iwae_bound_is_tighter_than_elbo_on_average() -> None:
    torch.manual_seed(0)
    model = _model(num_samples=50).double()
    x = _data(16).double()
    result = model.compute_loss(x, model(x))
    assert result.diagnostics["iwae_bound"] > result.diagnostics["elbo"]


def test_dreg_gives_the_same_bound_and_decoder_gradients() -> None:
    torch.manual_seed(0)
    plain = _model(estimator="iwae")
    dreg = _model(estimator="dreg")
    dreg.load_state_dict(plain.state_dict())
    x = _data(8)
    torch.manual_seed(1)
    out_plain = plain(x)
    torch.manual_seed(1)
    out_dreg = dreg(x)
    loss_plain = plain.compute_loss(x, out_plain).objective
    loss_dreg = dreg.compute_loss(x, out_dreg).objective
    torch.testing.assert_close(loss_dreg, loss_plain)
    loss_plain.backward()
    loss_dreg.backward()
    for (name, p1), p2 in zip(plain.named_parameters(), dreg.parameters()):
        assert p2.grad is not None and torch.isfinite(p2.grad).all(), name
        if name.startswith("decoder"):  # same weights sum_k w_k grad log w_k
            torch.testing.assert_close(p2.grad, p1.grad)


def _encoder_grad_samples(model: IWAE, x: torch.Tensor, repeats: int) -> torch.Tensor:
    grads = []
    for _ in range(repeats):
        model.zero_grad()
        model.compute_loss(x, model(x)).objective.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.sampling_layer.parameters()]))  # type: ignore[union-attr]
    return torch.stack(grads)


def test_dreg_encoder_gradients_have_lower_variance() -> None:
    torch.manual_seed(0)
    x = _data(4)
    plain = _model(num_samples=32, estimator="iwae")
    dreg = _model(num_samples=32, estimator="dreg")
    dreg.load_state_dict(plain.state_dict())
    torch.manual_seed(5)
    var_plain = _encoder_grad_samples(plain, x, 60).var(dim=0).sum()
    torch.manual_seed(5)
    var_dreg = _encoder_grad_samples(dreg, x, 60).var(dim=0).sum()
    assert var_dreg < 0.5 * var_plain, (float(var_dreg), float(var_plain))


def test_dreg_gradients_are_the_same_when_compiled() -> None:
    # The loss is compiled (the forward pass stays eager so both runs draw the same z).
    torch.manual_seed(0)
    model = _model(estimator="dreg")
    x = _data(8)
    compiled_loss = torch.compile(model.compute_loss, fullgraph=True, backend="eager")
    grads = []
    for loss_fn in (model.compute_loss, compiled_loss):
        model.zero_grad()
        torch.manual_seed(2)
        loss_fn(x, model(x)).objective.backward()
        grads.append([p.grad.clone() for p in model.parameters()])  # type: ignore[union-attr]
    for g_eager, g_compiled in zip(*grads):
        torch.testing.assert_close(g_compiled, g_eager)


def test_forward_and_loss_compile_with_fullgraph() -> None:
    model = _model(estimator="dreg")
    x = _data(8)

    def step(inputs: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(inputs, model(inputs)).objective

    loss = torch.compile(step, fullgraph=True, backend="eager")(x)
    loss.backward()
    assert torch.isfinite(loss)


@pytest.mark.parametrize("estimator", ["iwae", "dreg"])
def test_iwae_gradients_reach_every_parameter_and_loss_falls(estimator: str) -> None:
    torch.manual_seed(0)
    model = _model(num_samples=4, estimator=estimator)
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
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_iwae_sample_reconstruct_and_encode() -> None:
    model = _model(num_samples=3)
    x = _data(5)
    assert model.sample(7).shape == (7, 6)
    assert model.reconstruct(x).shape == (5, 6)
    assert model.encode(x).z.shape == (5, 1, 2)
    assert model(x, S=2).x_hat.shape == (5, 2, 6)
    assert model(x, sample=False).z.shape == (5, 1, 2)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_samples": 0}, ValueError, "num_samples must be >= 1"),
        ({"num_samples": 2.5}, TypeError, "num_samples must be an int >= 1"),
        ({"gradient_estimator": "drag"}, ValueError, "gradient_estimator must be 'iwae' or 'dreg'"),
        ({"prior": "mog"}, ValueError, "Unknown prior 'mog'"),
        ({"likelihood": "bernouli"}, ValueError, "did you mean 'bernoulli'"),
    ],
)
def test_iwae_bad_arguments(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        IWAE(nn.Linear(6, 4), nn.Linear(2, 6), 2, **kwargs)


def test_forward_with_s_none_draws_num_samples_as_in_2x() -> None:
    torch.manual_seed(0)
    model = IWAE(nn.Sequential(nn.Linear(5, 8), nn.Tanh()), nn.Linear(3, 5), 3, num_samples=4)
    x = torch.randn(2, 5)
    assert model(x, S=None).z.shape == (2, 4, 3)
    assert model(x, S=None, sample=False).z.shape == (2, 1, 3)
    vae = VAE(nn.Sequential(nn.Linear(5, 8), nn.Tanh()), nn.Linear(3, 5), 3)
    with pytest.raises(TypeError):
        vae(x, S=None)  # the contract's VAE still refuses it
