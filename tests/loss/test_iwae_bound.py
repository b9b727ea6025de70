"""The importance-weighted bound helpers."""

from __future__ import annotations

import math

import torch

from pyautoencoder.loss._iwae_bound import effective_sample_size, iwae_bound


def test_bound_is_stable_for_huge_log_weights() -> None:
    log_w = torch.tensor([[-1000.0, -1001.0], [800.0, 800.0]])
    expected = torch.tensor([-1000.0 + math.log((1 + math.exp(-1)) / 2), 800.0])
    torch.testing.assert_close(iwae_bound(log_w), expected)


def test_effective_sample_size_bounds() -> None:
    equal = torch.zeros(1, 8)
    degenerate = torch.tensor([[0.0] + [-1e4] * 7])
    torch.testing.assert_close(effective_sample_size(equal), torch.tensor([8.0]))
    torch.testing.assert_close(effective_sample_size(degenerate), torch.tensor([1.0]))
