"""``tiled``: blended tiles against the untiled result of conv networks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pyautoencoder.nets import tiled


def _local_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))


@pytest.mark.parametrize("overlap", [0, 3, 7])
def test_pointwise_network_is_reproduced_exactly(overlap: int) -> None:
    net = nn.Conv2d(3, 5, 1).double()
    x = torch.rand(2, 3, 50, 37, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(tiled(net, x, tile_size=16, tile_overlap=overlap), net(x))


def test_one_tile_covering_the_image_is_the_untiled_result() -> None:
    net = _local_net()
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        torch.testing.assert_close(tiled(net, x, tile_size=32), net(x))


def test_blended_seams_are_far_smaller_than_hard_seams_on_a_conv_net() -> None:
    net = _local_net()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        full = net(x)
        hard = (tiled(net, x, tile_size=16, tile_overlap=0) - full).abs()
        blended = (tiled(net, x, tile_size=16, tile_overlap=8) - full).abs()
    # Away from seams both are exact; the blend shrinks the seam error.
    assert float(blended.mean()) < 0.3 * float(hard.mean())
    assert float(blended.max()) < 0.3 * float(hard.max())
    assert float(blended.mean()) < 0.05 * float(full.abs().mean())


def test_decoder_upsampling_and_encoder_downsampling_scales() -> None:
    up = nn.Sequential(nn.Upsample(scale_factor=4.0), nn.Conv2d(2, 3, 1)).double()
    down = nn.Sequential(nn.AvgPool2d(4), nn.Conv2d(3, 2, 1)).double()
    z = torch.rand(1, 2, 16, 12, dtype=torch.float64)
    x = torch.rand(1, 3, 64, 48, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(tiled(up, z, tile_size=8, tile_overlap=4), up(z))
        torch.testing.assert_close(tiled(down, x, tile_size=32, tile_overlap=16), down(x))
        with pytest.raises(ValueError, match="multiples of 4"):
            tiled(down, x, tile_size=32, tile_overlap=6)


def test_batch_slicing_matches_the_whole_batch() -> None:
    net = _local_net()
    x = torch.rand(5, 3, 24, 24)
    with torch.no_grad():
        whole = tiled(net, x, tile_size=16, tile_overlap=8)
        sliced = tiled(net, x, tile_size=16, tile_overlap=8, batch_size=2, tiles_per_batch=1)
    torch.testing.assert_close(sliced, whole)


def test_bad_arguments_are_refused() -> None:
    net = _local_net()
    with pytest.raises(ValueError, match=r"tile_overlap must be in \[0, tile_size=8\)"):
        tiled(net, torch.rand(1, 3, 16, 16), tile_size=8, tile_overlap=8)
    with pytest.raises(ValueError, match=r"x must be \[B, C, H, W\]"):
        tiled(net, torch.rand(3, 16, 16), tile_size=8)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(4, 20),
    st.integers(0, 19),
    st.integers(1, 40),
    st.integers(1, 40),
)
def test_pointwise_network_is_exact_for_any_tiling(
    tile_size: int, overlap: int, height: int, width: int
) -> None:
    overlap = overlap % tile_size
    net = nn.Conv2d(2, 3, 1).double()
    x = torch.rand(1, 2, height, width, dtype=torch.float64)
    with torch.no_grad():
        out = tiled(net, x, tile_size=tile_size, tile_overlap=overlap, tiles_per_batch=3)
        torch.testing.assert_close(out, net(x))
