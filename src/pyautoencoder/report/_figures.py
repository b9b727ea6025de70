"""Report figures as PNG bytes, drawn with matplotlib's object API (no pyplot state)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import torch

_DPI = 100


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError('reports need matplotlib: pip install "pyautoencoder[plots]"') from error
    return Figure(figsize=(width, height), dpi=_DPI)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    return buffer.getvalue()


def _tile(images: torch.Tensor, rows: int, cols: int, pad: int = 1) -> torch.Tensor:
    """``[N, C, H, W]`` in ``[0, 1]`` -> one ``[rows*(H+pad), cols*(W+pad), C]`` mosaic."""
    count, channels, height, width = images.shape
    canvas = torch.ones(rows * (height + pad) + pad, cols * (width + pad) + pad, channels)
    for index in range(min(count, rows * cols)):
        row, col = divmod(index, cols)
        top, left = pad + row * (height + pad), pad + col * (width + pad)
        canvas[top : top + height, left : left + width] = images[index].permute(1, 2, 0)
    return canvas


def _show(axes: Any, mosaic: torch.Tensor) -> None:
    image = mosaic.squeeze(-1) if mosaic.shape[-1] == 1 else mosaic
    axes.imshow(image.numpy(), cmap="gray" if image.dim() == 2 else None, vmin=0, vmax=1)
    axes.set_xticks([])
    axes.set_yticks([])


def curves_png(events: Sequence[dict[str, Any]]) -> bytes:
    """Training and validation curves: loss, reconstruction term, KL (what is logged)."""
    panels = [
        ("loss", "loss (objective)"),
        ("log_likelihood", "reconstruction log-likelihood"),
        ("kl_divergence", "KL(q(z|x) || p(z))"),
    ]
    panels = [p for p in panels if any(p[0] in e for e in events)] or [("loss", "loss")]
    figure = _figure(4.2 * len(panels), 3.4)
    for index, (key, title) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        for event, style in (("train", "-"), ("val", "o-")):
            points = [
                (e["step"], e[key])
                for e in events
                if e.get("event") == event and isinstance(e.get(key), (int, float))
            ]
            if points:
                steps, values = zip(*points)
                axes.plot(steps, values, style, label=event, markersize=3)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    return _png(figure)


def reconstructions_png(inputs: torch.Tensor, outputs: torch.Tensor) -> bytes:
    """Inputs (top row) above their reconstructions (bottom row), ``[N, C, H, W]`` each."""
    count = inputs.shape[0]
    figure = _figure(max(0.6 * count, 3.0), 1.6)
    axes = figure.add_subplot(1, 1, 1)
    _show(axes, _tile(torch.cat([inputs, outputs]), rows=2, cols=count))
    axes.set_ylabel("input / recon.", fontsize=8)
    figure.tight_layout()
    return _png(figure)


def grid_png(images: torch.Tensor, cols: int = 8, title: str = "") -> bytes:
    """A grid of ``[N, C, H, W]`` images."""
    rows = -(-images.shape[0] // cols)
    figure = _figure(0.55 * cols + 0.4, 0.55 * rows + 0.5)
    axes = figure.add_subplot(1, 1, 1)
    _show(axes, _tile(images, rows=rows, cols=cols))
    if title:
        axes.set_title(title, fontsize=10)
    figure.tight_layout()
    return _png(figure)


def traversals_png(images: torch.Tensor, values: Sequence[float], dims: Sequence[int]) -> bytes:
    """Rows: latent dimensions; columns: the value given to that dimension."""
    rows, cols = len(dims), len(values)
    figure = _figure(0.55 * cols + 0.9, 0.55 * rows + 0.7)
    axes = figure.add_subplot(1, 1, 1)
    _show(axes, _tile(images, rows=rows, cols=cols))
    height = images.shape[-2] + 1
    axes.set_yticks([1 + height * (r + 0.5) for r in range(rows)])
    axes.set_yticklabels([f"z{d}" for d in dims], fontsize=7)
    width = images.shape[-1] + 1
    axes.set_xticks([1 + width * (c + 0.5) for c in range(cols)])
    axes.set_xticklabels([f"{v:+.1f}" for v in values], fontsize=6)
    figure.tight_layout()
    return _png(figure)


def scatter_png(
    points: torch.Tensor, labels: torch.Tensor | None, explained: Sequence[float]
) -> bytes:
    """A 2-D projection ``[N, 2]`` coloured by integer label (when given)."""
    figure = _figure(6.0, 5.0)
    axes = figure.add_subplot(1, 1, 1)
    xs, ys = points[:, 0].numpy(), points[:, 1].numpy()
    if labels is None:
        axes.scatter(xs, ys, s=6, alpha=0.7)
    else:
        classes = sorted({int(v) for v in labels.tolist()})
        for value in classes:
            mask = (labels == value).numpy()
            axes.scatter(xs[mask], ys[mask], s=6, alpha=0.7, label=str(value))
        axes.legend(fontsize=7, markerscale=2, ncol=2, title="label", title_fontsize=8)
    axes.set_xlabel(f"PC 1 ({100 * explained[0]:.0f}% var.)")
    axes.set_ylabel(f"PC 2 ({100 * explained[1]:.0f}% var.)")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return _png(figure)
