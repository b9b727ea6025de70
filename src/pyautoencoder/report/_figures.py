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


_MIN_SIDE = 48  # screen pixels for the longer side of one example image
_PAD = 2  # white pixels between images of a mosaic


def _scale(height: int, width: int) -> int:
    """Integer nearest-neighbour factor that shows an ``H x W`` image at >= 48 screen pixels."""
    return max(1, -(-_MIN_SIDE // max(height, width)))


def _tile(images: torch.Tensor, rows: int, cols: int) -> tuple[torch.Tensor, int, int]:
    """``[N, C, H, W]`` in ``[0, 1]`` -> a ``[rows * cell_h + pad, cols * cell_w + pad, C]``
    mosaic of the images upsampled by nearest neighbour (each pixel a ``k x k`` block, so an
    8x8 digit stays sharp), and the cell height and width in mosaic pixels."""
    count, channels, height, width = images.shape
    factor = _scale(height, width)
    big = images.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
    cell_h, cell_w = height * factor + _PAD, width * factor + _PAD
    canvas = torch.ones(rows * cell_h + _PAD, cols * cell_w + _PAD, channels)
    for index in range(min(count, rows * cols)):
        row, col = divmod(index, cols)
        top, left = _PAD + row * cell_h, _PAD + col * cell_w
        canvas[top : top + height * factor, left : left + width * factor] = big[index].permute(
            1, 2, 0
        )
    return canvas, cell_h, cell_w


def _mosaic_figure(
    mosaic: torch.Tensor, *, left: int = 10, bottom: int = 10, top: int = 10
) -> tuple[Any, Any]:
    """A figure that shows ``mosaic`` at one screen pixel per mosaic pixel, with margins (in
    pixels) for labels and a title."""
    height, width = mosaic.shape[0], mosaic.shape[1]
    right = 10
    total_w, total_h = width + left + right, height + bottom + top
    figure = _figure(total_w / _DPI, total_h / _DPI)
    axes = figure.add_axes((left / total_w, bottom / total_h, width / total_w, height / total_h))
    image = mosaic.squeeze(-1) if mosaic.shape[-1] == 1 else mosaic
    axes.imshow(
        image.numpy(),
        cmap="gray" if image.dim() == 2 else None,
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    axes.set_xticks([])
    axes.set_yticks([])
    return figure, axes


def _centres(count: int, cell: int) -> list[float]:
    return [_PAD + cell * index + (cell - _PAD) / 2 - 0.5 for index in range(count)]


_Y_UNITS = "nats per example"
_NATS_KEYS = {"loss", "elbo", "log_likelihood", "kl_divergence", "lr"}


def _panels(events: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """``(key, title, y label)`` of each curve panel the logged events have."""
    logged = {key for event in events for key in event} - {"event", "step", "epoch"}
    if "vq_loss" in logged:
        objective_units = "nats + VQ loss (squared distance)"
    elif "fvu" in logged:  # sparse autoencoders
        objective_units = "squared error + weighted penalties"
    elif "elbo" in logged or logged <= _NATS_KEYS:
        objective_units = _Y_UNITS
    else:
        objective_units = "nats + weighted penalties"
    panels = [
        ("loss", "training objective (minimised)", objective_units),
        ("log_likelihood", "reconstruction term log p(x | z)", _Y_UNITS),
        ("kl_divergence", "KL(q(z | x) || p(z))", _Y_UNITS),
        ("perplexity", "codebook perplexity", "codes (exp of the code entropy)"),
        ("l0", "L0: active latents per example", "latents"),
        ("fvu", "fraction of variance unexplained", "share of the data's variance"),
    ]
    return [panel for panel in panels if panel[0] in logged] or [("loss", "loss", "")]


def curves_png(events: Sequence[dict[str, Any]]) -> bytes:
    """Training and validation curves of what is logged: objective, reconstruction term, KL
    (nats per example), the codebook perplexity of quantised models, and L0 and FVU of sparse
    autoencoders."""
    panels = _panels(events)
    figure = _figure(4.2 * len(panels), 3.4)
    for index, (key, title, units) in enumerate(panels):
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
        axes.set_xlabel("optimizer step")
        axes.set_ylabel(units, fontsize=9)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    return _png(figure)


def reconstructions_png(inputs: torch.Tensor, outputs: torch.Tensor) -> bytes:
    """Inputs (top row) above their reconstructions (bottom row), ``[N, C, H, W]`` each."""
    count = inputs.shape[0]
    mosaic, cell_h, _ = _tile(torch.cat([inputs, outputs]), rows=2, cols=count)
    figure, axes = _mosaic_figure(mosaic, left=60)
    axes.set_yticks(_centres(2, cell_h))
    axes.set_yticklabels(["input", "recon."], fontsize=8)
    return _png(figure)


def grid_png(images: torch.Tensor, cols: int = 8, title: str = "") -> bytes:
    """A grid of ``[N, C, H, W]`` images."""
    rows = -(-images.shape[0] // cols)
    mosaic, _, _ = _tile(images, rows=rows, cols=cols)
    figure, axes = _mosaic_figure(mosaic, top=30 if title else 10)
    if title:
        axes.set_title(title, fontsize=10)
    return _png(figure)


def labelled_grid_png(
    images: torch.Tensor,
    rows: int,
    cols: int,
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str] = (),
    row_title: str = "",
) -> bytes:
    """A ``rows x cols`` grid of ``[rows * cols, C, H, W]`` images with row (and column) labels."""
    mosaic, cell_h, cell_w = _tile(images, rows=rows, cols=cols)
    figure, axes = _mosaic_figure(mosaic, left=70, bottom=40 if col_labels else 10)
    axes.set_yticks(_centres(rows, cell_h))
    axes.set_yticklabels(list(row_labels), fontsize=8)
    if row_title:
        axes.set_ylabel(row_title, fontsize=9)
    if col_labels:
        axes.set_xticks(_centres(cols, cell_w))
        axes.set_xticklabels(list(col_labels), fontsize=7)
    return _png(figure)


def traversals_png(images: torch.Tensor, values: Sequence[float], dims: Sequence[int]) -> bytes:
    """Rows: latent dimensions; columns: the value given to that dimension."""
    return labelled_grid_png(
        images,
        len(dims),
        len(values),
        row_labels=[f"z{d}" for d in dims],
        col_labels=[f"{v:+.1f}" for v in values],
    )


def usage_png(counts: torch.Tensor, perplexity: float) -> bytes:
    """Share of the code picks per codebook entry, most used first.

    ``counts [Q, K]`` (codebooks x codes) are summed over the codebooks for the bars; the
    unused entries are not drawn (the title counts them), so that a few used codes of a large
    codebook stay visible. ``perplexity``: of the usage, mean over the codebooks.
    """
    per_code = counts.double().reshape(-1, counts.shape[-1]).sum(dim=0)  # [K]
    total = float(per_code.sum()) or 1.0
    used = int((counts > 0).sum())
    shares = (
        (100 * per_code / total).sort(descending=True).values[: max(int((per_code > 0).sum()), 1)]
    )
    figure = _figure(6.4, 3.2)
    axes = figure.add_subplot(1, 1, 1)
    axes.bar(range(len(shares)), shares.numpy(), width=0.9 if len(shares) < 64 else 1.0)
    axes.set_xlim(-0.5, max(len(shares), 10) - 0.5)
    unused = int(per_code.numel() - (per_code > 0).sum())
    axes.set_xlabel(f"used codebook entries, most used first ({unused} unused)")
    axes.set_ylabel("share of code picks (%)")
    axes.set_title(
        f"{used} of {counts.numel()} codes used, perplexity {perplexity:.1f}", fontsize=10
    )
    axes.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    return _png(figure)


def density_png(counts: torch.Tensor, edges: torch.Tensor, num_dead: int) -> bytes:
    """Histogram of ``log10`` feature densities (``counts [bins]``, ``edges [bins + 1]``)."""
    figure = _figure(6.4, 3.2)
    axes = figure.add_subplot(1, 1, 1)
    lefts = edges[:-1].numpy()
    axes.bar(lefts, counts.numpy(), width=(edges[1:] - edges[:-1]).numpy(), align="edge")
    axes.set_xlabel("log10 feature density (share of examples on which a latent is active)")
    axes.set_ylabel("latents")
    total = int(counts.sum()) + num_dead
    axes.set_title(f"{num_dead} of {total} latents never active (dead)", fontsize=10)
    axes.grid(alpha=0.3, axis="y")
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
