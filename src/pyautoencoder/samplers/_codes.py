"""Latent codes of any model, and decoding codes back: what a fitted sampler needs.

A sampler fitted after training models the *aggregate posterior*, the distribution of the
codes ``z = E[q(z | x)]`` (or the code of a deterministic model) over the training data, and
decodes its own draws with the model's decoder.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..evaluation._common import evaluation_mode, iterate_batches, model_device


def has_sample_dim(model: nn.Module) -> bool:
    """Whether ``model.decode`` takes latents ``[N, S, D]`` (VAE family) rather than ``[N, D]``."""
    return callable(getattr(model, "posterior", None))


def latent_codes(model: nn.Module, data: Any, batch_size: int = 256) -> torch.Tensor:
    """The codes ``[N, D]`` of every example of ``data``: posterior means or deterministic codes.

    ``data`` is a tensor ``[N, ...]`` or an iterable of batches (see
    :func:`~pyautoencoder.evaluation.elbo`). Runs in eval mode without gradients.
    """
    encode = getattr(model, "encode", None)
    if not callable(encode):
        raise TypeError(
            f"model must have an encode(x) method to fit a sampler, got {type(model).__name__}"
        )
    chunks = []
    with evaluation_mode(model):
        for x in iterate_batches(data, batch_size, model_device(model)):
            z = encode(x).z  # [B, D] or [B, 1, D] (posterior mean)
            chunks.append(z.reshape(x.shape[0], -1).float())
    codes = torch.cat(chunks)
    if not bool(torch.isfinite(codes).all()):
        raise ValueError(
            "the model's codes of data hold NaN or inf: the model diverged, a sampler cannot "
            "be fitted to them"
        )
    return codes


@torch.no_grad()
def decode_codes(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Decoder outputs ``[N, ...]`` (parameters of ``p(x | z)``) for codes ``z [N, D]``."""
    was_training = model.training
    model.eval()
    try:
        if has_sample_dim(model):
            return model.decode(z.unsqueeze(1)).x_hat[:, 0]  # type: ignore[operator]
        return model.decode(z).x_hat  # type: ignore[operator]
    finally:
        model.train(was_training)
