"""TotalCorrelation: the MWS decomposition in float64 from torch.distributions; beta scales it."""

from __future__ import annotations

import math

import pytest
import torch
from objective_helpers import binary_data, make_vae, reference_log_weights
from torch import distributions as D

from pyautoencoder.objectives import ELBO, TotalCorrelation


def _reference_terms(out: object, dataset_size: int) -> tuple[torch.Tensor, ...]:
    """MI, TC, dimension-wise KL (Chen et al. 2018, eqs. 2 and 4, MWS) by explicit loops."""
    z, mu, log_var = out.z[:, 0], out.mu, out.log_var  # type: ignore[attr-defined]
    batch, dims = z.shape
    q = D.Normal(mu, (0.5 * log_var).exp())
    log_norm = math.log(batch * dataset_size)
    mi, tc, dwkl = [], [], []
    for i in range(batch):
        per_dim = q.log_prob(z[i].expand(batch, dims))  # [B(j), D]: log q(z_i,d | x_j)
        log_qz = torch.logsumexp(per_dim.sum(1), 0) - log_norm
        log_marginals = (torch.logsumexp(per_dim, 0) - log_norm).sum()
        log_prior = D.Normal(0.0, 1.0).log_prob(z[i]).sum()
        mi.append(per_dim[i].sum() - log_qz)
        tc.append(log_qz - log_marginals)
        dwkl.append(log_marginals - log_prior)
    return torch.stack(mi).mean(), torch.stack(tc).mean(), torch.stack(dwkl).mean()


@pytest.mark.parametrize("kl_weight", [1.0, 0.5])
def test_weighted_decomposition_equals_explicit_loops(kl_weight: float) -> None:
    model = make_vae(TotalCorrelation(alpha=0.5, beta=4.0, gamma=2.0, dataset_size=40))
    x = binary_data()
    torch.manual_seed(8)
    out = model(x)
    result = model.compute_loss(x, out, beta=kl_weight)
    log_lik = reference_log_weights(x, out)[0]
    mi, tc, dwkl = _reference_terms(out, 40)
    bound = log_lik.mean() - kl_weight * (0.5 * mi + 4.0 * tc + 2.0 * dwkl)
    torch.testing.assert_close(-result.objective, bound)
    torch.testing.assert_close(result.diagnostics["total_correlation"], tc.detach())
    torch.testing.assert_close(result.diagnostics["mutual_information"], mi.detach())


def test_unit_weights_give_the_elbo_with_a_monte_carlo_kl() -> None:
    model = make_vae(TotalCorrelation(1.0, 1.0, 1.0), kl_estimator="monte_carlo")
    x = binary_data()
    out = model(x)
    torch.testing.assert_close(
        model.compute_loss(x, out).objective, ELBO()(model, x, out).objective
    )


def test_mss_needs_a_dataset_size_and_sampling_is_checked() -> None:
    with pytest.raises(ValueError, match="sampling='mss' needs dataset_size"):
        TotalCorrelation(sampling="mss")
    with pytest.raises(ValueError, match="sampling must be 'mws' or 'mss', got 'mwss'"):
        TotalCorrelation(sampling="mwss")  # type: ignore[arg-type]
