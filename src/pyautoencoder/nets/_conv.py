"""Convolutional encoder and decoder for images ``[B, C, H, W]``, built from a config.

Every convolution is ``kernel 4, stride 2, padding 1``: it maps a side of ``n`` pixels to
``floor(n / 2)``. The decoder's transposed convolutions (same kernel, stride and padding) map
``m`` to ``2 m + p`` with an output padding ``p`` in ``{0, 1}`` chosen per layer and per side,
so that the decoder retraces the encoder's sizes exactly for any image size, odd sides
included (``28 -> 14 -> 7 -> 3`` and back ``3 -> 7 -> 14 -> 28``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._common import (
    ConfigMixin,
    check_shape,
    check_size,
    check_sizes,
    linear_stack,
    make_activation,
)

_KERNEL, _STRIDE, _PADDING = 4, 2, 1


def conv_sizes(height: int, width: int, num_layers: int, name: str) -> list[tuple[int, int]]:
    """Spatial sizes ``[(H_0, W_0), ..., (H_L, W_L)]`` through ``num_layers`` stride-2 convs."""
    sizes = [(height, width)]
    for _ in range(num_layers):
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    if min(sizes[-1]) < 1:
        trace = " -> ".join(f"{h}x{w}" for h, w in sizes)
        raise ValueError(
            f"{name} {height}x{width} is too small for {num_layers} stride-2 convolutions "
            f"({trace}); use fewer channels entries or larger images"
        )
    return sizes


class ConvEncoder(ConfigMixin, nn.Module):
    """Stride-2 convolutions, then fully connected layers: ``[B, C, H, W] -> [B, F]``.

    Layers: ``(Conv2d(k=4, s=2, p=1) -> activation)`` per entry of ``channels``, ``Flatten``,
    ``(Linear -> activation)`` per entry of ``hidden``, then ``Linear(out_features)`` without
    activation when ``out_features`` is given. Each convolution halves the sides (rounding
    down), so ``H`` and ``W`` must be at least ``2 ** len(channels)``.

    Output ``[B, out_features]``; with ``out_features=None`` it is the last hidden layer after
    its activation ``[B, hidden[-1]]`` (or the flattened feature maps when ``hidden`` is empty).

    Parameters
    ----------
    input_shape : sequence of int
        ``(C, H, W)``.
    channels : sequence of int
        Output channels of each convolution, input side first.
    out_features : int, optional
        Width of a final linear layer (no activation).
    hidden : sequence of int
        Widths of fully connected layers after the convolutions (may be empty).
    activation : str
        Name of the activation after each convolution and hidden layer.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        channels: Sequence[int] = (32, 64),
        out_features: int | None = None,
        hidden: Sequence[int] = (),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        shape = check_shape(input_shape, "input_shape", ndim=3)
        conv_channels = check_sizes(channels, "channels", allow_empty=False)
        widths = check_sizes(hidden, "hidden", allow_empty=True)
        if out_features is not None:
            check_size(out_features, "out_features")
        make_activation(activation)
        self._register_config(
            input_shape=shape,
            channels=conv_channels,
            out_features=out_features,
            hidden=widths,
            activation=activation,
        )
        self.input_shape = shape
        sizes = conv_sizes(shape[1], shape[2], len(conv_channels), "input_shape")
        layers: list[nn.Module] = []
        in_channels = shape[0]
        for out_channels in conv_channels:
            layers.append(nn.Conv2d(in_channels, out_channels, _KERNEL, _STRIDE, _PADDING))
            layers.append(make_activation(activation))
            in_channels = out_channels
        layers.append(nn.Flatten())
        flat = in_channels * sizes[-1][0] * sizes[-1][1]
        dense = [flat, *widths]
        layers.extend(linear_stack(dense, activation, final_activation=True))
        if out_features is not None:
            layers.append(nn.Linear(dense[-1], out_features))
        self.out_features = dense[-1] if out_features is None else out_features
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, out_features]``."""
        return self.layers(x)


class ConvDecoder(ConfigMixin, nn.Module):
    """Fully connected layers, then stride-2 transposed convolutions: ``[N, D] -> [N, C, H, W]``.

    The mirror of :class:`ConvEncoder` with the same ``channels`` (given in the *encoder's*
    order; the decoder runs them in reverse): ``(Linear -> activation)`` per entry of
    ``hidden``, ``Linear -> activation`` to ``channels[-1]`` maps of the encoder's smallest
    size, then one ``ConvTranspose2d(k=4, s=2, p=1)`` per entry, each followed by the
    activation except the last, which outputs ``C`` channels with no activation (a Gaussian
    mean or Bernoulli logits). Output paddings are chosen so the output is exactly
    ``output_shape``.

    Parameters
    ----------
    latent_dim : int
        Width of the input (``D_z``).
    channels : sequence of int
        The encoder's channels, input side first.
    output_shape : sequence of int
        ``(C, H, W)``.
    hidden : sequence of int
        Widths of fully connected layers before the convolutions, latent side first.
    activation : str
        Name of the activation.
    """

    def __init__(
        self,
        latent_dim: int,
        channels: Sequence[int],
        output_shape: Sequence[int],
        hidden: Sequence[int] = (),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        latent_dim = check_size(latent_dim, "latent_dim")
        conv_channels = check_sizes(channels, "channels", allow_empty=False)
        shape = check_shape(output_shape, "output_shape", ndim=3)
        widths = check_sizes(hidden, "hidden", allow_empty=True)
        make_activation(activation)
        self._register_config(
            latent_dim=latent_dim,
            channels=conv_channels,
            output_shape=shape,
            hidden=widths,
            activation=activation,
        )
        self.latent_dim = latent_dim
        self.output_shape = shape
        sizes = conv_sizes(shape[1], shape[2], len(conv_channels), "output_shape")
        smallest = (conv_channels[-1], *sizes[-1])
        dense = [latent_dim, *widths, smallest[0] * smallest[1] * smallest[2]]
        layers = [*linear_stack(dense, activation, final_activation=True)]
        layers.append(nn.Unflatten(1, smallest))
        targets = [shape[0], *conv_channels[:-1]]  # output channels of each reversed layer
        for layer in reversed(range(len(conv_channels))):
            (h_out, w_out), (h_in, w_in) = sizes[layer], sizes[layer + 1]
            layers.append(
                nn.ConvTranspose2d(
                    conv_channels[layer],
                    targets[layer],
                    _KERNEL,
                    _STRIDE,
                    _PADDING,
                    output_padding=(h_out - 2 * h_in, w_out - 2 * w_in),
                )
            )
            if layer > 0:
                layers.append(make_activation(activation))
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``[N, latent_dim] -> [N, C, H, W]``."""
        return self.layers(z)
