"""Small tensor helpers and argument checks of the vector quantizer."""

from __future__ import annotations

import numbers

import torch


def flatten_codes(z: torch.Tensor) -> torch.Tensor:
    """``[B, D, *S] -> [B * prod(S), D]`` (channel-first to one row per position)."""
    return z.movedim(1, -1).reshape(-1, z.shape[1])


def unflatten_codes(flat: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`flatten_codes`: ``[N, C] -> [B, C, *S]`` with ``B, S`` of ``like``.

    ``C = flat.shape[1]`` may differ from ``like``'s channel count (projections).
    """
    channels_last = (like.shape[0], *like.shape[2:], flat.shape[1])
    return flat.reshape(channels_last).movedim(-1, 1)


def sum_per_example_mean(values: torch.Tensor) -> torch.Tensor:
    """Sum over every non-batch dimension, mean over the batch: ``[B, ...] -> []``."""
    return values.reshape(values.shape[0], -1).sum(dim=1).mean()


def code_perplexity(counts: torch.Tensor) -> torch.Tensor:
    """``exp(-sum_k p_k log p_k)`` of the frequencies ``p = counts / sum(counts)`` (0 log 0 = 0)."""
    probs = counts / counts.sum()
    return torch.special.entr(probs).sum().exp()


def check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def check_real(
    value: object,
    name: str,
    low: float,
    high: float,
    interval: str,
    lower_open: bool = False,
    upper_open: bool = False,
) -> float:
    """A Python real number inside an interval (open or closed at each end)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in {interval}, got {type(value).__name__}")
    number = float(value)
    below = number <= low if lower_open else number < low
    above = number >= high if upper_open else number > high
    if below or above or number != number:
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return number


def orthogonal_penalty(codebook: torch.Tensor) -> torch.Tensor:
    """``||E_hat E_hat^T - I||_F^2 / K^2`` of the l2-normalised codes ``E_hat [K, D]`` (0-dim).

    Shin et al. (2021), *Translation-equivariant image quantizer for bi-directional image-text
    generation*, eq. 4: zero when the codes are orthonormal directions (possible for K <= D).
    """
    unit = torch.nn.functional.normalize(codebook, dim=1)
    gram = unit @ unit.T  # [K, K]
    identity = torch.eye(codebook.shape[0], device=codebook.device, dtype=codebook.dtype)
    return (gram - identity).square().sum() / codebook.shape[0] ** 2


def renamed_weight(old: object, new: object, default: object) -> object:
    """The value of a renamed argument given under its old name ``beta`` (warns).

    ``beta -> commitment_weight``: passing both (the new one not at its default) is an error.
    """
    import warnings

    if new != default:
        raise TypeError(
            "pass the commitment weight once: commitment_weight (beta is its deprecated name)"
        )
    warnings.warn(
        "beta -> commitment_weight: the VQ commitment weight is named commitment_weight "
        "(beta is the KL weight of the VAE family)",
        DeprecationWarning,
        stacklevel=4,
    )
    return old
