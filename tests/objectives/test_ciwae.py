"""CIWAE (Rainforth et al. 2018): float64 reference, ordering, gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from objective_helpers import binary_data, make_vae, reference_log_weights

from pyautoencoder.objectives import CIWAE
from pyautoencoder.objectives._ciwae import ciwae_bound


def test_ciwae_equals_the_mixture_of_elbo_and_iwae_from_torch_distributions() -> None:
    model = make_vae(CIWAE(beta=0.3, num_samples=5))
    x = binary_data()
    torch.manual_seed(6)
    out = model(x)
    result = model.compute_loss(x, out)
    log_lik, log_prior, log_q, _ = reference_log_weights(x, out)
    log_w = log_lik + log_prior - log_q
    iwae = torch.logsumexp(log_w, dim=1) - math.log(5)
    expected = (0.3 * log_w.mean(dim=1) + 0.7 * iwae).mean()
    torch.testing.assert_close(-result.objective, expected)
    torch.testing.assert_close(result.diagnostics["iwae_bound"], iwae.mean().detach())


def test_ciwae_refuses_a_mixing_weight_above_one() -> None:
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got 1.5"):
        CIWAE(beta=1.5)


_LOG_WEIGHTS = st.lists(
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), min_size=8, max_size=8
)


@settings(max_examples=60, deadline=None)
@given(values=_LOG_WEIGHTS, mix=st.floats(min_value=0.0, max_value=1.0))
def test_ciwae_lies_between_elbo_and_iwae_for_any_weights(values: list[float], mix: float) -> None:
    log_w = torch.tensor(values, dtype=torch.float64).reshape(1, 8)
    elbo = log_w.mean(dim=1)
    iwae = torch.logsumexp(log_w, dim=1) - math.log(8)
    tol = 1e-9 * (1.0 + float(log_w.abs().max()))
    ciwae = ciwae_bound(log_w, mix)
    assert float(elbo - ciwae) <= tol and float(ciwae - iwae) <= tol


def test_ciwae_bound_passes_gradcheck() -> None:
    log_w = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: ciwae_bound(w, 0.4), (log_w,))
