"""Importance-sampled log p(x) and the ELBO against a linear-Gaussian model's closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from eval_models import (
    FixedVarianceGaussian,
    LinearGaussianModel,
    make_linear_gaussian,
    sample_data,
)
from torch import distributions as D
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from pyautoencoder.evaluation import elbo, log_likelihood_estimate
from pyautoencoder.vanilla import AE
from pyautoencoder.variational import VAE


@pytest.fixture
def linear_gaussian() -> LinearGaussianModel:
    return make_linear_gaussian()


@pytest.fixture
def sigma() -> float:
    return 0.5


def test_estimate_converges_to_closed_form_log_likelihood(
    linear_gaussian: LinearGaussianModel, sigma: float
) -> None:
    x = sample_data(linear_gaussian, 16, sigma)
    truth = linear_gaussian.marginal(sigma).log_prob(x).detach()
    lik = FixedVarianceGaussian(sigma)
    gaps = {}
    for k in (10, 5000):
        result = log_likelihood_estimate(
            linear_gaussian, x, k, likelihood=lik, seed=0, chunk_size=500
        )
        gaps[k] = (truth - result.values).mean().item()
    result_5000 = result
    # K = 5000: every example within 5 of its own Monte Carlo standard errors (about 0.015
    # nats here) and the data-set mean within 0.01 nats of the exact mean log-likelihood.
    error = (result_5000.values - truth).abs()
    assert torch.all(error < 5 * result_5000.monte_carlo_standard_error + 1e-3)
    assert abs(result_5000.mean - truth.mean().item()) < 0.01
    # The bound tightens with K: the mean gap is about 0.03 nats at K = 10, below 0.01 at 5000.
    assert gaps[10] > 0.015
    assert abs(gaps[5000]) < 0.01


def test_exact_posterior_gives_the_exact_value_with_one_sample(sigma: float) -> None:
    # With D_z = 1 the exact posterior is a 1-D Gaussian, so q = p(z|x) and every weight is p(x).
    model = make_linear_gaussian(latent_dim=1, data_dim=3, sigma=sigma, exact=True)
    x = sample_data(model, 8, sigma)
    result = log_likelihood_estimate(model, x, 3, likelihood=FixedVarianceGaussian(sigma), seed=1)
    truth = model.marginal(sigma).log_prob(x).detach()
    torch.testing.assert_close(result.values, truth, rtol=0, atol=1e-9)
    torch.testing.assert_close(
        result.effective_sample_size, torch.full((8,), 3.0, dtype=torch.float64)
    )


def test_one_sample_estimate_has_the_elbo_as_expectation(
    linear_gaussian: LinearGaussianModel, sigma: float
) -> None:
    x = sample_data(linear_gaussian, 4, sigma).repeat(1000, 1)  # 1000 draws for each of 4 inputs
    result = log_likelihood_estimate(
        linear_gaussian, x, 1, likelihood=FixedVarianceGaussian(sigma), seed=3, batch_size=1000
    )
    expected = linear_gaussian.closed_form_elbo(x, sigma).mean().item()
    # Monte Carlo: within 4 standard errors (standard_error is about 0.04 nats here).
    assert abs(result.mean - expected) < 4 * result.standard_error
    assert result.standard_error < 0.1


def test_elbo_matches_closed_form(linear_gaussian: LinearGaussianModel, sigma: float) -> None:
    x = sample_data(linear_gaussian, 4, sigma)
    result = elbo(
        linear_gaussian, x, 20000, likelihood=FixedVarianceGaussian(sigma), seed=0, chunk_size=5000
    )
    expected = linear_gaussian.closed_form_elbo(x, sigma).detach()
    mu = x @ linear_gaussian.A.T + linear_gaussian.c
    var = linear_gaussian.log_s.exp().square()
    kl = 0.5 * (mu.square() + var - 1 - var.log()).sum(dim=1)  # Kingma & Welling, Appendix B
    torch.testing.assert_close(result.kl, kl.detach(), rtol=1e-12, atol=1e-12)  # closed-form KL
    # Reconstruction term by Monte Carlo, S = 20000: per-example sd about 0.03 nats.
    assert torch.all((result.values - expected).abs() < 0.15)
    torch.testing.assert_close(result.values, result.reconstruction - result.kl)


def test_elbo_is_below_the_importance_weighted_estimate(
    linear_gaussian: LinearGaussianModel, sigma: float
) -> None:
    x = sample_data(linear_gaussian, 32, sigma)
    lik = FixedVarianceGaussian(sigma)
    bound = elbo(linear_gaussian, x, 100, likelihood=lik, seed=0)
    estimate = log_likelihood_estimate(linear_gaussian, x, 1000, likelihood=lik, seed=0)
    assert bound.mean < estimate.mean
    assert bound.bits_per_dim > estimate.bits_per_dim


def test_bits_per_dim_is_negative_mean_over_dims_ln2(
    linear_gaussian: LinearGaussianModel, sigma: float
) -> None:
    x = sample_data(linear_gaussian, 5, sigma)
    result = log_likelihood_estimate(
        linear_gaussian, x, 10, likelihood=FixedVarianceGaussian(sigma), seed=0
    )
    assert result.num_dims == 3
    assert result.bits_per_dim == pytest.approx(-result.values.mean().item() / (3 * math.log(2)))
    assert result.standard_error == pytest.approx(result.values.std().item() / math.sqrt(5))


class _MaxNumel(TorchDispatchMode):
    """Records the largest number of elements of any tensor an operator returns."""

    def __init__(self) -> None:
        super().__init__()
        self.max_numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self.max_numel = max(self.max_numel, leaf.numel())
        return out


def test_peak_tensor_size_does_not_grow_with_num_samples() -> None:
    torch.manual_seed(0)
    model = VAE(nn.Sequential(nn.Linear(6, 8), nn.Tanh()), nn.Linear(3, 6), latent_dim=3)
    x = torch.randn(4, 6)
    model.build(x)
    sizes = {}
    for k in (100, 5000):
        with _MaxNumel() as tracker:
            result = log_likelihood_estimate(model, x, k, chunk_size=50, seed=0)
        sizes[k] = tracker.max_numel
        assert result.values.shape == (4,)
    # Largest tensor: a chunk of x_hat [B, C, D_x] = 4 * 50 * 6 elements, for both K.
    assert sizes[100] == sizes[5000] == 4 * 50 * 6


def test_same_seed_same_values_and_global_rng_untouched(
    linear_gaussian: LinearGaussianModel,
) -> None:
    x = torch.randn(6, 3, dtype=torch.float64)
    state = torch.get_rng_state()
    first = log_likelihood_estimate(linear_gaussian, x, 50, seed=7, chunk_size=16)
    second = log_likelihood_estimate(
        linear_gaussian, x, 50, generator=torch.Generator().manual_seed(7), chunk_size=16
    )
    other = log_likelihood_estimate(linear_gaussian, x, 50, seed=8, chunk_size=16)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first.values, second.values)
    assert not torch.equal(first.values, other.values)


class _LaplacePosteriorModel(LinearGaussianModel):
    """The linear-Gaussian model with a Laplace posterior (sampled by rsample, no generator)."""

    def posterior(self, x: torch.Tensor) -> D.Distribution:
        mu = x @ self.A.T + self.c
        return D.Independent(D.Laplace(mu, self.log_s.exp().expand_as(mu)), 1)


def test_other_posteriors_use_a_forked_seeded_global_rng() -> None:
    base = make_linear_gaussian()
    model = _LaplacePosteriorModel(
        base.W.data, base.b.data, base.A.data, base.c.data, base.log_s.exp().data
    )
    x = torch.randn(5, 3, dtype=torch.float64)
    state = torch.get_rng_state()
    first = log_likelihood_estimate(model, x, 40, seed=3)
    second = log_likelihood_estimate(model, x, 40, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first.values, second.values)
    assert torch.all(torch.isfinite(first.values))


def test_runs_in_eval_mode_without_grad_and_restores_modes(
    linear_gaussian: LinearGaussianModel,
) -> None:
    linear_gaussian.train()
    result = log_likelihood_estimate(
        linear_gaussian, torch.randn(3, 3, dtype=torch.float64), 5, seed=0
    )
    assert linear_gaussian.modes_seen == [False]
    assert linear_gaussian.training
    assert not result.values.requires_grad


def test_dataloader_batches_give_the_same_values_as_a_tensor(
    linear_gaussian: LinearGaussianModel,
) -> None:
    x = torch.randn(10, 3, dtype=torch.float64)
    batches = [(x[i : i + 4], torch.zeros(len(x[i : i + 4]))) for i in range(0, 10, 4)]
    from_tensor = log_likelihood_estimate(linear_gaussian, x, 20, batch_size=4, seed=2)
    from_batches = log_likelihood_estimate(linear_gaussian, batches, 20, seed=2)
    assert torch.equal(from_tensor.values, from_batches.values)


def test_vae_estimate_is_at_least_its_elbo_on_average() -> None:
    torch.manual_seed(0)
    model = VAE(nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.Tanh()), nn.Linear(2, 8), 2)
    x = torch.randn(32, 8)
    model.build(x)
    bound = elbo(model, x, 50, seed=0)
    estimate = log_likelihood_estimate(model, x, 500, seed=0)
    assert estimate.mean > bound.mean
    assert torch.all(estimate.effective_sample_size >= 1 - 1e-9)
    assert torch.all(estimate.effective_sample_size <= 500 + 1e-6)


def test_model_without_posterior_raises_type_error() -> None:
    ae = AE(nn.Linear(4, 2), nn.Linear(2, 4))
    with pytest.raises(TypeError, match=r"needs a model with a posterior.*AE"):
        log_likelihood_estimate(ae, torch.randn(2, 4), 3)
    with pytest.raises(TypeError, match="posterior"):
        elbo(object(), torch.randn(2, 4))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"num_samples": 0}, ValueError, "num_samples must be >= 1"),
        ({"num_samples": 2.0}, TypeError, "num_samples must be an int"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be >= 1"),
        ({"seed": 1, "generator": torch.Generator()}, ValueError, "either generator or seed"),
        ({"seed": "a"}, TypeError, "seed must be an int"),
    ],
)
def test_bad_arguments_raise_clear_errors(
    linear_gaussian: LinearGaussianModel, kwargs: dict, error: type, pattern: str
) -> None:
    x = torch.randn(2, 3, dtype=torch.float64)
    with pytest.raises(error, match=pattern):
        log_likelihood_estimate(linear_gaussian, x, **kwargs)


def test_bad_data_raises_clear_errors(linear_gaussian: LinearGaussianModel) -> None:
    with pytest.raises(TypeError, match="floating-point"):
        log_likelihood_estimate(linear_gaussian, torch.ones(2, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="at least one"):
        log_likelihood_estimate(linear_gaussian, torch.ones(0, 3, dtype=torch.float64), 2)
    with pytest.raises(TypeError, match="iterable of batches"):
        log_likelihood_estimate(linear_gaussian, 3, 2)  # type: ignore[arg-type]


def test_a_pair_model_is_pointed_to_its_inner_vae() -> None:
    from pyautoencoder.variational import AdaGVAE

    vae = VAE(nn.Sequential(nn.Linear(4, 8), nn.Tanh()), nn.Linear(2, 4), latent_dim=2)
    with pytest.raises(TypeError, match=r"pass model\.vae instead"):
        log_likelihood_estimate(AdaGVAE(vae), torch.randn(2, 4), 3)


class _FullCovariancePosteriorModel(LinearGaussianModel):
    """The linear-Gaussian model with its exact full-covariance posterior."""

    def __init__(self, sigma: float) -> None:
        base = make_linear_gaussian(latent_dim=2, data_dim=3, sigma=sigma, exact=True)
        super().__init__(base.W.data, base.b.data, base.A.data, base.c.data, base.log_s.exp().data)
        precision = torch.eye(2, dtype=torch.float64) + base.W.data.T @ base.W.data / sigma**2
        self.covariance = torch.linalg.inv(precision)

    def posterior(self, x: torch.Tensor) -> D.Distribution:
        mu = x @ self.A.T + self.c
        return D.MultivariateNormal(mu, covariance_matrix=self.covariance.expand(len(x), 2, 2))


def test_full_covariance_exact_posterior_gives_the_exact_value(sigma: float) -> None:
    model = _FullCovariancePosteriorModel(sigma)
    x = sample_data(model, 6, sigma)
    state = torch.get_rng_state()
    result = log_likelihood_estimate(model, x, 4, likelihood=FixedVarianceGaussian(sigma), seed=0)
    assert torch.equal(torch.get_rng_state(), state)  # sampled with the local generator
    truth = model.marginal(sigma).log_prob(x).detach()
    torch.testing.assert_close(result.values, truth, rtol=0, atol=1e-9)
