"""Flow posteriors: log-determinants against autograd Jacobians, the IAF's ordering, densities."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from pyautoencoder import evaluation
from pyautoencoder.distributions import (
    FlowPosterior,
    IAFStep,
    InverseAutoregressiveFlow,
    PlanarFlow,
    PlanarStep,
    RadialFlow,
    RadialStep,
)
from pyautoencoder.distributions._flows import FlowStep
from pyautoencoder.variational import VAE

DIM = 4


def _steps() -> list[FlowStep]:
    torch.manual_seed(0)
    return [
        PlanarStep(DIM),
        RadialStep(DIM),
        IAFStep(DIM, 16, reverse=False).double(),
        IAFStep(DIM, 16, reverse=True).double(),
    ]


@pytest.mark.parametrize("index", range(4), ids=["planar", "radial", "iaf", "iaf-reversed"])
def test_flow_step_log_det_equals_autograd_jacobian(index: int) -> None:
    step = _steps()[index]
    gen = torch.Generator().manual_seed(index)
    params = torch.randn(step.num_params, dtype=torch.float64, generator=gen)
    for _ in range(3):
        z = torch.randn(DIM, dtype=torch.float64, generator=gen) * 2.0
        jac = jacobian(lambda v: step(v, params)[0], z)  # [D, D]
        sign, expected = torch.linalg.slogdet(jac)
        assert sign > 0  # orientation-preserving, as the parameterisations promise
        torch.testing.assert_close(step(z, params)[1], expected, rtol=1e-10, atol=1e-10)


def test_iaf_step_jacobian_is_triangular_with_the_gates_on_the_diagonal() -> None:
    forward, backward = _steps()[2:]
    gen = torch.Generator().manual_seed(5)
    context = torch.randn(16, dtype=torch.float64, generator=gen)
    z = torch.randn(DIM, dtype=torch.float64, generator=gen)
    jac = jacobian(lambda v: forward(v, context)[0], z)
    torch.testing.assert_close(jac, torch.tril(jac), rtol=0, atol=0)  # z_d needs z_{<d} only
    assert torch.tril(jac, -1).abs().sum() > 0  # and does use them
    jac_reversed = jacobian(lambda v: backward(v, context)[0], z)
    torch.testing.assert_close(jac_reversed, torch.triu(jac_reversed), rtol=0, atol=0)
    # log|det| of a triangular map = sum of the log diagonal
    torch.testing.assert_close(forward(z, context)[1], jac.diagonal().log().sum())


@pytest.mark.parametrize("cls", [PlanarFlow, RadialFlow, InverseAutoregressiveFlow])
def test_stacked_flow_log_q_equals_change_of_variables_by_autograd(
    cls: type[FlowPosterior],
) -> None:
    torch.manual_seed(0)
    posterior = cls(num_flows=3)
    posterior.bind(DIM)
    posterior.double()
    h = torch.randn(2, 6, dtype=torch.float64)
    mu, log_var = torch.randn(2, DIM, dtype=torch.float64), torch.randn(2, DIM).double() * 0.3
    posterior.rsample(h, mu, log_var)  # materialise the lazy head
    posterior.double()
    torch.manual_seed(1)
    draw = posterior.rsample(h, mu, log_var, num_samples=1)
    torch.manual_seed(1)
    eps = torch.randn(2, DIM, dtype=torch.float64)
    z0 = mu + torch.exp(0.5 * log_var) * eps
    params = posterior.step_params(h)
    base = torch.distributions.Normal(mu, torch.exp(0.5 * log_var)).log_prob(z0).sum(-1)
    for b in range(2):
        row_params = [p[b] for p in params]
        jac = jacobian(lambda v, rp=row_params: posterior.push(v, rp)[0], z0[b])
        expected = base[b] - torch.linalg.slogdet(jac)[1]
        torch.testing.assert_close(draw.log_q[b, 0], expected, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(draw.z[b, 0], posterior.push(z0[b], row_params)[0])


@pytest.mark.parametrize("index", range(4), ids=["planar", "radial", "iaf", "iaf-reversed"])
def test_flow_step_gradcheck(index: int) -> None:
    step = _steps()[index]
    gen = torch.Generator().manual_seed(10 + index)
    z = torch.randn(3, DIM, dtype=torch.float64, generator=gen, requires_grad=True)
    params = torch.randn(3, step.num_params, dtype=torch.float64, generator=gen)
    params.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: step(a, b), (z, params))


def _flow_vae(posterior: str) -> VAE:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.Tanh())
    model = VAE(encoder, nn.Linear(3, 6), 3, posterior=posterior, likelihood="gaussian")
    model.build(torch.zeros(2, 6))
    return model


@pytest.mark.parametrize("posterior", ["planar:2", "iaf:2"])
def test_importance_sampled_log_px_of_a_flow_vae_is_at_least_its_elbo(posterior: str) -> None:
    model = _flow_vae(posterior)
    x = torch.randn(6, 6)
    bound = evaluation.log_likelihood_estimate(model, x, num_samples=64, seed=0)
    elbo = evaluation.elbo(model, x, num_samples=64, seed=0)
    # E[IWAE_K] >= ELBO (Burda et al. 2016, Theorem 1); both are estimates, hence the slack.
    slack = 3 * float((bound.standard_error**2 + elbo.standard_error**2) ** 0.5)
    assert float(bound.mean) >= float(elbo.mean) - slack
    assert torch.isfinite(bound.values).all()


def test_flow_distribution_log_prob_at_its_samples_matches_the_training_path() -> None:
    model = _flow_vae("radial:2").double()
    x = torch.randn(3, 6, dtype=torch.float64)
    with torch.no_grad():
        features = model.encoder(x)
        mu, log_var = model.sampling_layer.get_params(features)
        q = model.posterior(x)
        z = q.rsample((5,))  # [S, B, D]
        log_q = q.log_prob(z)  # [S, B]
        # The same points through the posterior's own path (z0 recovered from the base draw):
        params = model.latent_posterior.step_params(features)
        z0 = q.transforms[0]._cached_x_y[0]  # type: ignore[attr-defined]
        base = torch.distributions.Normal(mu, torch.exp(0.5 * log_var)).log_prob(z0).sum(-1)
        pushed, log_det = model.latent_posterior.push(z0, params)
    torch.testing.assert_close(pushed, z)
    torch.testing.assert_close(log_q, base - log_det)
    with pytest.raises(NotImplementedError, match="only available at the samples"):
        q.log_prob(z.clone())


def test_flow_sample_false_is_the_image_of_the_base_mean() -> None:
    model = _flow_vae("iaf:2")
    x = torch.randn(3, 6)
    out = model(x, sample=False)
    features = model.encoder(x)
    mu, _ = model.sampling_layer.get_params(features)
    expected, _ = model.latent_posterior.push(
        mu.unsqueeze(1), [p.unsqueeze(1) for p in model.latent_posterior.step_params(features)]
    )
    torch.testing.assert_close(out.z, expected)
    torch.testing.assert_close(model.encode(x).z, expected.detach())


def test_flow_posterior_refuses_detached_log_prob() -> None:
    model = _flow_vae("planar:2")
    out = model(torch.randn(2, 6), S=3)
    assert model.posterior_log_prob(out).shape == (2, 3)
    with pytest.raises(ValueError, match="DReG"):
        model.posterior_log_prob(out, detach_params=True)


def test_the_docs_flow_in_one_module_works_by_name_with_a_monte_carlo_kl() -> None:
    """The docs' flow (docs/objectives.md includes ``affine_flow.py``) plugs in by name."""
    from pyautoencoder.distributions import available_posteriors
    from pyautoencoder.distributions._posteriors import POSTERIORS

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        affine_flow = importlib.import_module("affine_flow")
        assert "affine" in available_posteriors()
        model = _flow_vae("affine:3")
        assert isinstance(model.latent_posterior, affine_flow.AffineFlow)
        out = model(torch.randn(4, 6), S=2)
        expected = (out.log_q - model.latent_prior.log_prob(out.z)).mean(1, keepdim=True)
        torch.testing.assert_close(model.kl_per_dim(out), expected)
        step, params = affine_flow.AffineStep(DIM), torch.randn(2 * DIM, dtype=torch.float64)
        z = torch.randn(DIM, dtype=torch.float64)
        jac = jacobian(lambda v: step(v, params)[0], z)
        torch.testing.assert_close(step(z, params)[1], torch.linalg.slogdet(jac)[1])
    finally:
        sys.path.remove(str(Path(__file__).parent))
        sys.modules.pop("affine_flow", None)
        POSTERIORS.unregister("affine")
