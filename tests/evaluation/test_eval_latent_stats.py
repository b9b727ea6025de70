"""Reconstruction error, active units and KL per dimension against direct computations."""

from __future__ import annotations

import pytest
import torch
from eval_models import LinearGaussianModel, make_linear_gaussian
from torch import nn

from pyautoencoder.evaluation import (
    active_units,
    elbo,
    kl_per_dimension,
    log_likelihood_estimate,
    reconstruction_error,
)
from pyautoencoder.loss import kl_divergence_diag_gaussian
from pyautoencoder.vanilla import AE
from pyautoencoder.variational import VAE


@pytest.fixture
def linear_gaussian() -> LinearGaussianModel:
    return make_linear_gaussian()


@pytest.fixture
def sigma() -> float:
    return 0.5


def _vae(likelihood: str = "gaussian", prior: str | None = None) -> VAE:
    torch.manual_seed(0)
    model = VAE(
        nn.Sequential(nn.Linear(6, 16), nn.Tanh()),
        nn.Linear(3, 6),
        latent_dim=3,
        likelihood=likelihood,
        prior=prior,
    )
    model.build(torch.zeros(2, 6))
    return model


def test_reconstruction_error_of_a_vae_decodes_the_posterior_mean() -> None:
    model = _vae()
    x = torch.randn(10, 6)
    result = reconstruction_error(model, x, batch_size=4)
    with torch.no_grad():
        mu, _ = model.sampling_layer.get_params(model.encoder(x))
        expected = 0.5 * (x - model.decoder(mu)).square().sum(dim=1)
    torch.testing.assert_close(result.values, expected.double(), rtol=1e-6, atol=1e-6)
    assert result.mean == pytest.approx(expected.mean().item(), rel=1e-6)


def test_reconstruction_error_uses_the_models_own_likelihood() -> None:
    model = _vae(likelihood="bernoulli")
    x = torch.rand(5, 6).round()
    result = reconstruction_error(model, x)
    with torch.no_grad():
        mu, _ = model.sampling_layer.get_params(model.encoder(x))
        logits = model.decoder(mu)
    expected = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    torch.testing.assert_close(result.values, expected.double(), rtol=1e-6, atol=1e-6)


def test_reconstruction_error_of_a_deterministic_autoencoder() -> None:
    torch.manual_seed(0)
    ae = AE(nn.Linear(4, 2), nn.Linear(2, 4))
    x = torch.randn(7, 4)
    result = reconstruction_error(ae, x)
    with torch.no_grad():
        expected = 0.5 * (x - ae(x).x_hat).square().sum(dim=1)
    torch.testing.assert_close(result.values, expected.double(), rtol=1e-6, atol=1e-6)


def test_active_units_counts_dimensions_whose_posterior_mean_varies() -> None:
    model = make_linear_gaussian(latent_dim=3, data_dim=4)
    with torch.no_grad():
        model.A[1].zero_()  # dimension 1 ignores x: posterior mean constant, inactive
        model.A[2].mul_(0.01)  # dimension 2 barely reacts: variance ~1e-4, inactive
    x = torch.randn(50, 4, dtype=torch.float64)
    result = active_units(model, x, batch_size=7)
    with torch.no_grad():
        expected = (x @ model.A.T + model.c).var(dim=0)  # unbiased, one pass over all of x
    torch.testing.assert_close(result.variances, expected, rtol=1e-10, atol=1e-14)
    assert result.active.tolist() == [True, False, False]
    assert result.num_active == 1
    assert active_units(model, x, threshold=1e-6).num_active == 2


def test_active_units_rejects_a_single_example(linear_gaussian: LinearGaussianModel) -> None:
    with pytest.raises(ValueError, match="at least 2 examples"):
        active_units(linear_gaussian, torch.randn(1, 3, dtype=torch.float64))


def test_kl_per_dimension_matches_the_closed_form_and_sums_to_the_kl() -> None:
    model = _vae()
    x = torch.randn(9, 6)
    per_dim = kl_per_dimension(model, x, batch_size=4)
    with torch.no_grad():
        mu, log_var = model.sampling_layer.get_params(model.encoder(x))
    expected = kl_divergence_diag_gaussian(mu, log_var, reduce_sum=False).mean(dim=0)
    torch.testing.assert_close(per_dim, expected.double(), rtol=1e-5, atol=1e-7)
    total = elbo(model, x, 1, seed=0).kl.mean().item()
    assert per_dim.sum().item() == pytest.approx(total, rel=1e-5)


def test_kl_per_dimension_needs_a_factorised_prior() -> None:
    model = _vae(prior="mixture_of_gaussians")
    with pytest.raises(TypeError, match="factorised over latent dimensions"):
        kl_per_dimension(model, torch.randn(3, 6))


def test_estimators_work_with_a_mixture_prior() -> None:
    # No closed-form KL: the ELBO falls back to the Monte Carlo KL of its samples.
    model = _vae(prior="mixture_of_gaussians")
    x = torch.randn(8, 6)
    bound = elbo(model, x, 200, seed=0)
    estimate = log_likelihood_estimate(model, x, 200, seed=0)
    assert torch.all(torch.isfinite(bound.kl))
    assert estimate.mean > bound.mean
