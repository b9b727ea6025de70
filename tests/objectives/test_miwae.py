"""MIWAE (Rainforth et al. 2018): float64 reference, special cases, ordering, gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from objective_helpers import binary_data, make_vae, reference_log_weights

from pyautoencoder.objectives import MIWAE, ImportanceWeightedBound
from pyautoencoder.objectives._miwae import miwae_bound


def test_miwae_equals_the_mean_of_group_bounds_from_torch_distributions() -> None:
    model = make_vae(MIWAE(num_importance=3, num_averaged=2))
    x = binary_data()
    torch.manual_seed(4)
    out = model(x)
    assert out.z.shape[1] == 6
    result = model.compute_loss(x, out)
    log_lik, log_prior, log_q, _ = reference_log_weights(x, out)
    log_w = (log_lik + log_prior - log_q).reshape(x.shape[0], 2, 3)
    expected = (torch.logsumexp(log_w, dim=2) - math.log(3)).mean(dim=1).mean()
    torch.testing.assert_close(-result.objective, expected)
    torch.testing.assert_close(result.diagnostics["miwae_bound"], expected.detach())
    ess = (1.0 / torch.softmax(log_w, dim=2).square().sum(dim=2)).mean()
    torch.testing.assert_close(result.diagnostics["effective_sample_size"], ess.detach())


def test_miwae_with_one_group_is_the_iwae_and_its_gradient() -> None:
    x = binary_data()
    losses, grads = [], []
    for objective in (MIWAE(num_importance=4, num_averaged=1), ImportanceWeightedBound(4)):
        model = make_vae(objective)
        torch.manual_seed(5)
        loss = model.compute_loss(x, model(x)).objective
        loss.backward()
        losses.append(loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))  # type: ignore[union-attr]
    torch.testing.assert_close(losses[0], losses[1])
    torch.testing.assert_close(grads[0], grads[1])


def test_miwae_needs_m_times_k_samples() -> None:
    model = make_vae(MIWAE(num_importance=3, num_averaged=2))
    x = binary_data()
    with pytest.raises(ValueError, match=r"needs M \* K = 6 samples per input, got z of shape"):
        model.compute_loss(x, model(x, S=4))


_LOG_WEIGHTS = st.lists(
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), min_size=12, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(values=_LOG_WEIGHTS)
def test_elbo_le_miwae_le_iwae_for_any_weights(values: list[float]) -> None:
    """Jensen: mean log w <= MIWAE(M, K) <= IWAE(M K), for every split of 12 samples."""
    log_w = torch.tensor(values, dtype=torch.float64).reshape(1, 12)
    elbo = log_w.mean(dim=1)
    iwae = torch.logsumexp(log_w, dim=1) - math.log(12)
    tol = 1e-9 * (1.0 + float(log_w.abs().max()))
    for groups in (1, 2, 3, 4, 6, 12):
        miwae = miwae_bound(log_w, groups)
        assert torch.isfinite(miwae).all()
        assert float(elbo - miwae) <= tol and float(miwae - iwae) <= tol


def test_miwae_bound_passes_gradcheck() -> None:
    log_w = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: miwae_bound(w, 2), (log_w,))
