"""Per-example Jacobian norms: the eager and torch.func paths agree; eager takes any module."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyautoencoder.vanilla._jacobian import (
    _forward_functional,
    _reverse_functional,
    jacobian_frobenius_sq,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def _explicit(fn: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    return torch.stack(
        [
            torch.autograd.functional.jacobian(lambda t: fn(t.unsqueeze(0)).squeeze(0), row)
            .square()
            .sum()
            for row in inputs
        ]
    )


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_eager_and_functional_paths_agree_in_value_and_gradient(mode: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.Softplus(), nn.Linear(5, 4)).double()
    inputs = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    outputs, eager = jacobian_frobenius_sq(net, inputs, mode=mode)  # type: ignore[arg-type]
    functional = (_reverse_functional if mode == "reverse" else _forward_functional)(net, inputs)
    torch.testing.assert_close(outputs, net(inputs))
    torch.testing.assert_close(eager, _explicit(net, inputs.detach()))
    torch.testing.assert_close(functional[1], eager)
    targets = [*net.parameters(), inputs]
    got = torch.autograd.grad(eager.sum(), targets, allow_unused=True, materialize_grads=True)
    want = torch.autograd.grad(
        functional[1].sum(), targets, allow_unused=True, materialize_grads=True
    )
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_eager_path_takes_lazy_layers_batchnorm_and_dropout(mode: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.LazyLinear(6), nn.BatchNorm1d(6), nn.Tanh(), nn.Dropout(0.2), nn.Linear(6, 2)
    )
    inputs = torch.randn(8, 3)
    _, norm = jacobian_frobenius_sq(net, inputs, mode=mode)  # type: ignore[arg-type]
    assert norm.shape == (8,) and bool(torch.isfinite(norm).all())
    assert int(net[1].num_batches_tracked) == 1  # one forward pass, statistics updated once
    net.eval()  # no dropout, fixed statistics: the explicit Jacobian is the reference
    _, norm = jacobian_frobenius_sq(net, inputs, mode=mode)  # type: ignore[arg-type]
    torch.testing.assert_close(norm, _explicit(net, inputs))


def test_without_grad_mode_the_results_are_detached() -> None:
    net = nn.Linear(3, 2)
    with torch.no_grad():
        outputs, norm = jacobian_frobenius_sq(net, torch.randn(4, 3), mode="reverse")
    assert not outputs.requires_grad and not norm.requires_grad
    torch.testing.assert_close(norm, net.weight.detach().square().sum().expand(4))


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_inference_mode_uses_the_functional_path(mode: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    inputs = torch.randn(4, 3)
    _, expected = jacobian_frobenius_sq(net, inputs, mode=mode)  # type: ignore[arg-type]
    with torch.inference_mode():
        _, norm = jacobian_frobenius_sq(net, inputs, mode=mode)  # type: ignore[arg-type]
    torch.testing.assert_close(norm, expected.detach())
