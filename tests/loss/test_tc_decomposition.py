"""The beta-TCVAE decomposition: importance weights and the exact sum identity."""

from __future__ import annotations

import torch

from pyautoencoder.distributions import posterior_log_prob
from pyautoencoder.loss._tc import log_importance_weights, tc_decomposition


def test_mss_weights_are_a_distribution_per_row() -> None:
    weights = log_importance_weights(6, 100, "mss", torch.zeros((), dtype=torch.float64)).exp()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(6, dtype=torch.float64))
    torch.testing.assert_close(torch.diagonal(weights), torch.full((6,), 0.01, dtype=torch.float64))
    assert int((weights == (100 - 6 + 1) / (100 * 5)).sum()) == 6  # one stratified entry per row


def test_mws_weights_are_uniform() -> None:
    weights = log_importance_weights(4, 10, "mws", torch.zeros(()))
    torch.testing.assert_close(weights, torch.full((4, 4), -torch.log(torch.tensor(40.0)).item()))


def test_terms_sum_to_the_monte_carlo_kl() -> None:
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 3, dtype=torch.float64, generator=gen)
    log_var = torch.randn(5, 3, dtype=torch.float64, generator=gen)
    z = mu.unsqueeze(1) + torch.randn(5, 2, 3, dtype=torch.float64, generator=gen)
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    for sampling in ("mws", "mss"):
        terms = tc_decomposition(z, mu, log_var, log_prior, 50, sampling)  # type: ignore[arg-type]
        total = terms.mutual_information + terms.total_correlation + terms.dimension_wise_kl
        expected = (posterior_log_prob(z, mu, log_var) - log_prior).mean(dim=1)
        torch.testing.assert_close(total, expected)
