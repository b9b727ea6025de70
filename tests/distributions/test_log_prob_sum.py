"""``Likelihood.log_prob_sum`` sums ``log_prob``; ``mean_log_prob_sum`` is its batch mean."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyautoencoder.distributions import get_likelihood
from pyautoencoder.distributions._likelihood import UnitGaussianLikelihood, available_likelihoods


def _pair(name: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    likelihood = get_likelihood(name)
    x_shape = (3, 2, 4, 5)  # [B, S, H, W]
    x = torch.rand(x_shape, generator=generator, dtype=dtype)
    if name == "categorical":
        x = (x * 255).round()
    x_hat = 2 * torch.randn(likelihood.x_hat_shape(x_shape), generator=generator, dtype=dtype)
    return x, x_hat


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", available_likelihoods())
@pytest.mark.parametrize("start_dim", [1, 2])
def test_log_prob_sum_is_exactly_the_summed_log_prob(
    name: str, dtype: torch.dtype, start_dim: int
) -> None:
    likelihood = get_likelihood(name).to(dtype)
    x, x_hat = _pair(name, dtype)
    expected = likelihood.log_prob(x, x_hat).flatten(start_dim=start_dim).sum(dim=-1)
    assert torch.equal(likelihood.log_prob_sum(x, x_hat, start_dim), expected)


def test_a_subclass_overriding_log_prob_is_used_by_log_prob_sum() -> None:
    class Doubled(UnitGaussianLikelihood):
        def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
            return 2 * super().log_prob(x, x_hat)

    x, x_hat = torch.zeros(2, 3), torch.ones(2, 3)
    torch.testing.assert_close(Doubled().log_prob_sum(x, x_hat, 1), torch.full((2,), -3.0))


@pytest.mark.parametrize(
    ("x_shape", "x_hat_shape"), [((3, 1, 4), (3, 2, 4)), ((3, 2, 4), (3, 1, 4)), ((3, 4), (4,))]
)
def test_bernoulli_log_prob_sum_refuses_shapes_that_differ(
    x_shape: tuple[int, ...], x_hat_shape: tuple[int, ...]
) -> None:
    """The op is called without F's wrapper only for equal shapes: others still raise."""
    likelihood = get_likelihood("bernoulli")
    with pytest.raises(ValueError, match="size"):
        likelihood.log_prob_sum(torch.rand(x_shape), torch.randn(x_hat_shape), 1)


# ---------------------------------------------------------------- mean_log_prob_sum
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", available_likelihoods())
def test_mean_log_prob_sum_is_the_batch_mean_of_the_row_sums(name: str, dtype: torch.dtype) -> None:
    likelihood = get_likelihood(name).to(dtype)
    x, x_hat = _pair(name, dtype)
    x, x_hat = x.flatten(0, 1), x_hat.flatten(0, 1)  # [B * S, ...] rows
    reference = likelihood.double().log_prob(x.double(), x_hat.double()).flatten(1).sum(1).mean()
    result = get_likelihood(name).to(dtype).mean_log_prob_sum(x, x_hat)
    assert result.shape == () and result.dtype == dtype
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(result.double(), reference, rtol=tolerance, atol=tolerance)


def test_the_bernoulli_mean_matches_torch_distributions() -> None:
    generator = torch.Generator().manual_seed(1)
    x = torch.bernoulli(torch.full((7, 30), 0.4, dtype=torch.float64), generator=generator)
    logits = 20 * torch.randn(7, 30, generator=generator, dtype=torch.float64)  # saturated too
    reference = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(1).mean()
    result = get_likelihood("bernoulli").mean_log_prob_sum(x, logits)
    torch.testing.assert_close(result, reference, rtol=1e-12, atol=1e-12)


def test_the_bernoulli_mean_is_the_mean_of_its_row_sums_bit_for_bit() -> None:
    generator = torch.Generator().manual_seed(4)
    x = torch.rand(64, 3, 5, 7, generator=generator)
    logits = 8 * torch.randn(64, 3, 5, 7, generator=generator)
    likelihood = get_likelihood("bernoulli")
    rows = likelihood.log_prob_sum(x, logits, 1)  # [64]
    assert torch.equal(likelihood.mean_log_prob_sum(x, logits), rows.mean())


def test_the_gaussian_mean_matches_its_closed_form() -> None:
    generator = torch.Generator().manual_seed(2)
    x, x_hat = torch.randn(2, 5, 6, 3, generator=generator, dtype=torch.float64).unbind(0)
    reference = (-0.5 * (x - x_hat) ** 2).sum((1, 2)).mean()
    result = get_likelihood("gaussian").mean_log_prob_sum(x, x_hat)
    torch.testing.assert_close(result, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["bernoulli", "gaussian"])
def test_the_fused_means_have_correct_gradients(name: str) -> None:
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(4, 6, generator=generator, dtype=torch.float64)
    x_hat = torch.randn(4, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    likelihood = get_likelihood(name)
    assert torch.autograd.gradcheck(lambda t: likelihood.mean_log_prob_sum(x, t), (x_hat,))
    assert torch.autograd.gradgradcheck(lambda t: likelihood.mean_log_prob_sum(x, t), (x_hat,))


def test_a_subclass_overriding_log_prob_is_used_by_the_mean() -> None:
    class Doubled(UnitGaussianLikelihood):
        def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
            return 2 * super().log_prob(x, x_hat)

    x, x_hat = torch.zeros(2, 3), torch.ones(2, 3)
    torch.testing.assert_close(Doubled().mean_log_prob_sum(x, x_hat), torch.tensor(-3.0))


@pytest.mark.parametrize("name", ["bernoulli", "gaussian"])
def test_the_mean_of_no_rows_is_nan_not_an_exception(name: str) -> None:
    result = get_likelihood(name).mean_log_prob_sum(torch.zeros(0, 3), torch.zeros(0, 3))
    assert result.shape == () and torch.isnan(result)


def test_the_bernoulli_mean_refuses_shapes_that_differ() -> None:
    with pytest.raises(ValueError, match="size"):
        get_likelihood("bernoulli").mean_log_prob_sum(torch.rand(3, 4), torch.randn(3, 5))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 300),
    features=st.integers(1, 40),
    scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4]),
    seed=st.integers(0, 2**16),
    name=st.sampled_from(["bernoulli", "gaussian"]),
)
def test_the_fused_mean_and_the_nll_hold_for_tiny_huge_and_saturated_batches(
    rows: int, features: int, scale: float, seed: int, name: str
) -> None:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(rows, features, generator=generator)
    x_hat = scale * torch.randn(rows, features, generator=generator)
    likelihood = get_likelihood(name)
    reference_rows = likelihood.log_prob(x.double(), x_hat.double()).sum(1)
    result = likelihood.mean_log_prob_sum(x, x_hat)
    assert torch.isfinite(result)
    torch.testing.assert_close(result.double(), reference_rows.mean(), rtol=1e-5, atol=1e-5)
    nll = likelihood.nll_sum(x, x_hat, 1)
    assert nll.shape == (rows,) and bool(torch.isfinite(nll).all())
    # float32 rounds terms of size ~scale: a row's error grows with scale * features.
    tolerance = 1e-4 + 1e-6 * scale * features
    torch.testing.assert_close(nll.double(), -reference_rows, rtol=1e-5, atol=tolerance)


# ------------------------------------------------------------------ nll_sum: minus log_prob_sum


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", available_likelihoods())
@pytest.mark.parametrize("start_dim", [1, 2])
def test_nll_sum_is_exactly_minus_log_prob_sum(
    name: str, dtype: torch.dtype, start_dim: int
) -> None:
    likelihood = get_likelihood(name).to(dtype)
    x, x_hat = _pair(name, dtype)
    expected = -likelihood.log_prob_sum(x, x_hat, start_dim)
    assert torch.equal(likelihood.nll_sum(x, x_hat, start_dim), expected)


def test_the_bernoulli_nll_is_minus_torch_distributions_log_prob() -> None:
    generator = torch.Generator().manual_seed(4)
    x = torch.bernoulli(torch.full((5, 7), 0.3, dtype=torch.float64), generator=generator)
    logits = 40 * torch.randn(5, 7, generator=generator, dtype=torch.float64)
    reference = -torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(dim=1)
    result = get_likelihood("bernoulli").nll_sum(x, logits, 1)
    torch.testing.assert_close(result, reference, rtol=1e-12, atol=1e-12)


def test_the_gaussian_nll_is_half_the_squared_error() -> None:
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0]], dtype=torch.float64)
    x_hat = torch.tensor([[0.0, 0.0], [3.0, -1.0]], dtype=torch.float64)
    result = get_likelihood("gaussian").nll_sum(x, x_hat, 1)
    assert torch.equal(result, torch.tensor([2.5, 4.5], dtype=torch.float64))


@pytest.mark.parametrize("name", ["bernoulli", "gaussian", "laplace"])
def test_nll_sum_has_correct_gradients(name: str) -> None:
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(4, 6, generator=generator, dtype=torch.float64)
    x_hat = torch.randn(4, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    likelihood = get_likelihood(name)
    assert torch.autograd.gradcheck(lambda t: likelihood.nll_sum(x, t, 1), (x_hat,))


def test_a_subclass_overriding_log_prob_is_used_by_nll_sum() -> None:
    class Doubled(UnitGaussianLikelihood):
        def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
            return 2 * super().log_prob(x, x_hat)

    x, x_hat = torch.zeros(2, 3), torch.ones(2, 3)
    assert torch.equal(Doubled().nll_sum(x, x_hat, 1), torch.full((2,), 3.0))


def test_the_bernoulli_nll_refuses_shapes_that_differ() -> None:
    with pytest.raises(ValueError, match="size"):
        get_likelihood("bernoulli").nll_sum(torch.rand(3, 4), torch.randn(3, 5), 1)
