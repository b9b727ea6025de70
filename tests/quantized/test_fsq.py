"""FSQ (Mentzer et al. 2023): bounded rounding, index <-> code bijection, no loss."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyautoencoder.quantized import FSQ


@pytest.mark.parametrize("levels", [[8, 5, 5, 5], [2, 3], [7]])
def test_index_code_bijection_covers_the_grid(levels: list[int]) -> None:
    fsq = FSQ(levels).double()
    codes = fsq.codes_from_indices(torch.arange(fsq.num_codes))  # [K, d]
    # the grid by hand: channel i takes (j - floor(L/2)) / floor(L/2), j = 0 .. L-1
    axes = [[(j - L // 2) / (L // 2) for j in range(L)] for L in levels]
    grid = {tuple(point[::-1]) for point in itertools.product(*axes[::-1])}
    assert fsq.num_codes == math.prod(levels) == len(grid)
    assert {tuple(row.tolist()) for row in codes} == grid
    # quantising a grid point returns it and its index (round trip both ways)
    out = fsq(
        torch.atanh((codes * (codes.new_tensor(levels) // 2) + fsq.offset) / fsq.scale) - fsq.shift
    )
    assert torch.equal(out.indices, torch.arange(fsq.num_codes))
    torch.testing.assert_close(out.z_q, codes)


def test_rounding_matches_the_formula_and_passes_gradients_straight() -> None:
    fsq = FSQ([8, 5]).double()
    z = torch.randn(50, 2, dtype=torch.float64, requires_grad=True)
    out = fsq(z)
    # f(z) = h tanh(z + s) - o by hand, h = (L-1)(1+eps)/2, o = 1/2 for even L, s = atanh(o/h)
    expected = []
    for i, L in enumerate([8, 5]):
        h = (L - 1) * (1 + 1e-3) / 2
        o = 0.5 if L % 2 == 0 else 0.0
        f = h * torch.tanh(z[:, i].detach() + math.atanh(o / h)) - o
        expected.append(torch.round(f) / (L // 2))
    torch.testing.assert_close(out.z_q.detach(), torch.stack(expected, dim=1))
    assert float(out.loss) == 0.0
    (grad,) = torch.autograd.grad(out.z_q.sum(), z)
    # straight-through rounding: d/dz [h tanh(z + s) / floor(L/2)]
    h = torch.tensor([3.5035, 2.002], dtype=torch.float64)
    s = torch.tensor([math.atanh(0.5 / 3.5035), 0.0], dtype=torch.float64)
    torch.testing.assert_close(
        grad,
        h * (1 - torch.tanh(z.detach() + s) ** 2) / torch.tensor([4.0, 2.0], dtype=torch.float64),
    )


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(2, 9), min_size=1, max_size=4),
    st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
)
def test_extreme_inputs_give_valid_codes_and_round_trip(levels: list[int], value: float) -> None:
    fsq = FSQ(levels)
    z = torch.full((3, len(levels)), value) + torch.linspace(-1, 1, 3).unsqueeze(1)
    out = fsq(z)
    assert torch.isfinite(out.z_q).all() and out.z_q.abs().max() <= 1.0
    assert int(out.indices.min()) >= 0 and int(out.indices.max()) < fsq.num_codes
    torch.testing.assert_close(fsq.codes_from_indices(out.indices), out.z_q)


def test_random_inputs_reach_every_code() -> None:
    fsq = FSQ([4, 3, 2])
    z = 2 * torch.randn(4000, 3, generator=torch.Generator().manual_seed(0))
    used = torch.unique(fsq(z).indices)
    assert used.numel() == fsq.num_codes  # no codebook, no collapse
