r"""``tiled``: run an image-to-image network on overlapping tiles and blend the seams.

For inputs too large to encode or decode at once (a 2048x2048 photograph through a conv
autoencoder), the input ``[B, C, H, W]`` is cut into ``tile_size x tile_size`` tiles whose
starts are ``tile_size - tile_overlap`` apart (the last tile of a row or column is moved back
to end at the border), each tile goes through ``fn``, and the outputs are averaged with
weights that ramp linearly across the overlap,

.. math::

    y = \frac{\sum_t w_t \cdot \mathrm{pad}_t(f(x_t))}{\sum_t w_t}, \qquad
    w_t(i, j) = r(i)\,r(j), \quad
    r(i) = \min\Big(1, \frac{i + 1/2}{o}, \frac{n - i - 1/2}{o}\Big),

``o`` the overlap and ``n`` the tile side in output pixels. Weights are positive everywhere,
so every output pixel is a convex combination of its tiles' outputs; a pointwise network is
reproduced exactly, a network with a receptive field smaller than the overlap nearly so
(tested). The output scale ``s`` (``1/f`` for an encoder that downsamples ``f`` times, ``f``
for a decoder) is read from the first tile's output; tile starts must map to whole output
pixels (``tile_size`` and ``tile_size - tile_overlap`` multiples of ``f`` for an encoder).
Tiles go through ``fn`` in batches of ``tiles_per_batch`` tiles, and the batch of inputs is
sliced into ``batch_size`` chunks, which bounds memory by one chunk of tiles.

Tiling is exact only for networks whose output at a pixel depends on a neighbourhood smaller
than the overlap. Normalisation over the whole image (GroupNorm statistics, as in
:class:`ResNetEncoder`) and self-attention see only the tile, so their tiled outputs differ
from the untiled ones more (on a small random-weight ResNet autoencoder, by a mean-scale
amount); use tiling there only for inputs that cannot be processed at once.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import torch

from .._validation import check_positive_int, check_tensor


def _starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile starts covering ``[0, length)``: every ``stride``, the last one ending at ``length``."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(size: int, overlap: float, like: torch.Tensor) -> torch.Tensor:
    """``r(i)`` of the module docstring, ``[size]``."""
    i = torch.arange(size, dtype=like.dtype, device=like.device) + 0.5
    if overlap <= 0:
        return torch.ones(size, dtype=like.dtype, device=like.device)
    return torch.minimum(torch.minimum(i / overlap, (size - i) / overlap), torch.ones_like(i))


def _output_index(position: int, scale: Fraction, what: str) -> int:
    value = position * scale
    if value.denominator != 1:
        raise ValueError(
            f"{what} {position} does not map to a whole output pixel at scale {scale}: make "
            f"tile_size and tile_size - tile_overlap multiples of {scale.denominator}"
        )
    return int(value)


def tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    tile_size: int,
    tile_overlap: int = 0,
    tiles_per_batch: int = 8,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Apply ``fn`` to overlapping tiles of ``x`` and blend them (see the module docstring).

    Parameters
    ----------
    fn : callable
        ``[N, C, h, w] -> [N, C', s h, s w]`` for a fixed scale ``s`` (an encoder's
        ``_encode`` on images, a decoder on latent maps).
    x : Tensor ``[B, C, H, W]``
        The input.
    tile_size : int
        Side of the square tiles, in input pixels.
    tile_overlap : int
        Pixels shared by neighbouring tiles (``0 <= tile_overlap < tile_size``).
    tiles_per_batch : int
        Tiles per call of ``fn``.
    batch_size : int, optional
        Examples of ``x`` handled at once (default: all).

    Returns
    -------
    Tensor ``[B, C', s H, s W]``
    """
    x = check_tensor(x, "x")
    if x.dim() != 4:
        raise ValueError(f"x must be [B, C, H, W], got shape {tuple(x.shape)}")
    tile_size = check_positive_int(tile_size, "tile_size")
    tiles_per_batch = check_positive_int(tiles_per_batch, "tiles_per_batch")
    if not 0 <= tile_overlap < tile_size:
        raise ValueError(f"tile_overlap must be in [0, tile_size={tile_size}), got {tile_overlap}")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
        if batch_size < x.shape[0]:
            chunks = [
                tiled(
                    fn,
                    part,
                    tile_size=tile_size,
                    tile_overlap=tile_overlap,
                    tiles_per_batch=tiles_per_batch,
                )
                for part in x.split(batch_size)
            ]
            return torch.cat(chunks)
    height, width = x.shape[-2:]
    stride = tile_size - tile_overlap
    boxes = [
        (top, left, min(tile_size, height), min(tile_size, width))
        for top in _starts(height, tile_size, stride)
        for left in _starts(width, tile_size, stride)
    ]
    output: torch.Tensor | None = None
    weight_sum: torch.Tensor | None = None
    scale = Fraction(1)
    for first in range(0, len(boxes), tiles_per_batch):
        group = boxes[first : first + tiles_per_batch]
        tiles = torch.cat([x[..., t : t + h, s : s + w] for t, s, h, w in group])
        results = fn(tiles).split(x.shape[0])
        for (top, left, tile_h, tile_w), result in zip(group, results):
            if output is None or weight_sum is None:
                scale = Fraction(result.shape[-1], tile_w)
                if Fraction(result.shape[-2], tile_h) != scale:
                    raise ValueError(
                        f"fn must scale both sides alike, got {tile_h}x{tile_w} -> "
                        f"{tuple(result.shape[-2:])}"
                    )
                out_h = _output_index(height, scale, "height")
                out_w = _output_index(width, scale, "width")
                output = result.new_zeros(*result.shape[:2], out_h, out_w)
                weight_sum = result.new_zeros(out_h, out_w)
                _output_index(stride, scale, "tile stride")
                _output_index(tile_size, scale, "tile_size")
            out_top = _output_index(top, scale, "tile start")
            out_left = _output_index(left, scale, "tile start")
            overlap = float(tile_overlap * scale)
            weight = torch.outer(
                _ramp(result.shape[-2], overlap, result), _ramp(result.shape[-1], overlap, result)
            )
            rows = slice(out_top, out_top + result.shape[-2])
            cols = slice(out_left, out_left + result.shape[-1])
            output[..., rows, cols] += weight * result
            weight_sum[rows, cols] += weight
    assert output is not None and weight_sum is not None
    return output / weight_sum
