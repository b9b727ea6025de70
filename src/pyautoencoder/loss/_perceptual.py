r"""Perceptual (LPIPS-style) distance over a feature network the user supplies.

Zhang et al. (2018), "The unreasonable effectiveness of deep features as a perceptual metric",
eq. (1): for feature maps ``f^l(x) in R^{C_l x H_l x W_l}`` of layers ``l = 1..L``, normalise
each spatial position's channel vector to unit length,
``u^l_{hw} = f^l_{hw} / (||f^l_{hw}||_2 + eps)``, and score

.. math::

    d(x, \hat x) = \sum_{l} \frac{1}{H_l W_l} \sum_{h, w}
        \big\| w_l \odot (u^l_{hw}(x) - u^l_{hw}(\hat x)) \big\|_2^2,

with per-layer weights ``w_l`` (a scalar or one weight per channel; LPIPS learns them, here
they default to 1, which is the paper's "baseline" variant).

The library ships **no pretrained weights**. Pass any module that maps images to a feature map
or a list of feature maps, e.g. the first blocks of a VGG-16 you have loaded yourself::

    vgg = my_vgg16_with_imagenet_weights().features      # your own weights
    taps = [3, 8, 15, 22, 29]                             # relu1_2 .. relu5_3

    class VGGFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = torch.nn.ModuleList(
                vgg[a:b] for a, b in zip([0] + taps[:-1], [t + 1 for t in taps])
            )

        def forward(self, x):
            feats = []
            for block in self.blocks:
                x = block(x)
                feats.append(x)
            return feats

    perceptual = Perceptual(VGGFeatures(), input_shift=..., input_scale=...)

Input normalisation (ImageNet means, a [-1, 1] range) is the feature network's business:
``input_shift`` / ``input_scale`` apply ``(x - shift) / scale`` per channel before it, for the
common case.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._validation import check_floating, check_module, check_tensor


def _as_list(features: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(features, torch.Tensor):
        return [features]
    return list(features)


def normalized_feature_distance(
    features_a: Sequence[torch.Tensor],
    features_b: Sequence[torch.Tensor],
    layer_weights: Sequence[torch.Tensor | float] | None = None,
    eps: float = 1e-10,
) -> torch.Tensor:
    """LPIPS distance from precomputed feature maps (eq. 1 of Zhang et al. 2018), ``[B]``.

    Parameters
    ----------
    features_a, features_b : sequence of Tensor ``[B, C_l, H_l, W_l]``
        The same layers' maps for the two image batches.
    layer_weights : sequence of float or Tensor ``[C_l]``, optional
        ``w_l`` per layer (default 1 everywhere).
    eps : float
        Added to the channel norm before dividing.
    """
    if len(features_a) != len(features_b) or not features_a:
        raise ValueError(
            f"features must be one or more maps per input, got {len(features_a)} and "
            f"{len(features_b)}"
        )
    if layer_weights is not None and len(layer_weights) != len(features_a):
        raise ValueError(
            f"layer_weights must have one entry per feature map ({len(features_a)}), "
            f"got {len(layer_weights)}"
        )
    total: torch.Tensor | None = None
    for index, (map_a, map_b) in enumerate(zip(features_a, features_b)):
        if map_a.dim() != 4 or map_a.shape != map_b.shape:
            raise ValueError(
                f"feature map {index} must have shape [B, C, H, W] for both inputs, got "
                f"{tuple(map_a.shape)} and {tuple(map_b.shape)}"
            )
        unit_a = map_a / (map_a.norm(dim=1, keepdim=True) + eps)  # [B, C, H, W]
        unit_b = map_b / (map_b.norm(dim=1, keepdim=True) + eps)
        difference = unit_a - unit_b
        if layer_weights is not None:
            weight = torch.as_tensor(
                layer_weights[index], dtype=difference.dtype, device=difference.device
            )
            difference = difference * (weight.view(1, -1, 1, 1) if weight.dim() else weight)
        layer = difference.square().sum(dim=1).mean(dim=(-2, -1))  # [B]
        total = layer if total is None else total + layer
    assert total is not None
    return total


class Perceptual(nn.Module):
    """Perceptual reconstruction loss: mean LPIPS-style distance under ``feature_net``.

    Parameters
    ----------
    feature_net : nn.Module
        Maps images ``[B, C, H, W]`` to one feature map or a list of them (the user's own,
        e.g. a VGG with weights they have; see the module docstring).
    layer_weights : sequence of float or Tensor ``[C_l]``, optional
        Per-layer (or per-channel) weights ``w_l``; default 1.
    input_shift, input_scale : sequence of float, optional
        Per-channel ``(x - shift) / scale`` applied to both images before ``feature_net``.
    freeze : bool
        Put ``feature_net`` in eval mode and turn off its parameters' gradients (default), so
        that only the autoencoder trains. Gradients still flow to the images.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    >>> loss = Perceptual(net)
    >>> x = torch.rand(2, 3, 8, 8)
    >>> float(loss(x, x))
    0.0
    """

    input_shift: torch.Tensor
    input_scale: torch.Tensor

    def __init__(
        self,
        feature_net: nn.Module,
        *,
        layer_weights: Sequence[torch.Tensor | float] | None = None,
        input_shift: Sequence[float] | None = None,
        input_scale: Sequence[float] | None = None,
        freeze: bool = True,
        eps: float = 1e-10,
    ) -> None:
        super().__init__()
        check_module(feature_net, "feature_net")
        self.feature_net = feature_net
        if freeze:
            feature_net.eval()
            feature_net.requires_grad_(False)
        self.freeze = freeze
        self.layer_weights = None if layer_weights is None else list(layer_weights)
        self.eps = float(eps)
        shift = torch.zeros(1) if input_shift is None else torch.tensor(list(input_shift))
        scale = torch.ones(1) if input_scale is None else torch.tensor(list(input_scale))
        if not bool((scale > 0).all()):
            raise ValueError(f"input_scale must be positive, got {scale.tolist()}")
        self.register_buffer("input_shift", shift.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("input_scale", scale.view(1, -1, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> Perceptual:
        """Set train mode, keeping a frozen ``feature_net`` in eval mode."""
        super().train(mode)
        if self.freeze:
            self.feature_net.eval()
        return self

    def distance(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-image distance ``[B]``; inputs ``[B, C, H, W]`` of the same shape."""
        x_hat = check_tensor(x_hat, "x_hat")
        x = check_tensor(x, "x")
        check_floating(x_hat, "x_hat")
        if x.dim() != 4 or x_hat.shape != x.shape:
            raise ValueError(
                f"x_hat and x must be images of one shape [B, C, H, W], got "
                f"{tuple(x_hat.shape)} and {tuple(x.shape)}"
            )
        batch = x.shape[0]
        # One pass of the feature net over both batches: [2B, C, H, W].
        both = (torch.cat([x_hat, x.to(x_hat.dtype)], dim=0) - self.input_shift) / self.input_scale
        features = _as_list(self.feature_net(both))
        halves = [f.split(batch, dim=0) for f in features]
        return normalized_feature_distance(
            [h[0] for h in halves], [h[1] for h in halves], self.layer_weights, self.eps
        )

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """0-dim loss: the batch mean of :meth:`distance`."""
        return self.distance(x_hat, x).mean()
