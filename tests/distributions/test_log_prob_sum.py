"""``Likelihood.log_prob_sum`` equals the sum of ``log_prob`` for every registered likelihood."""

from __future__ import annotations

import pytest
import torch

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
