r"""ResNet-block convolutional encoder and decoder with spatial latents (latent-diffusion style).

The layout of the KL/VQ autoencoders of Esser et al. (2021, VQGAN) and Rombach et al. (2022,
latent diffusion), written from the papers' descriptions: residual blocks (He et al. 2016)
with GroupNorm (Wu & He 2018) and SiLU, a stride-2 convolution between resolution stages,
a middle of ``block - self-attention - block`` at the lowest resolution, and a final
``GroupNorm - SiLU - Conv3x3``. With ``channels = (c_1, ..., c_K)`` the encoder maps
``[B, C, H, W]`` to ``[B, out_channels, H / 2^(K-1), W / 2^(K-1)]`` and the decoder back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ._common import ConfigMixin, check_size, check_sizes


def _group_norm(channels: int, groups: int) -> nn.GroupNorm:
    if channels % groups:
        raise ValueError(
            f"norm_groups={groups} must divide every channel count, got {channels} channels; "
            f"pass norm_groups that divides all of channels"
        )
    return nn.GroupNorm(groups, channels, eps=1e-6)


class ResidualBlock(nn.Module):
    """``x + Conv3x3(SiLU(GN(Conv3x3(SiLU(GN(x))))))``, a 1x1 skip when channels change."""

    def __init__(self, in_channels: int, out_channels: int, groups: int) -> None:
        super().__init__()
        self.norm1 = _group_norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _group_norm(out_channels, groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, H, W] -> [B, C_out, H, W]``."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention2d(nn.Module):
    """Single-head self-attention over the ``H * W`` positions, residual: ``x + proj(attn)``."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = _group_norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, C, H, W]``."""
        batch, channels, height, width = x.shape
        qkv = self.qkv(self.norm(x)).reshape(batch, 3, channels, height * width)
        q, k, v = (qkv[:, i].transpose(1, 2).unsqueeze(1) for i in range(3))  # [B, 1, HW, C]
        attended = F.scaled_dot_product_attention(q, k, v)  # [B, 1, HW, C]
        attended = attended.squeeze(1).transpose(1, 2).reshape(batch, channels, height, width)
        return x + self.proj(attended)


def _middle(channels: int, groups: int, attention: bool) -> nn.Sequential:
    layers: list[nn.Module] = [ResidualBlock(channels, channels, groups)]
    if attention:
        layers.append(SelfAttention2d(channels, groups))
    layers.append(ResidualBlock(channels, channels, groups))
    return nn.Sequential(*layers)


def _check_common(
    channels: Sequence[int], blocks_per_stage: int, norm_groups: int
) -> tuple[tuple[int, ...], int, int]:
    widths = check_sizes(channels, "channels", allow_empty=False)
    blocks = check_size(blocks_per_stage, "blocks_per_stage")
    groups = check_size(norm_groups, "norm_groups")
    for width in widths:
        _group_norm(width, groups)
    return widths, blocks, groups


class ResNetEncoder(ConfigMixin, nn.Module):
    """Images ``[B, C, H, W]`` to feature maps ``[B, out_channels, H / f, W / f]``.

    ``f = 2^(len(channels) - 1)``. Layers: ``Conv3x3(C -> channels[0])``; per stage ``k``,
    ``blocks_per_stage`` residual blocks to ``channels[k]`` followed (except after the last
    stage) by a stride-2 ``Conv3x3``; the middle ``block (- attention) - block``; then
    ``GroupNorm - SiLU - Conv3x3(-> out_channels)``. For a diagonal-Gaussian latent with
    ``latent_channels`` maps pass ``out_channels = 2 * latent_channels`` (means, log-variances).

    Parameters
    ----------
    in_channels : int
        ``C``.
    channels : sequence of int
        Width of each resolution stage, finest first.
    out_channels : int
        Channels of the output map.
    blocks_per_stage : int
        Residual blocks per stage.
    attention : bool
        Self-attention in the middle (lowest resolution).
    norm_groups : int
        GroupNorm groups; must divide every entry of ``channels``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int] = (64, 128, 256),
        out_channels: int = 8,
        blocks_per_stage: int = 1,
        attention: bool = True,
        norm_groups: int = 32,
    ) -> None:
        super().__init__()
        in_channels = check_size(in_channels, "in_channels")
        out_channels = check_size(out_channels, "out_channels")
        widths, blocks, groups = _check_common(channels, blocks_per_stage, norm_groups)
        self._register_config(
            in_channels=in_channels,
            channels=widths,
            out_channels=out_channels,
            blocks_per_stage=blocks,
            attention=bool(attention),
            norm_groups=groups,
        )
        self.downsampling = 2 ** (len(widths) - 1)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1)]
        current = widths[0]
        for stage, width in enumerate(widths):
            for _ in range(blocks):
                layers.append(ResidualBlock(current, width, groups))
                current = width
            if stage < len(widths) - 1:
                layers.append(nn.Conv2d(current, current, 3, stride=2, padding=1))
        layers.append(_middle(current, groups, attention))
        layers += [
            _group_norm(current, groups),
            nn.SiLU(),
            nn.Conv2d(current, out_channels, 3, padding=1),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, out_channels, H / f, W / f]``."""
        if x.dim() != 4 or x.shape[-2] % self.downsampling or x.shape[-1] % self.downsampling:
            raise ValueError(
                f"x must be images [B, C, H, W] with H and W divisible by {self.downsampling} "
                f"(2^(len(channels) - 1)), got shape {tuple(x.shape)}"
            )
        return self.layers(x)


class ResNetDecoder(ConfigMixin, nn.Module):
    """Latent maps ``[B, latent_channels, h, w]`` to images ``[B, out_channels, h f, w f]``.

    The mirror of :class:`ResNetEncoder` with the same ``channels`` (encoder order):
    ``Conv3x3(latent_channels -> channels[-1])``, the middle, then per stage from the coarsest
    ``blocks_per_stage + 1`` residual blocks and (except after the finest) nearest-neighbour
    2x upsampling followed by a ``Conv3x3``; then ``GroupNorm - SiLU - Conv3x3(->
    out_channels)`` with no output activation (Gaussian means or Bernoulli logits).

    Parameters
    ----------
    latent_channels : int
        Channels of the latent map.
    channels : sequence of int
        The encoder's stage widths, finest first.
    out_channels : int
        Image channels.
    blocks_per_stage, attention, norm_groups
        As for :class:`ResNetEncoder`.
    """

    def __init__(
        self,
        latent_channels: int,
        channels: Sequence[int] = (64, 128, 256),
        out_channels: int = 3,
        blocks_per_stage: int = 1,
        attention: bool = True,
        norm_groups: int = 32,
    ) -> None:
        super().__init__()
        latent_channels = check_size(latent_channels, "latent_channels")
        out_channels = check_size(out_channels, "out_channels")
        widths, blocks, groups = _check_common(channels, blocks_per_stage, norm_groups)
        self._register_config(
            latent_channels=latent_channels,
            channels=widths,
            out_channels=out_channels,
            blocks_per_stage=blocks,
            attention=bool(attention),
            norm_groups=groups,
        )
        self.upsampling = 2 ** (len(widths) - 1)
        current = widths[-1]
        layers: list[nn.Module] = [
            nn.Conv2d(latent_channels, current, 3, padding=1),
            _middle(current, groups, attention),
        ]
        for stage in reversed(range(len(widths))):
            for _ in range(blocks + 1):
                layers.append(ResidualBlock(current, widths[stage], groups))
                current = widths[stage]
            if stage > 0:
                layers += [
                    nn.Upsample(scale_factor=2.0, mode="nearest"),
                    nn.Conv2d(current, current, 3, padding=1),
                ]
        layers += [
            _group_norm(current, groups),
            nn.SiLU(),
            nn.Conv2d(current, out_channels, 3, padding=1),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, latent_channels, h, w] -> [B, out_channels, h f, w f]``."""
        if z.dim() != 4:
            raise ValueError(f"z must be latent maps [B, C, h, w], got shape {tuple(z.shape)}")
        return self.layers(z)


def _resnet_layout(name: str, shape: tuple[int, ...], channels: tuple[int, ...]) -> tuple[int, int]:
    """``(f, groups)``: the down-sampling factor and GroupNorm groups, with the shape checked."""
    if len(shape) != 3:
        raise ValueError(f"net='resnet' needs input_shape (C, H, W), got {shape}")
    factor = 2 ** (len(channels) - 1)
    if shape[1] % factor or shape[2] % factor:
        raise ValueError(
            f"net='resnet' with {len(channels)} stages needs H and W divisible by {factor}, "
            f"got input_shape {shape} for model {name!r}"
        )
    return factor, math.gcd(32, *channels)


def resnet_map_networks(
    name: str, shape: tuple[int, ...], channels: tuple[int, ...], latent_channels: int
) -> tuple[nn.Module, nn.Module, tuple[int, int, int]]:
    """``create_model(net="resnet")``'s networks around latent maps (no flattening).

    Encoder: ``ResNetEncoder`` with ``2 * latent_channels`` output maps (the model's ``1 x 1``
    heads read means and log-variances from them, as in latent diffusion's KL autoencoder);
    decoder: ``ResNetDecoder`` from ``latent_channels`` maps. Returns them with the latent
    shape ``(latent_channels, H / f, W / f)``.
    """
    factor, groups = _resnet_layout(name, shape, channels)
    encoder = ResNetEncoder(shape[0], channels, 2 * latent_channels, norm_groups=groups)
    decoder = ResNetDecoder(latent_channels, channels, shape[0], norm_groups=groups)
    return encoder, decoder, (latent_channels, shape[1] // factor, shape[2] // factor)


def resnet_networks(
    name: str,
    shape: tuple[int, ...],
    latent_dim: int,
    channels: tuple[int, ...],
    latent_channels: int,
    latent: str,
) -> tuple[nn.Module, nn.Module]:
    """``create_model(net="resnet")``'s encoder and decoder around a flat latent.

    Encoder: ``ResNetEncoder -> Flatten`` (``[B, latent_channels * h * w]`` features), plus a
    ``Linear`` to ``latent_dim`` for ``latent="code"`` models. Decoder: ``Linear(latent_dim ->
    latent_channels * h * w) -> Unflatten -> ResNetDecoder``.
    """
    factor, groups = _resnet_layout(name, shape, channels)
    maps = (latent_channels, shape[1] // factor, shape[2] // factor)
    flat = maps[0] * maps[1] * maps[2]
    encoder_layers: list[nn.Module] = [
        ResNetEncoder(shape[0], channels, latent_channels, norm_groups=groups),
        nn.Flatten(),
    ]
    if latent == "code":
        encoder_layers.append(nn.Linear(flat, latent_dim))
    decoder = nn.Sequential(
        nn.Linear(latent_dim, flat),
        nn.Unflatten(1, maps),
        ResNetDecoder(latent_channels, channels, shape[0], norm_groups=groups),
    )
    return nn.Sequential(*encoder_layers), decoder
