"""``LatentDiscriminator``: an MLP telling two distributions of codes apart (one logit each).

Lives below the model families so that :class:`~pyautoencoder.variational.FactorVAE` and
:class:`~pyautoencoder.vanilla.AAE` can build it; public as
:class:`pyautoencoder.nets.LatentDiscriminator`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from .._validation import check_positive_int


class LatentDiscriminator(nn.Module):
    r"""MLP ``z [B, D_z] -> logits [B]`` with LeakyReLU(0.2) hidden layers.

    Kim & Mnih (2018, Appendix, Table 1) use five hidden layers of 1000 units and LeakyReLU
    0.2 for FactorVAE's discriminator; Makhzani et al. (2016, Appendix A) two layers of 1000
    ReLU units for the adversarial autoencoder. The logit is ``log D / (1 - D)``, ``D`` the
    probability that ``z`` is "real" (see :mod:`pyautoencoder.loss` for the losses on it).

    Parameters
    ----------
    latent_dim : int
        ``D_z``.
    hidden : sequence of int
        Widths of the hidden layers (at least one).
    """

    def __init__(self, latent_dim: int, hidden: Sequence[int] = (1000, 1000)) -> None:
        super().__init__()
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        widths = [check_positive_int(w, "hidden") for w in hidden]
        if not widths:
            raise ValueError("hidden must name at least one hidden layer width, got ()")
        self.hidden = tuple(widths)
        layers: list[nn.Module] = []
        size = self.latent_dim
        for width in widths:
            layers += [nn.Linear(size, width), nn.LeakyReLU(0.2)]
            size = width
        layers.append(nn.Linear(size, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` for codes ``z [B, D_z]``."""
        if z.dim() != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"z must have shape [B, D_z] with D_z = {self.latent_dim}, got {tuple(z.shape)}"
            )
        return self.net(z).squeeze(-1)


class FeatureDiscriminator(nn.Module):
    """MLP on flattened inputs: ``x [B, ...] -> (logits [B], features [B, F])``.

    The default discriminator of VAE-GAN and VQGAN. ``features`` is the last hidden layer
    (LeakyReLU 0.2), VAE-GAN's ``Dis_l``; the first
    layer is lazy, so the input size comes from the first batch.
    """

    def __init__(self, hidden: Sequence[int]) -> None:
        super().__init__()
        widths = [check_positive_int(w, "discriminator_hidden") for w in hidden]
        if not widths:
            raise ValueError("discriminator_hidden must name at least one width, got ()")
        layers: list[nn.Module] = [nn.Flatten(), nn.LazyLinear(widths[0]), nn.LeakyReLU(0.2)]
        for previous, width in itertools.pairwise(widths):
            layers += [nn.Linear(previous, width), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)  # [B, F]
        return self.head(features).squeeze(-1), features
