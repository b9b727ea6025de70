"""EM for the full-covariance Gaussian mixture of the RAE, against scikit-learn and the truth."""

from __future__ import annotations

import itertools

import pytest
import torch
from sklearn.mixture import GaussianMixture

from pyautoencoder.vanilla._gmm import _component_log_density, fit_gaussian_mixture


def _three_clusters(n: int = 600) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    means = torch.tensor([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]], dtype=torch.float64)
    scales = torch.tensor(
        [[[1.0, 0.0], [0.5, 0.5]], [[0.3, 0.0], [0.0, 1.2]], [[0.8, 0.0], [-0.4, 0.6]]],
        dtype=torch.float64,
    )
    labels = torch.arange(n) % 3
    noise = torch.randn(n, 2, 1, generator=generator, dtype=torch.float64)
    return means[labels] + (scales[labels] @ noise).squeeze(-1)


def test_component_density_matches_torch_distributions() -> None:
    data = _three_clusters(20)
    means = torch.randn(3, 2, dtype=torch.float64)
    tril = torch.tensor([[[1.0, 0.0], [0.3, 0.7]]], dtype=torch.float64).expand(3, 2, 2)
    expected = torch.distributions.MultivariateNormal(means, scale_tril=tril).log_prob(
        data.unsqueeze(1)
    )
    torch.testing.assert_close(_component_log_density(data, means, tril), expected)


def test_fit_matches_scikit_learn_and_recovers_the_clusters() -> None:
    data = _three_clusters()
    fit = fit_gaussian_mixture(data, 3)
    assert fit.converged
    reference = GaussianMixture(3, covariance_type="full", random_state=0, tol=1e-8).fit(
        data.numpy()
    )
    assert fit.mean_log_likelihood == pytest.approx(reference.score(data.numpy()), abs=1e-4)
    truth = torch.tensor([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]], dtype=torch.float64)
    assert float(torch.cdist(truth, fit.means).min(dim=1).values.max()) < 0.2
    torch.testing.assert_close(
        fit.weights.sort().values, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01, rtol=0
    )
    torch.testing.assert_close(fit.weights.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_log_likelihood_never_decreases() -> None:
    data = _three_clusters(300)
    values = [
        fit_gaussian_mixture(data, 4, max_iter=i, tol=0.0).mean_log_likelihood for i in range(1, 12)
    ]
    assert all(b >= a - 1e-10 for a, b in itertools.pairwise(values))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="at least 5 points"):
        fit_gaussian_mixture(torch.randn(3, 2), 5)
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        fit_gaussian_mixture(torch.randn(3), 1)
    with pytest.raises(ValueError, match="finite"):
        fit_gaussian_mixture(torch.tensor([[0.0], [float("nan")]]), 1)
