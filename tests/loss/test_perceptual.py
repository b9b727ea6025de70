"""Perceptual loss: LPIPS eq. (1) computed by hand in float64 over a user feature net."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyautoencoder.loss import Perceptual, normalized_feature_distance


class _TwoTaps(nn.Module):
    """A tiny feature net returning two maps of different sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(3, 4, 3)
        self.second = nn.Conv2d(4, 5, 3, stride=2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        first = torch.relu(self.first(x))
        return [first, torch.relu(self.second(first))]


def _reference(net: nn.Module, a: torch.Tensor, b: torch.Tensor, weights) -> torch.Tensor:
    total = torch.zeros(a.shape[0], dtype=torch.float64)
    for layer, (fa, fb) in enumerate(zip(net(a), net(b))):
        for i in range(a.shape[0]):
            acc = 0.0
            _, height, width = fa[i].shape
            for h in range(height):
                for w in range(width):
                    ua = fa[i, :, h, w] / (torch.sqrt((fa[i, :, h, w] ** 2).sum()) + 1e-10)
                    ub = fb[i, :, h, w] / (torch.sqrt((fb[i, :, h, w] ** 2).sum()) + 1e-10)
                    acc = acc + ((weights[layer] * (ua - ub)) ** 2).sum()
            total[i] += acc / (height * width)
    return total


def test_distance_matches_lpips_equation_one_by_hand() -> None:
    torch.manual_seed(0)
    net = _TwoTaps().double()
    x, x_hat = (
        torch.rand(2, 3, 9, 9, dtype=torch.float64),
        torch.rand(2, 3, 9, 9, dtype=torch.float64),
    )
    weights = [torch.tensor([1.0, 0.5, 2.0, 0.0], dtype=torch.float64), 0.7]
    loss = Perceptual(net, layer_weights=weights)
    expected = _reference(net, x_hat, x, weights)
    torch.testing.assert_close(loss.distance(x_hat, x), expected)
    torch.testing.assert_close(loss(x_hat, x), expected.mean())


def test_input_normalisation_is_applied_before_the_net() -> None:
    torch.manual_seed(1)
    net = _TwoTaps().double()
    shift, scale = [0.4, 0.5, 0.6], [0.2, 0.3, 0.25]
    x, x_hat = (
        torch.rand(1, 3, 8, 8, dtype=torch.float64),
        torch.rand(1, 3, 8, 8, dtype=torch.float64),
    )
    loss = Perceptual(net, input_shift=shift, input_scale=scale)
    s = torch.tensor(shift, dtype=torch.float64).view(1, 3, 1, 1)
    c = torch.tensor(scale, dtype=torch.float64).view(1, 3, 1, 1)
    plain = Perceptual(net)
    torch.testing.assert_close(loss(x_hat, x), plain((x_hat - s) / c, (x - s) / c))


def test_frozen_net_gets_no_gradient_but_the_image_does() -> None:
    net = _TwoTaps()
    loss = Perceptual(net)
    loss.train()
    assert not net.training
    x_hat = torch.rand(2, 3, 8, 8, requires_grad=True)
    loss(x_hat, torch.rand(2, 3, 8, 8)).backward()
    assert x_hat.grad is not None and x_hat.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())


def test_gradcheck_in_float64() -> None:
    torch.manual_seed(2)
    net = _TwoTaps().double()
    loss = Perceptual(net)
    x = torch.rand(1, 3, 7, 7, dtype=torch.float64)
    x_hat = torch.rand(1, 3, 7, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: loss(a, x), (x_hat,))


def test_bad_input_is_refused() -> None:
    loss = Perceptual(_TwoTaps())
    with pytest.raises(ValueError, match=r"x_hat and x must be images of one shape"):
        loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(TypeError, match=r"feature_net must be a torch\.nn\.Module"):
        Perceptual(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="layer_weights must have one entry per feature map"):
        Perceptual(_TwoTaps(), layer_weights=[1.0])(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="input_scale must be positive"):
        Perceptual(_TwoTaps(), input_scale=[1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="features must be one or more maps"):
        normalized_feature_distance([], [])


def test_traces_under_compile_fullgraph() -> None:
    loss = Perceptual(_TwoTaps())
    x_hat, x = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    compiled = torch.compile(loss, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x_hat, x), loss(x_hat, x))
