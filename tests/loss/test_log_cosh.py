"""Log-cosh against the naive formula in float64, extremes, gradients, reductions."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyautoencoder.loss import LogCosh, log_cosh


def test_log_cosh_equals_the_naive_formula_in_float64() -> None:
    generator = torch.Generator().manual_seed(0)
    x_hat = 5 * torch.randn(4, 7, generator=generator, dtype=torch.float64)
    x = torch.randn(4, 7, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(log_cosh(x_hat, x), torch.log(torch.cosh(x_hat - x)))


@settings(max_examples=40, deadline=None)
@given(st.floats(-1e30, 1e30))
def test_log_cosh_is_finite_where_cosh_overflows(difference: float) -> None:
    value = log_cosh(torch.tensor([difference]), torch.zeros(1))
    assert torch.isfinite(value).all()
    assert float(value) >= 0.0
    # Large |d|: log cosh d = |d| - log 2 up to e^{-2|d|}.
    if abs(difference) > 50:
        assert float(value) == pytest.approx(abs(difference) - 0.6931471805599453, rel=1e-6)


def test_gradient_is_tanh_and_gradcheck_passes() -> None:
    x_hat = torch.tensor([-30.0, -1.5, 0.3, 2.0, 40.0], dtype=torch.float64, requires_grad=True)
    x = torch.zeros(5, dtype=torch.float64)
    log_cosh(x_hat, x).sum().backward()
    assert x_hat.grad is not None
    torch.testing.assert_close(x_hat.grad, torch.tanh(x_hat.detach()))
    assert torch.autograd.gradcheck(lambda a: log_cosh(a, x), (x_hat,))


def test_reductions() -> None:
    x_hat, x = torch.randn(3, 2, 4, dtype=torch.float64), torch.zeros(3, 2, 4, dtype=torch.float64)
    elementwise = torch.log(torch.cosh(x_hat))
    torch.testing.assert_close(LogCosh()(x_hat, x), elementwise.mean())
    torch.testing.assert_close(LogCosh("sum")(x_hat, x), elementwise.sum())
    torch.testing.assert_close(LogCosh("batch_sum")(x_hat, x), elementwise.sum((1, 2)).mean())
    torch.testing.assert_close(LogCosh("none")(x_hat, x), elementwise)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="reduction must be one of"):
        LogCosh("avg")
    with pytest.raises(ValueError, match="x_hat must have the shape of x"):
        log_cosh(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        log_cosh(torch.zeros(2), [0.0, 0.0])  # type: ignore[arg-type]


def test_traces_under_compile_fullgraph() -> None:
    loss = LogCosh("batch_sum")
    x_hat, x = torch.randn(2, 5), torch.randn(2, 5)
    compiled = torch.compile(loss, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x_hat, x), loss(x_hat, x))
