"""``PatchDiscriminator``: the PatchGAN of Isola et al. (2017), one logit per image patch."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._common import ConfigMixin, check_size

_NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": nn.BatchNorm2d,
    "group": lambda channels: nn.GroupNorm(1, channels),
    "none": lambda channels: nn.Identity(),
}


class PatchDiscriminator(ConfigMixin, nn.Module):
    r"""Fully convolutional discriminator: ``[B, C, H, W] -> logits [B, 1, H', W']``.

    Isola et al. (2017, "Image-to-image translation with conditional adversarial networks",
    Sec. 3.2.2 and Appendix 6.1.2): ``C64 - C128 - C256 - C512`` with 4x4 convolutions,
    LeakyReLU(0.2), normalisation on every layer but the first, then a 4x4 convolution to one
    channel. The first ``num_layers`` convolutions have stride 2, the last two stride 1 (all
    padding 1); with ``num_layers = 3`` each output logit sees a 70x70 patch of the input, the
    paper's choice, which VQGAN (Esser et al. 2021) reuses. Channels double per layer up to
    ``8 * base_channels``.

    The output holds one logit per patch (``log D / (1 - D)``); for the losses of
    :mod:`pyautoencoder.loss`, which take logits ``[B]``, pass ``logits.flatten()`` (every
    patch counts as one sample). Sides: ``H' = floor(H / 2^L) - 2`` for ``L = num_layers``,
    so the input needs at least ``3 * 2^L`` pixels per side.

    Parameters
    ----------
    in_channels : int
        ``C``.
    base_channels : int
        Channels of the first convolution (64 in the paper).
    num_layers : int
        Stride-2 convolutions (3 in the paper).
    norm : {"batch", "group", "none"}
        Normalisation after each convolution but the first and last (batch norm in the paper;
        ``"group"`` is one-group GroupNorm, i.e. layer norm over channels and positions).
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 64,
        num_layers: int = 3,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        in_channels = check_size(in_channels, "in_channels")
        base_channels = check_size(base_channels, "base_channels")
        num_layers = check_size(num_layers, "num_layers")
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {tuple(_NORMS)}, got {norm!r}")
        self._register_config(
            in_channels=in_channels, base_channels=base_channels, num_layers=num_layers, norm=norm
        )
        self.num_layers = num_layers
        make_norm = _NORMS[norm]
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, base_channels, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        channels = base_channels
        for layer in range(1, num_layers + 1):
            out_channels = base_channels * min(2**layer, 8)
            stride = 2 if layer < num_layers else 1
            layers += [
                nn.Conv2d(channels, out_channels, 4, stride=stride, padding=1, bias=norm == "none"),
                make_norm(out_channels),
                nn.LeakyReLU(0.2),
            ]
            channels = out_channels
        layers.append(nn.Conv2d(channels, 1, 4, stride=1, padding=1))
        self.layers = nn.Sequential(*layers)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(H', W')`` of the logit map for an input of ``height x width``."""
        sizes = []
        for side in (height, width):
            for _ in range(self.num_layers):
                side = side // 2
            sizes.append(side - 2)
        return sizes[0], sizes[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, 1, H', W']`` patch logits."""
        if x.dim() != 4:
            raise ValueError(f"x must be images [B, C, H, W], got shape {tuple(x.shape)}")
        smallest = 3 * 2**self.num_layers
        if min(x.shape[-2:]) < smallest:
            raise ValueError(
                f"x must be at least {smallest}x{smallest} pixels for a PatchDiscriminator with "
                f"num_layers={self.num_layers}, got {tuple(x.shape[-2:])}"
            )
        return self.layers(x)
