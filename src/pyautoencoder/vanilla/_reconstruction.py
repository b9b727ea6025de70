"""Reconstruction log-likelihood summed per example: shared by the deterministic models."""

from __future__ import annotations

import torch

from .._validation import check_nonempty_batch, check_tensor
from ..distributions._likelihood import (
    Likelihood,
    LikelihoodType,
    get_likelihood,
    same_shape_likelihood,
)


def reconstruction_log_likelihood(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
) -> torch.Tensor:
    """``sum_features log p(x | x_hat)`` per example, shape ``[B]``.

    Validates like :func:`pyautoencoder.loss.log_likelihood` (shape first, then the name, then
    values) and rejects an empty batch.
    """
    check_tensor(x, "x")
    check_tensor(x_hat, "x_hat")
    check_nonempty_batch(x)
    if (
        not isinstance(likelihood, Likelihood)
        and same_shape_likelihood(likelihood)
        and x.shape != x_hat.shape
    ):
        raise ValueError(
            f"x and output.x_hat must have the same shape, got x {tuple(x.shape)} and "
            f"x_hat {tuple(x_hat.shape)}"
        )
    model = get_likelihood(likelihood)
    return model.checked_log_prob_sum(x, x_hat, start_dim=1)  # [B]
