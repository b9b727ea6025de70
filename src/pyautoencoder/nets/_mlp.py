"""Fully connected encoder and decoder built from a config."""

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
    num_features,
)


class MLPEncoder(ConfigMixin, nn.Module):
    """Flatten ``x [B, *input_shape]`` and run it through fully connected layers.

    Layers: ``Flatten -> (Linear -> activation) per entry of hidden -> [Linear(out_features)]``.

    * ``out_features=None``: the output is the last hidden layer after its activation,
      ``[B, hidden[-1]]`` -- the *features* a VAE-family model maps to its latent itself.
    * ``out_features=D``: a final linear layer without activation gives ``[B, D]`` -- the code
      of a deterministic or quantized model.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one example without the batch dimension, e.g. ``(1, 28, 28)`` or ``(784,)``.
    hidden : sequence of int
        Widths of the hidden layers, input side first. May be empty when ``out_features`` is
        given (a single linear map).
    out_features : int, optional
        Width of a final linear layer (no activation); ``None`` for none.
    activation : str
        Name of the activation after each hidden layer (see ``nets.ACTIVATIONS``).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        hidden: Sequence[int] = (512, 256),
        out_features: int | None = None,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        shape = check_shape(input_shape, "input_shape")
        widths = check_sizes(hidden, "hidden", allow_empty=out_features is not None)
        if out_features is not None:
            check_size(out_features, "out_features")
        make_activation(activation)  # reject an unknown name before building anything
        self._register_config(
            input_shape=shape, hidden=widths, out_features=out_features, activation=activation
        )
        self.input_shape = shape
        self.out_features = widths[-1] if out_features is None else out_features
        sizes = [num_features(shape), *widths]
        layers = [nn.Flatten(), *linear_stack(sizes, activation, final_activation=True)]
        if out_features is not None:
            layers.append(nn.Linear(sizes[-1], out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, *input_shape] -> [B, out_features]``."""
        return self.layers(x)


class MLPDecoder(ConfigMixin, nn.Module):
    """Map ``z [N, latent_dim]`` through fully connected layers to ``[N, *output_shape]``.

    Layers: ``(Linear -> activation) per entry of hidden -> Linear(prod(output_shape)) ->
    Unflatten``. The output has no activation: it is the decoder's parameter of ``p(x | z)``
    (a Gaussian mean or Bernoulli logits).

    Parameters
    ----------
    latent_dim : int
        Width of the input (``D_z``, or ``D_z + condition_dim`` for a conditional model).
    hidden : sequence of int
        Widths of the hidden layers, latent side first (the reverse of the encoder's); may be
        empty.
    output_shape : sequence of int
        Shape of one output example without the batch dimension.
    activation : str
        Name of the activation after each hidden layer.
    """

    def __init__(
        self,
        latent_dim: int,
        hidden: Sequence[int],
        output_shape: Sequence[int],
        activation: str = "relu",
    ) -> None:
        super().__init__()
        latent_dim = check_size(latent_dim, "latent_dim")
        widths = check_sizes(hidden, "hidden", allow_empty=True)
        shape = check_shape(output_shape, "output_shape")
        make_activation(activation)
        self._register_config(
            latent_dim=latent_dim, hidden=widths, output_shape=shape, activation=activation
        )
        self.latent_dim = latent_dim
        self.output_shape = shape
        sizes = [latent_dim, *widths, num_features(shape)]
        self.layers = nn.Sequential(
            *linear_stack(sizes, activation, final_activation=False), nn.Unflatten(1, shape)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``[N, latent_dim] -> [N, *output_shape]``."""
        return self.layers(z)
