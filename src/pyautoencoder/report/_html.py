"""Assemble the figures of a trained model into a self-contained ``report.html``."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import atomic_write_bytes, atomic_write_text
from . import _figures, _views


@dataclass
class Figure:
    """One figure of the report: a file name, a caption and the PNG (``None`` if skipped)."""

    name: str
    caption: str
    png: bytes | None
    note: str = ""


@dataclass
class Report:
    """The written report: where it is and what it holds."""

    path: Path
    figures: list[Figure] = field(default_factory=list)


def _try(build: Callable[[], bytes]) -> tuple[bytes | None, str]:
    try:
        return build(), ""
    except _views.ViewNotAvailableError as reason:
        return None, str(reason)
    except (TypeError, ValueError, RuntimeError, AttributeError) as error:
        return None, f"not available for this model ({type(error).__name__}: {error})"


def _as_images(values: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    return values.detach().float().cpu().reshape(-1, *shape)


def model_figures(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor | None,
    *,
    num_reconstructions: int = 10,
    num_samples: int = 64,
    traversal_dims: int = 8,
    traversal_values: Sequence[float] = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0),
    seed: int = 0,
) -> list[Figure]:
    """Reconstructions, prior samples, latent traversals and a PCA of the latent means.

    ``x [N, ...]`` is held-out data on the model's device; ``labels [N]`` colour the PCA.
    Image figures need ``x`` to be images (see :func:`~._views.image_shape`). Runs in eval mode
    under a fixed seed and restores the model's mode and the global RNG.
    """
    shape = _views.image_shape(tuple(x.shape[1:]))
    figures: list[Figure] = []
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if shape is not None:
                figures.extend(_image_figures(model, x, shape, num_reconstructions, num_samples))
                figures.append(_traversal_figure(model, x, shape, traversal_dims, traversal_values))
            figures.append(_pca_figure(model, x, labels))
    finally:
        model.train(was_training)
    return figures


def _image_figures(
    model: nn.Module, x: torch.Tensor, shape: tuple[int, int, int], count: int, num_samples: int
) -> list[Figure]:
    inputs = x[:count]

    def reconstructions() -> bytes:
        outputs = _views.to_display(model, _views.reconstruct(model, inputs))
        return _figures.reconstructions_png(_as_images(inputs, shape), _as_images(outputs, shape))

    def samples() -> bytes:
        drawn = _views.to_display(model, _views.sample_prior(model, num_samples))
        return _figures.grid_png(_as_images(drawn, shape), cols=8)

    figures = []
    for name, caption, build in (
        (
            "reconstructions",
            "Held-out inputs (top) and their reconstructions (bottom).",
            reconstructions,
        ),
        ("samples", f"{num_samples} samples from the prior, decoded.", samples),
    ):
        png, note = _try(build)
        figures.append(Figure(name, caption, png, note))
    return figures


def _traversal_figure(
    model: nn.Module,
    x: torch.Tensor,
    shape: tuple[int, int, int],
    max_dims: int,
    values: Sequence[float],
) -> Figure:
    def build() -> bytes:
        base = _views.latent_means(model, x[:1])[0]  # [D]
        dims = list(range(min(base.shape[0], max_dims)))
        codes = base.repeat(len(dims) * len(values), 1)  # [rows * cols, D]
        for row, dim in enumerate(dims):
            for col, value in enumerate(values):
                codes[row * len(values) + col, dim] = value
        decoded = _views.to_display(model, _views.decode_codes(model, codes))
        return _figures.traversals_png(_as_images(decoded, shape), values, dims)

    png, note = _try(build)
    caption = (
        "Latent traversals: starting from the posterior mean of one held-out input, one "
        "latent dimension per row is set to the value of each column."
    )
    return Figure("traversals", caption, png, note)


def _pca_figure(model: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> Figure:
    def build() -> bytes:
        means = _views.latent_means(model, x).detach().cpu()
        points, explained = _views.pca_2d(means)
        label_values = None if labels is None else labels.detach().cpu().reshape(-1)
        return _figures.scatter_png(points, label_values, explained.tolist())

    png, note = _try(build)
    caption = "Latent means of the held-out data projected on their first two principal components."
    return Figure("latent_pca", caption, png, note)


def curves_figure(events: Sequence[dict[str, Any]]) -> Figure:
    """Training/validation curves from the ``metrics.jsonl`` events."""
    png, note = _try(lambda: _figures.curves_png(events))
    caption = "Training (lines) and validation (dots) curves per optimizer step."
    return Figure("curves", caption, png, note)


def write_report(
    out_dir: str | os.PathLike[str],
    figures: Sequence[Figure],
    summary: dict[str, Any],
    *,
    title: str = "pyautoencoder run",
) -> Report:
    """Write ``report.html`` (PNG figures inline as base64) and ``figures/<name>.png``."""
    root = Path(out_dir)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
        "padding:0 1em}table{border-collapse:collapse}td,th{padding:.25em .8em;"
        "border-bottom:1px solid #ddd;text-align:left}img{max-width:100%;"
        "image-rendering:pixelated}figure{margin:1.5em 0}figcaption{color:#555}</style>",
        f"</head><body><h1>{html.escape(title)}</h1><table>",
    ]
    for key, value in summary.items():
        parts.append(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>")
    parts.append("</table>")
    for figure in figures:
        parts.append(f"<figure id='{figure.name}'>")
        if figure.png is not None:
            atomic_write_bytes(root / "figures" / f"{figure.name}.png", figure.png)
            encoded = base64.b64encode(figure.png).decode("ascii")
            parts.append(f"<img alt='{figure.name}' src='data:image/png;base64,{encoded}'>")
        else:
            parts.append(f"<p><em>{html.escape(figure.name)}: {html.escape(figure.note)}</em></p>")
        parts.append(f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>")
    parts.append("</body></html>\n")
    path = root / "report.html"
    atomic_write_text(path, "\n".join(parts))
    return Report(path=path, figures=list(figures))
