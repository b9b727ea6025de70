"""What the regularised deterministic autoencoders share: a likelihood of their own."""

from __future__ import annotations

import torch
from torch import nn

from ..distributions._likelihood import Likelihood, LikelihoodType, get_likelihood
from ._ae import AE
from ._reconstruction import reconstruction_log_likelihood

LikelihoodSpec = LikelihoodType | str | Likelihood


class LikelihoodAE(AE):
    """An :class:`~pyautoencoder.vanilla.AE` that owns its observation model.

    ``likelihood`` (any registered name, a :class:`LikelihoodType` or a
    :class:`~pyautoencoder.distributions.Likelihood`) is resolved once; ``compute_loss`` uses it
    unless it is given another one.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        likelihood: LikelihoodSpec = LikelihoodType.GAUSSIAN,
    ) -> None:
        super().__init__(encoder, decoder)
        self.likelihood = get_likelihood(likelihood)

    def mean_log_likelihood(
        self, x: torch.Tensor, x_hat: torch.Tensor, likelihood: LikelihoodSpec | None
    ) -> torch.Tensor:
        """``mean_b sum_j log p(x_bj | x_hat_bj)`` (0-dim); ``None`` uses the model's likelihood."""
        spec = self.likelihood if likelihood is None else likelihood
        return reconstruction_log_likelihood(x, x_hat, spec).mean()


def check_code(z: torch.Tensor, model: str) -> None:
    """Raise ``ValueError`` unless the code is at least ``[B, D_z]``."""
    if z.dim() < 2:
        raise ValueError(
            f"{model} needs a code of shape [B, D_z, ...] from the encoder, got shape "
            f"{tuple(z.shape)}"
        )
