r"""Metrics of sparse codes and learned dictionaries: L0, FVU, feature density, dead latents,
mean max cosine similarity (MMCS).

The per-batch functions take tensors; :func:`sparse_code_metrics` streams a model over a data
set (a tensor, an iterable of batches, or :class:`pyautoencoder.data.ArrayShards`) in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ._common import check_count, evaluation_mode, iterate_batches, model_device


def _check_codes(z: torch.Tensor, name: str = "z") -> torch.Tensor:
    if not isinstance(z, torch.Tensor) or z.dim() != 2:
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{name} must be codes [N, M], got {got}")
    return z


def l0_norm(z: torch.Tensor) -> torch.Tensor:
    r"""Mean number of active (non-zero) latents per example, ``mean_n ||z_n||_0`` (0-dim).

    ``z [N, M]``; the result is a float tensor on ``z``'s device.
    """
    z = _check_codes(z)
    return (z != 0).sum(dim=1).to(torch.float64).mean()


def fraction_of_variance_unexplained(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    r"""FVU: the squared error relative to the variance of the data around its mean (0-dim).

    .. math::

        \mathrm{FVU} = \frac{\sum_n \lVert x_n - \hat x_n \rVert^2}
                            {\sum_n \lVert x_n - \bar x \rVert^2},
        \qquad \bar x = \frac1N \sum_n x_n,

    i.e. ``1 - R^2``: 0 for a perfect reconstruction, 1 for predicting the mean. ``x`` and
    ``x_hat`` are ``[N, ...]`` of one shape; computed in float64.
    """
    if x.shape != x_hat.shape:
        raise ValueError(
            f"x and x_hat must have the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}"
        )
    x64 = x.reshape(x.shape[0], -1).double()
    error = (x64 - x_hat.reshape(x.shape[0], -1).double()).pow(2).sum()
    variance = (x64 - x64.mean(dim=0, keepdim=True)).pow(2).sum()
    return error / variance


def feature_density(z: torch.Tensor) -> torch.Tensor:
    """Fraction of examples on which each latent is active: ``[N, M] -> [M]`` (float64)."""
    z = _check_codes(z)
    return (z != 0).to(torch.float64).mean(dim=0)


def mean_max_cosine_similarity(learned: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    r"""MMCS between a learned dictionary and the true one (0-dim, float64).

    .. math::

        \mathrm{MMCS} = \frac1F \sum_{j=1}^{F} \max_{i} \cos(d_i, g_j)

    over the columns ``d_i`` of ``learned [D, M]`` and ``g_j`` of ``true [D, F]`` (Sharkey,
    Braun & Millidge 2022, *Taking features out of superposition with sparse autoencoders*):
    how well every true feature is recovered by some learned one; 1 when each true feature
    appears (up to scale) among the learned columns. Zero columns have cosine 0.
    """
    for name, value in (("learned", learned), ("true", true)):
        if not isinstance(value, torch.Tensor) or value.dim() != 2:
            raise ValueError(f"{name} must be a dictionary [D, M] (columns are features)")
    if learned.shape[0] != true.shape[0]:
        raise ValueError(
            "learned and true dictionaries must have the same number of rows D, got "
            f"{learned.shape[0]} and {true.shape[0]}"
        )
    learned_unit = _unit_columns(learned.double())
    true_unit = _unit_columns(true.double().to(learned.device))
    cosine = true_unit.T @ learned_unit  # [F, M]
    return cosine.max(dim=1).values.mean()


def _unit_columns(matrix: torch.Tensor) -> torch.Tensor:
    return matrix / matrix.norm(dim=0, keepdim=True).clamp_min(1e-300)


@dataclass(frozen=True)
class DensityHistogram:
    """Histogram of ``log10`` feature densities; dead latents (density 0) counted apart.

    Attributes
    ----------
    counts : torch.Tensor
        Latents per bin, ``[bins]`` (int64).
    edges : torch.Tensor
        Bin edges in ``log10(density)``, ``[bins + 1]``.
    num_dead : int
        Latents never active (``log10 0 = -inf``, in no bin).
    """

    counts: torch.Tensor
    edges: torch.Tensor
    num_dead: int


def feature_density_histogram(
    density: torch.Tensor, bins: int = 40, low: float | None = None
) -> DensityHistogram:
    r"""The usual plot of a sparse dictionary: how many latents fire how often, on a log scale.

    ``density [M]`` in ``[0, 1]`` (:func:`feature_density`). Bins are equal in
    ``log10(density)`` from ``low`` (default: ``log10`` of the smallest positive density; -1
    when every density is 1) to 0; densities below ``low`` are counted in the first bin.
    """
    bins = check_count(bins, "bins")
    if density.dim() != 1:
        raise ValueError(f"density must be [M], got shape {tuple(density.shape)}")
    density = density.detach().double().cpu()
    if bool(((density < 0) | (density > 1) | torch.isnan(density)).any()):
        raise ValueError("density values must lie in [0, 1]")
    alive = density[density > 0].log10()
    if low is None:
        low = float(alive.min()) if alive.numel() else -1.0
        if low >= 0.0:  # every latent active on every example
            low = -1.0
    elif not low < 0.0:
        raise ValueError(f"low must be a log10 density < 0, got {low}")
    edges = torch.linspace(low, 0.0, bins + 1, dtype=torch.float64)
    counts = torch.histc(alive.clamp(low, 0.0), bins=bins, min=low, max=0.0).to(torch.int64)
    return DensityHistogram(counts=counts, edges=edges, num_dead=int((density == 0).sum()))


@dataclass(frozen=True)
class SparseCodeMetrics:
    """What :func:`sparse_code_metrics` measures over a data set.

    Attributes
    ----------
    num_examples : int
        Examples evaluated (the window).
    l0 : float
        Mean active latents per example.
    fvu : float
        Fraction of variance unexplained over the evaluated examples.
    mse : float
        Mean squared error per example, ``mean_n ||x_n - x_hat_n||^2``.
    feature_density : torch.Tensor
        ``[M]`` fraction of examples on which each latent is active (float64).
    dead_fraction : float
        Share of latents never active in the window.
    """

    num_examples: int
    l0: float
    fvu: float
    mse: float
    feature_density: torch.Tensor = field(repr=False)
    dead_fraction: float

    @property
    def dead_latents(self) -> torch.Tensor:
        """Boolean ``[M]``: latents never active over the window."""
        return self.feature_density == 0

    def histogram(self, bins: int = 40) -> DensityHistogram:
        """:func:`feature_density_histogram` of :attr:`feature_density`."""
        return feature_density_histogram(self.feature_density, bins)


def _batches(data: Any, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    stream = getattr(data, "batches", None)
    if callable(stream) and not isinstance(data, torch.Tensor):  # ArrayShards
        for batch in stream(batch_size, shuffle=False):
            yield batch.to(device)
        return
    yield from iterate_batches(data, batch_size, device)


def sparse_code_metrics(
    model: nn.Module, data: Any, *, window: int | None = None, batch_size: int = 1024
) -> SparseCodeMetrics:
    r"""L0, FVU, feature density and dead latents of a sparse autoencoder over a data set.

    Runs ``output = model(x)`` in eval mode under ``no_grad`` (a
    :class:`~pyautoencoder.dictionary.BatchTopKSAE` then uses its inference threshold) and
    reads ``output.z [B, M]`` and ``output.x_hat``. A latent is *dead over a window of N
    examples* when it is zero on all of the first ``window`` examples (all of them by default;
    Gao et al. 2024 count latents dead after 10M tokens without activity).

    FVU is accumulated in one pass in float64 with the data mean from the same pass,
    ``sum ||x - x_hat||^2 / (sum ||x||^2 - N ||x_bar||^2)``.

    Parameters
    ----------
    model : nn.Module
        Its forward returns an output with ``z`` (codes ``[B, M]``) and ``x_hat``.
    data : tensor, iterable of batches or ArrayShards
        Examples ``[N, ...]``.
    window : int, optional
        Evaluate only the first ``window`` examples.
    batch_size : int
        Examples per forward pass (tensors and shards).
    """
    batch_size = check_count(batch_size, "batch_size")
    limit = math.inf if window is None else check_count(window, "window")
    device = model_device(model)
    count = 0
    active: torch.Tensor | None = None
    squared_error = sum_x = sum_x2 = active_total = torch.zeros((), dtype=torch.float64)
    with evaluation_mode(model):
        for x in _batches(data, batch_size, device):
            if count >= limit:
                break
            if count + x.shape[0] > limit:
                x = x[: int(limit) - count]
            output = model(x)
            z = _check_codes(output.z, "model(x).z")
            flat = x.reshape(x.shape[0], -1).double()
            error = (flat - output.x_hat.reshape(x.shape[0], -1).double()).pow(2).sum()
            counts = (z != 0).sum(dim=0).to(torch.float64).cpu()
            active = counts if active is None else active + counts
            squared_error = squared_error + error.cpu()
            sum_x = sum_x + flat.sum(dim=0).cpu()
            sum_x2 = sum_x2 + flat.pow(2).sum().cpu()
            active_total = active_total + counts.sum()
            count += x.shape[0]
    if active is None or count == 0:
        raise ValueError("data holds no examples to evaluate")
    variance = sum_x2 - sum_x.pow(2).sum() / count
    density = active / count
    return SparseCodeMetrics(
        num_examples=count,
        l0=float(active_total) / count,
        fvu=float(squared_error / variance),
        mse=float(squared_error) / count,
        feature_density=density,
        dead_fraction=float((density == 0).to(torch.float64).mean()),
    )
