"""JumpReLUSAE: the straight-through pseudo-derivatives against their formulas."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyautoencoder.dictionary import JumpReLUFunction, JumpReLUSAE, StepFunction, rectangle_kernel

pytestmark = pytest.mark.usefixtures("seeded")


def kernel(u: float) -> float:
    return 1.0 if -0.5 < u < 0.5 else 0.0


def reference_threshold_gradients(
    pre: torch.Tensor, theta: torch.Tensor, weights: torch.Tensor, eps: float
) -> tuple[list[float], list[float]]:
    """``d/dtheta_i`` of ``sum_b w_bi JumpReLU`` and of ``sum_b w_bi H`` by the paper's
    formulas (eqs. 11-12), element by element in float64."""
    batch, latents = pre.shape
    jump, step = [], []
    for i in range(latents):
        t = float(theta[i])
        density = [
            float(weights[b, i]) * kernel((float(pre[b, i]) - t) / eps) / eps for b in range(batch)
        ]
        jump.append(-t * sum(density))
        step.append(-sum(density))
    return jump, step


@settings(max_examples=30, deadline=None)
@given(
    eps=st.sampled_from([1e-3, 0.05, 0.5, 2.0]),
    log_theta=st.floats(-4.0, 1.0),
    seed=st.integers(0, 10_000),
)
def test_threshold_pseudo_derivatives_equal_their_formulas(
    eps: float, log_theta: float, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    theta = torch.full((5,), math.exp(log_theta), dtype=torch.float64)
    theta = theta * (1 + torch.rand(5, dtype=torch.float64, generator=generator))
    # pre-activations spread around the thresholds, many inside the kernel's window
    pre = theta + eps * 1.5 * (2 * torch.rand(40, 5, dtype=torch.float64, generator=generator) - 1)
    weights = torch.randn(40, 5, dtype=torch.float64, generator=generator)
    jump_ref, step_ref = reference_threshold_gradients(pre, theta, weights, eps)

    leaf = theta.clone().requires_grad_(True)
    (JumpReLUFunction.apply(pre, leaf, eps) * weights).sum().backward()
    assert leaf.grad is not None
    torch.testing.assert_close(leaf.grad, torch.tensor(jump_ref, dtype=torch.float64))

    leaf = theta.clone().requires_grad_(True)
    (StepFunction.apply(pre, leaf, eps) * weights).sum().backward()
    assert leaf.grad is not None
    torch.testing.assert_close(leaf.grad, torch.tensor(step_ref, dtype=torch.float64))


def test_gradients_in_the_pre_activations_are_heaviside_and_zero() -> None:
    pre = torch.tensor([[0.5, 2.0, -1.0]], dtype=torch.float64, requires_grad=True)
    theta = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    upstream = torch.tensor([[3.0, 5.0, 7.0]], dtype=torch.float64)
    (JumpReLUFunction.apply(pre, theta, 0.1) * upstream).sum().backward()
    assert pre.grad is not None
    torch.testing.assert_close(pre.grad, torch.tensor([[0.0, 5.0, 0.0]], dtype=torch.float64))
    pre.grad = None
    StepFunction.apply(pre, theta, 0.1).sum().backward()
    torch.testing.assert_close(pre.grad, torch.zeros(1, 3, dtype=torch.float64))


def test_forward_values_are_jumprelu_and_heaviside() -> None:
    pre = torch.tensor([[0.5, 1.5, -2.0, 1.0]])
    theta = torch.tensor([1.0, 1.0, 1.0, 1.0])
    torch.testing.assert_close(
        JumpReLUFunction.apply(pre, theta, 0.1), torch.tensor([[0.0, 1.5, 0.0, 0.0]])
    )
    torch.testing.assert_close(
        StepFunction.apply(pre, theta, 0.1), torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    )


def test_rectangle_kernel_is_the_indicator_of_the_open_unit_interval() -> None:
    u = torch.tensor([-0.5, -0.49, 0.0, 0.49, 0.5, 2.0])
    torch.testing.assert_close(rectangle_kernel(u), torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0, 0.0]))


def test_jumprelu_gradcheck_in_the_pre_activations_away_from_the_threshold() -> None:
    theta = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    pre = torch.tensor([[0.1, 1.7, 3.0], [0.9, 0.2, 1.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda p: JumpReLUFunction.apply(p, theta, 1e-3), (pre.requires_grad_(),)
    )


def test_loss_is_mse_plus_weighted_l0_and_log_threshold_gets_the_chain_rule() -> None:
    model = JumpReLUSAE(4, 6, sparsity_weight=0.25, bandwidth=0.5, initial_threshold=0.2).double()
    x = torch.randn(8, 4, dtype=torch.float64)
    output = model(x)
    result = model.compute_loss(x, output)
    pre = output.pre_activations.detach()
    theta = torch.full((6,), 0.2, dtype=torch.float64)
    z = pre * (pre > theta)
    x_hat = z @ model.W_dec.detach().T + model.b_dec.detach()
    l0 = (pre > theta).sum(dim=1).double().mean()
    expected = ((x - x_hat) ** 2).sum(dim=1).mean() + 0.25 * l0
    torch.testing.assert_close(result.objective.detach(), expected)
    torch.testing.assert_close(result.diagnostics["l0"], l0)
    result.objective.backward()
    # d/dlog(theta) = theta * d/dtheta: compare with the formula through the L0 term and z
    upstream = 2 * (x_hat - x) @ model.W_dec.detach() / 8  # dL/dz of the batch mean, [B, M]
    window = ((pre - theta) / 0.5).abs() < 0.5
    d_theta = (-(theta / 0.5) * window * upstream).sum(0) + 0.25 * (-(1 / 0.5) * window).sum(0) / 8
    assert model.log_threshold.grad is not None
    torch.testing.assert_close(model.log_threshold.grad, theta * d_theta)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bandwidth": 0.0}, "bandwidth"),
        ({"initial_threshold": -1.0}, "initial_threshold"),
        ({"sparsity_weight": -1.0}, "sparsity_weight"),
        ({"bandwidth": "1"}, "bandwidth"),
    ],
)
def test_bad_options_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        JumpReLUSAE(4, 6, **kwargs)  # type: ignore[arg-type]


@pytest.mark.slow  # AOTAutograd traces forward and backward (~3-10 s)
def test_training_step_compiles_with_fullgraph_including_backward() -> None:
    model = JumpReLUSAE(4, 6, bandwidth=0.5)
    x = torch.randn(8, 4)

    def step(batch: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(batch, model(batch)).objective

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    compiled(x).backward()
    compiled_grad = model.log_threshold.grad.clone()  # type: ignore[union-attr]
    model.zero_grad()
    step(x).backward()
    torch.testing.assert_close(compiled_grad, model.log_threshold.grad)
