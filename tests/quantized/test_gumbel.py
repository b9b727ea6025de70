"""GumbelQuantizer: KL to uniform, temperature schedule, hard samples, eval argmax."""

from __future__ import annotations

import math

import pytest
import torch

from pyautoencoder.quantized import GumbelQuantizer
from pyautoencoder.quantized._gumbel import gumbel_softmax


def test_kl_to_uniform_equals_torch_distributions() -> None:
    torch.manual_seed(0)
    quantizer = GumbelQuantizer(6, 3, kl_weight=2.0).double()
    z = torch.randn(4, 3, 5, dtype=torch.float64)
    out = quantizer(z, update=False)
    logits = quantizer.to_logits(z.movedim(1, -1))  # [4, 5, 6]
    q = torch.distributions.Categorical(logits=logits)
    uniform = torch.distributions.Categorical(probs=torch.full((6,), 1 / 6, dtype=torch.float64))
    kl = torch.distributions.kl_divergence(q, uniform).sum(dim=1).mean()
    torch.testing.assert_close(out.diagnostics["kl_to_uniform"], kl.detach())
    torch.testing.assert_close(out.loss, 2.0 * kl)
    assert torch.equal(out.indices, logits.argmax(dim=-1))  # no sampling: the argmax code


def test_temperature_follows_the_schedule_per_update() -> None:
    quantizer = GumbelQuantizer(4, 2, temperature=2.0, min_temperature=0.5, anneal_rate=0.1)
    z = torch.randn(3, 2)
    temperatures = [float(quantizer(z, update=True).diagnostics["temperature"]) for _ in range(30)]
    expected = [max(0.5, 2.0 * math.exp(-0.1 * t)) for t in range(30)]
    assert temperatures == pytest.approx(expected, rel=1e-6)
    quantizer(z, update=False)
    assert int(quantizer.step) == 30


def test_gumbel_samples_follow_the_softmax_probabilities() -> None:
    torch.manual_seed(0)
    logits = torch.tensor([[1.0, 0.0, -1.0, 2.0]]).expand(20000, 4)
    hard = gumbel_softmax(logits, torch.tensor(1.0), hard=True)
    assert bool(((hard == 0) | (hard == 1)).all()) and bool((hard.sum(dim=1) == 1).all())
    frequencies = hard.mean(dim=0)
    torch.testing.assert_close(frequencies, torch.softmax(logits[0], dim=0), atol=0.015, rtol=0)


def test_hard_samples_pass_the_soft_gradient() -> None:
    torch.manual_seed(1)
    logits = torch.randn(5, 4, requires_grad=True)
    weights = torch.randn(5, 4)
    torch.manual_seed(2)
    (hard_grad,) = torch.autograd.grad(
        (gumbel_softmax(logits, torch.tensor(0.7), True) * weights).sum(), logits
    )
    torch.manual_seed(2)
    (soft_grad,) = torch.autograd.grad(
        (gumbel_softmax(logits, torch.tensor(0.7), False) * weights).sum(), logits
    )
    torch.testing.assert_close(hard_grad, soft_grad)
