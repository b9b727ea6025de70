"""What a report shows of a model: reconstructions, prior samples, latent means, decoded codes.

Each helper works for every model family that has the needed part (a posterior for latent
means, ``sample`` for prior samples) and raises :class:`ViewNotAvailableError` otherwise, so
that the report can say why a figure is missing instead of failing.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ViewNotAvailableError(Exception):
    """The model has no such view (e.g. no prior to sample from)."""


def image_shape(example_shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """``(C, H, W)`` to display one example, or ``None`` if it is not an image.

    ``[C, H, W]`` with ``C`` in ``{1, 3}``, ``[H, W]``, or a flat ``[D]`` with ``D`` a square.
    """
    if len(example_shape) == 3 and example_shape[0] in (1, 3):
        return (example_shape[0], example_shape[1], example_shape[2])
    if len(example_shape) == 2:
        return (1, example_shape[0], example_shape[1])
    if len(example_shape) == 1:
        side = math.isqrt(example_shape[0])
        if side * side == example_shape[0]:
            return (1, side, side)
    return None


def to_display(model: nn.Module, x_hat: torch.Tensor) -> torch.Tensor:
    """Decoder outputs as values in ``[0, 1]``: the mean of ``p(x | z)`` where it is known.

    Bernoulli-type likelihoods (``x_hat`` are logits) go through a sigmoid (for the continuous
    Bernoulli that is its parameter, not its mean); location-scale likelihoods use their
    location; anything else is clamped.
    """
    likelihood = getattr(model, "likelihood", None)
    name = type(likelihood).__name__.lower()
    if "bernoulli" in name:
        return torch.sigmoid(x_hat)
    location = getattr(likelihood, "loc_and_log_scale", None)
    if callable(location):
        x_hat = location(x_hat)[0]
    return x_hat.clamp(0.0, 1.0)


def _single_sample(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Drop a sample dimension ``[B, S, ...] -> [B, ...]`` when there is one."""
    if x_hat.dim() == x.dim() + 1:
        return x_hat[:, 0]
    return x_hat


@torch.no_grad()
def reconstruct(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``[B, ...]`` reconstructions: at the posterior mean when the model has one."""
    method = getattr(model, "reconstruct", None)
    if callable(method):
        return method(x)
    return _single_sample(model(x).x_hat, x)


@torch.no_grad()
def sample_prior(model: nn.Module, num_samples: int) -> torch.Tensor:
    """Decoder outputs for ``num_samples`` draws from the prior, ``[N, ...]``."""
    method = getattr(model, "sample", None)
    if not callable(method):
        raise ViewNotAvailableError(f"{type(model).__name__} has no prior to sample from")
    return method(num_samples)


@torch.no_grad()
def latent_means(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``[B, D]``: the posterior mean ``E_q[z | x]``, or the code of a deterministic model."""
    posterior = getattr(model, "posterior", None)
    if callable(posterior):
        return posterior(x).mean
    encode = getattr(model, "encode", None)
    if not callable(encode):
        raise ViewNotAvailableError(f"{type(model).__name__} has no encoder interface")
    return encode(x).z.reshape(x.shape[0], -1)


@torch.no_grad()
def decode_codes(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Decode ``z [N, D]``: models with a posterior take ``[N, 1, D]`` (a sample dimension)."""
    if callable(getattr(model, "posterior", None)):
        return model.decode(z.unsqueeze(1)).x_hat[:, 0]  # type: ignore[operator]
    if getattr(model, "quantizer", None) is not None:
        raise ViewNotAvailableError("traversals of a quantized code are not meaningful")
    decode = getattr(model, "decode", None)
    if not callable(decode):
        raise ViewNotAvailableError(f"{type(model).__name__} has no decoder interface")
    return decode(z).x_hat


def pca_2d(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project ``[N, D]`` onto its first two principal components.

    Returns the ``[N, 2]`` projection and the fraction of variance each component explains
    (``[2]``); with ``D = 1`` the second coordinate is zero.
    """
    centered = values.double() - values.double().mean(dim=0, keepdim=True)
    _, singular, right = torch.linalg.svd(centered, full_matrices=False)
    components = right[:2].T  # [D, <=2]
    projection = centered @ components
    variance = singular**2
    explained = variance[:2] / variance.sum().clamp_min(1e-300)
    if projection.shape[1] == 1:
        projection = torch.cat([projection, torch.zeros_like(projection)], dim=1)
        explained = torch.cat([explained, explained.new_zeros(1)])
    return projection.float(), explained.float()
