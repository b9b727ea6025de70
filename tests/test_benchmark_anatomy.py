"""The step-anatomy benchmark's inline copy computes exactly our VAE step's objective.

``benchmarks/step_anatomy.py`` attributes the gap between our step and a hand-written one to
tensor operations or to Python by timing an inline copy of our step's operations; that is only
meaningful if the copy computes the same thing, to the bit, from the same random draws.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import step_anatomy  # benchmarks/ is a folder of scripts, not a package

from pyautoencoder.variational import VAE


def _model() -> VAE:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(12, 8), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 12))
    model = VAE(encoder, decoder, 3, likelihood="bernoulli")
    model.build(torch.zeros(2, 12))
    return model


def _batch() -> torch.Tensor:
    return torch.bernoulli(torch.full((5, 12), 0.4), generator=torch.Generator().manual_seed(1))


def _ours_and(
    loss_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Our objective and ``loss_fn(model, x)`` on one model and batch from the same draws."""
    model, x = _model(), _batch()
    torch.manual_seed(3)
    ours = model.compute_loss(x, model(x)).objective
    torch.manual_seed(3)
    return ours, loss_fn(model, x)


def test_the_inline_copy_is_our_objective_bit_for_bit() -> None:
    ours, inline = _ours_and(step_anatomy.lean_loss)
    assert torch.equal(inline, ours)


def test_the_hand_written_loss_is_the_same_bound_up_to_rounding() -> None:
    ours, hand = _ours_and(step_anatomy.hand_loss)
    torch.testing.assert_close(hand, ours, rtol=1e-6, atol=1e-5)


def test_every_variant_trains_the_same_instance() -> None:
    model, x = _model(), _batch()
    losses = step_anatomy.variants(model)
    assert list(losses) == [
        "hand-written loss",
        "our ops, inline",
        f"our ops + {step_anatomy.EMPTY_CALLS} empty calls",
        "ours, checks off",
        "ours, checks on",
    ]
    for name, loss_fn in losses.items():
        model.zero_grad(set_to_none=True)
        loss = loss_fn(x)
        loss.backward()
        assert loss.shape == (), name
        assert all(p.grad is not None for p in model.parameters()), name
    assert model.value_checks is True  # the last variant leaves the default on
