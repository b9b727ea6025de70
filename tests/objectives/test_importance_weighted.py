"""ImportanceWeightedBound: Burda et al. eq. 8 in float64, K = 1 is the MC ELBO, tempering."""

from __future__ import annotations

import math

import pytest
import torch
from objective_helpers import binary_data, make_vae, reference_log_weights

from pyautoencoder.objectives import ELBO, ImportanceWeightedBound


@pytest.mark.parametrize("estimator", ["iwae", "dreg"])
def test_bound_equals_logmeanexp_of_torch_distributions_weights(estimator: str) -> None:
    model = make_vae(ImportanceWeightedBound(6, estimator))  # type: ignore[arg-type]
    x = binary_data()
    torch.manual_seed(2)
    out = model(x)
    result = model.compute_loss(x, out)
    log_lik, log_prior, log_q, _ = reference_log_weights(x, out)
    log_w = log_lik + log_prior - log_q
    expected = (torch.logsumexp(log_w, dim=1) - math.log(6)).mean()
    torch.testing.assert_close(-result.objective, expected)
    torch.testing.assert_close(result.diagnostics["iwae_bound"], expected.detach())
    normalised = torch.softmax(log_w, dim=1)
    ess = (1.0 / normalised.square().sum(dim=1)).mean()
    torch.testing.assert_close(result.diagnostics["effective_sample_size"], ess.detach())


def test_one_sample_bound_is_the_elbo_with_a_monte_carlo_kl() -> None:
    model = make_vae(ImportanceWeightedBound(1), kl_estimator="monte_carlo")
    x = binary_data()
    out = model(x)
    bound = model.compute_loss(x, out).objective
    elbo = ELBO()(model, x, out).objective
    torch.testing.assert_close(bound, elbo)


def test_beta_tempers_the_prior_to_posterior_ratio() -> None:
    model = make_vae(ImportanceWeightedBound(4))
    x = binary_data()
    out = model(x)
    result = model.compute_loss(x, out, beta=0.3)
    log_lik, log_prior, log_q, _ = reference_log_weights(x, out)
    log_w = log_lik + 0.3 * (log_prior - log_q)
    expected = (torch.logsumexp(log_w, dim=1) - math.log(4)).mean()
    torch.testing.assert_close(-result.objective, expected)


def test_dreg_and_iwae_gradients_agree_on_the_decoder() -> None:
    """Both estimators give the decoder the same gradient (they differ for the encoder only)."""
    grads = {}
    for estimator in ("iwae", "dreg"):
        model = make_vae(ImportanceWeightedBound(5, estimator))  # type: ignore[arg-type]
        x = binary_data()
        torch.manual_seed(3)
        model.compute_loss(x, model(x)).objective.backward()
        grads[estimator] = [p.grad.clone() for p in model.decoder.parameters()]  # type: ignore[union-attr]
    for a, b in zip(grads["iwae"], grads["dreg"]):
        torch.testing.assert_close(a, b)
