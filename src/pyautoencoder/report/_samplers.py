"""The report figure that puts prior samples and fitted-sampler samples side by side."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from . import _figures, _views
from ._html import Figure


def fitted_samples_figure(
    model: nn.Module,
    samplers: Mapping[str, Any],
    example_shape: tuple[int, ...],
    *,
    per_row: int = 10,
    seed: int = 0,
) -> Figure:
    """One row of decoded samples per source: the prior (when the model has one), then each
    fitted sampler (:mod:`pyautoencoder.samplers`), drawn under ``seed``.

    ``samplers`` maps a label (``"gmm:10"``) to a fitted sampler. Returns a figure without a
    PNG and with a one-sentence note when there is nothing to show.
    """
    title = "Samples: prior and fitted samplers"
    shape = _views.image_shape(example_shape)
    if shape is None:
        return Figure("fitted_samples", "", None, "examples are not images.", title=title)
    rows: dict[str, torch.Tensor] = {}
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with contextlib.suppress(_views.ViewNotAvailableError):  # deterministic: no prior
            rows["prior"] = _views.sample_prior(model, per_row)
        for label, sampler in samplers.items():
            rows[label] = sampler.sample(per_row, generator)
    images = torch.cat([_views.to_display(model, drawn) for drawn in rows.values()])
    png = _figures.labelled_grid_png(
        images.detach().float().cpu().reshape(-1, *shape),
        len(rows),
        per_row,
        row_labels=list(rows),
        row_title="source",
    )
    caption = (
        f"{per_row} decoded draws per row: "
        + ", ".join(("the prior" if label == "prior" else label) for label in rows)
        + ". A sampler fitted to the training codes after training (pyautoencoder sample "
        "--sampler) draws from where the codes of real data lie; the prior may not."
    )
    return Figure("fitted_samples", caption, png, title=title)
