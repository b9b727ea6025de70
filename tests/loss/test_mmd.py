"""The unbiased MMD estimator and its kernels against a float64 loop recomputation."""

from __future__ import annotations

import math

import pytest
import torch

from pyautoencoder.loss._mmd import (
    InverseMultiquadricKernel,
    RBFKernel,
    get_kernel,
    mmd_unbiased,
)


def _kernel_value(a: list[float], b: list[float], name: str, scales: tuple[float, ...]) -> float:
    sq = sum((u - v) ** 2 for u, v in zip(a, b))
    total = 0.0
    for s in scales:
        c = 2.0 * len(a) * s
        total += math.exp(-sq / c) if name == "rbf" else c / (c + sq)
    return total


def _reference_mmd(x: torch.Tensor, y: torch.Tensor, name: str, scales: tuple[float, ...]) -> float:
    """Gretton et al. (2012) eq. 3 with explicit double loops."""
    xs, ys = x.tolist(), y.tolist()
    n, m = len(xs), len(ys)
    k_xx = sum(
        _kernel_value(xs[i], xs[j], name, scales) for i in range(n) for j in range(n) if i != j
    )
    k_yy = sum(
        _kernel_value(ys[i], ys[j], name, scales) for i in range(m) for j in range(m) if i != j
    )
    k_xy = sum(_kernel_value(a, b, name, scales) for a in xs for b in ys)
    return k_xx / (n * (n - 1)) + k_yy / (m * (m - 1)) - 2 * k_xy / (n * m)


@pytest.mark.parametrize("name", ["rbf", "imq"])
@pytest.mark.parametrize("scales", [(1.0,), (0.1, 1.0, 10.0)])
def test_unbiased_mmd_equals_loop_recomputation(name: str, scales: tuple[float, ...]) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, dtype=torch.float64, generator=gen)
    y = torch.randn(5, 3, dtype=torch.float64, generator=gen) + 0.5
    kernel = RBFKernel(scales) if name == "rbf" else InverseMultiquadricKernel(scales)
    expected = _reference_mmd(x, y, name, scales)
    assert math.isclose(float(mmd_unbiased(x, y, kernel)), expected, rel_tol=1e-12, abs_tol=1e-14)


def test_mmd_is_unbiased_for_equal_distributions() -> None:
    # E[MMD_u^2] = 0 when both samples come from the same distribution: the average over many
    # independent pairs of batches is within 4 standard errors of 0.
    gen = torch.Generator().manual_seed(1)
    values = torch.stack(
        [
            mmd_unbiased(
                torch.randn(8, 2, generator=gen, dtype=torch.float64),
                torch.randn(8, 2, generator=gen, dtype=torch.float64),
                "rbf",
            )
            for _ in range(400)
        ]
    )
    assert abs(float(values.mean())) < 4 * float(values.std()) / 20


def test_mmd_detects_a_shift_and_has_finite_gradients_at_equal_points() -> None:
    x = torch.zeros(4, 2, requires_grad=True)  # identical points: cdist would give NaN grads
    y = torch.ones(4, 2)
    value = mmd_unbiased(x, y, "imq")
    value.backward()
    assert value > 0 and x.grad is not None and torch.isfinite(x.grad).all()


def test_mmd_errors() -> None:
    with pytest.raises(ValueError, match="at least 2 samples on each side"):
        mmd_unbiased(torch.zeros(1, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"\[N, D\] and \[M, D\] with the same D"):
        mmd_unbiased(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="scales must be a non-empty sequence of floats > 0"):
        RBFKernel(scales=(0.0,))
    with pytest.raises(ValueError, match="Unknown kernel"):
        get_kernel("laplacian")


def test_kernel_without_gradients_matches_the_explicit_differences() -> None:
    """Without autograd the kernel uses cdist (O(N M) memory); same values in float64."""
    from pyautoencoder.loss._mmd import RBFKernel

    x = torch.randn(7, 5, dtype=torch.float64)
    y = torch.randn(4, 5, dtype=torch.float64)
    kernel = RBFKernel(scales=(0.5, 2.0))
    with torch.no_grad():
        fast = kernel(x, y)
    explicit = kernel(x.requires_grad_(), y)
    torch.testing.assert_close(fast, explicit.detach(), rtol=1e-10, atol=1e-12)
