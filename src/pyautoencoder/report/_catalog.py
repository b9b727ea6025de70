"""Which figures a model gets: a table of views keyed on the model's declared capabilities.

Every view states which models it is for (a predicate on
:attr:`~pyautoencoder._base.BaseAutoencoder.capabilities`), the one sentence that explains its
absence where a reader would look for it, and how to draw it. :func:`model_figures` walks the
table; a new model family gets the right report by declaring its capabilities, not by a new
branch here.

==================  =============================================================
family              figures
==================  =============================================================
VAE family          reconstructions, prior samples, traversals, latent map
conditional (CVAE)  reconstructions, samples per label, traversals, latent map
deterministic (AE)  reconstructions, latent map (samples from a fitted density: RAE)
quantised (VQ-VAE)  reconstructions, codebook usage
sparse (SAE)        reconstructions (image data), feature density histogram
==================  =============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from . import _figures, _views
from ._html import Figure

Capabilities = frozenset[str]


@dataclass(frozen=True)
class _Inputs:
    """What every view may use: the model, held-out data, labels and figure settings."""

    model: nn.Module
    x: torch.Tensor
    labels: torch.Tensor | None
    shape: tuple[int, int, int] | None
    num_reconstructions: int
    num_samples: int
    traversal_dims: int
    traversal_values: Sequence[float]

    @property
    def name(self) -> str:
        return type(self.model).__name__

    def images(self, values: torch.Tensor, *, decoded: bool = True) -> torch.Tensor:
        """``[N, C, H, W]`` images in ``[0, 1]``: decoder outputs (``decoded``) go through the
        likelihood's mean, data are shown as they are."""
        if self.shape is None:
            raise _views.ViewNotAvailableError(
                f"examples of shape {tuple(self.x.shape[1:])} are not images"
            )
        shown = _views.to_display(self.model, values) if decoded else values
        return shown.detach().float().cpu().reshape(-1, *self.shape)


@dataclass(frozen=True)
class View:
    """One figure of the report: for which models, why not for others, how to draw it."""

    name: str
    title: str
    shows: Callable[[Capabilities], bool]
    why_not: Callable[[str, Capabilities], str | None]
    draw: Callable[[_Inputs], tuple[bytes, str]]  # PNG and the caption of what was drawn


def _never(name: str, declared: Capabilities) -> str | None:
    return None


# ---------------------------------------------------------------- drawing
def _reconstructions(inputs: _Inputs) -> tuple[bytes, str]:
    count = inputs.num_reconstructions
    labels = None if inputs.labels is None else inputs.labels[:count]
    x = inputs.x[:count]
    outputs = _views.reconstruct(inputs.model, x, labels)
    png = _figures.reconstructions_png(inputs.images(x, decoded=False), inputs.images(outputs))
    declared = _views.capabilities(inputs.model)
    how = (
        "decoded from the posterior mean"
        if "posterior" in declared
        else "decoded from their quantised codes"
        if "codebook" in declared
        else "decoded from their codes"
    )
    given = " given their labels" if "conditional" in declared else ""
    caption = f"{count} held-out inputs (top) and their reconstructions (bottom), {how}{given}."
    return png, caption


def _samples(inputs: _Inputs) -> tuple[bytes, str]:
    drawn = _views.sample_prior(inputs.model, inputs.num_samples)
    png = _figures.grid_png(inputs.images(drawn), cols=8)
    declared = _views.capabilities(inputs.model)
    source = "the prior"
    if "code" in declared:
        source = "a fitted code density"
    elif "codebook" in declared:
        source = "the code prior (index grids drawn autoregressively)"
    return png, f"{inputs.num_samples} draws from {source}, decoded."


def _class_samples(inputs: _Inputs) -> tuple[bytes, str]:
    per_class = 8
    drawn = _views.class_samples(inputs.model, per_class)
    classes = drawn.shape[0] // per_class
    png = _figures.labelled_grid_png(
        inputs.images(drawn),
        classes,
        per_class,
        row_labels=[str(label) for label in range(classes)],
        row_title="label",
    )
    caption = (
        f"{per_class} draws of z from the prior per label, decoded with that label as the "
        f"condition (one row per label 0-{classes - 1})."
    )
    return png, caption


def _traversals(inputs: _Inputs) -> tuple[bytes, str]:
    labels = None if inputs.labels is None else inputs.labels[:1]
    base = _views.latent_means(inputs.model, inputs.x[:1], labels)[0]  # [D]
    dims = list(range(min(base.shape[0], inputs.traversal_dims)))
    values = list(inputs.traversal_values)
    codes = base.repeat(len(dims) * len(values), 1)  # [rows * cols, D]
    for row, dim in enumerate(dims):
        for col, value in enumerate(values):
            codes[row * len(values) + col, dim] = value
    condition = None if labels is None else labels.expand(codes.shape[0])
    decoded = _views.decode_codes(inputs.model, codes, condition)
    png = _figures.traversals_png(inputs.images(decoded), values, dims)
    caption = (
        "Latent traversals: starting from the posterior mean of one held-out input, one latent "
        "dimension per row is set to the value of each column."
    )
    return png, caption


def _latent_map(inputs: _Inputs) -> tuple[bytes, str]:
    means = _views.latent_means(inputs.model, inputs.x, inputs.labels).detach().cpu()
    points, explained = _views.pca_2d(means)
    labels = None if inputs.labels is None else inputs.labels.detach().cpu().reshape(-1)
    png = _figures.scatter_png(points, labels, explained.tolist())
    what = "posterior means" if "posterior" in _views.capabilities(inputs.model) else "codes"
    colour = ", coloured by label" if labels is not None else ""
    caption = (
        f"Latent map: the {what} of the {inputs.x.shape[0]} held-out examples projected on "
        f"their first two principal components{colour}."
    )
    return png, caption


def _code_usage(inputs: _Inputs) -> tuple[bytes, str]:
    usage = _views.code_usage(inputs.model, inputs.x)
    caption = (
        f"Codebook usage on the {inputs.x.shape[0]} held-out examples: the share of code picks "
        "that went to each codebook entry, most used first. Unused entries waste capacity."
    )
    return _figures.usage_png(usage.counts, usage.perplexity), caption


def _feature_density(inputs: _Inputs) -> tuple[bytes, str]:
    from ..evaluation import feature_density_histogram

    histogram = feature_density_histogram(_views.feature_density(inputs.model, inputs.x))
    png = _figures.density_png(histogram.counts, histogram.edges, histogram.num_dead)
    caption = (
        f"Feature density on the {inputs.x.shape[0]} held-out examples: how many latents are "
        "active on which share of the examples (log scale). Dead latents (never active) waste "
        "capacity; a mass near 0 (log10 density) marks latents that fire on almost everything."
    )
    return png, caption


# ---------------------------------------------------------------- why not
def _why_no_samples(name: str, declared: Capabilities) -> str | None:
    if "conditional" in declared:
        return None  # the samples per label take their place
    if "codebook" in declared:
        return f"{name} has no prior over its discrete codes, so there is nothing to sample from."
    return f"{name} is deterministic: it has no prior to sample from."


def _why_no_traversals(name: str, declared: Capabilities) -> str | None:
    if "codebook" in declared:
        return f"{name}'s latent is a choice of codebook entries, which has no axis to walk along."
    if "code" in declared:
        return f"{name} has no prior, so its code dimensions have no common scale to walk along."
    return None


def _why_no_latent_map(name: str, declared: Capabilities) -> str | None:
    if "sparse_code" in declared:
        return (
            f"{name}'s code is sparse and overcomplete, which a 2-D projection does not show; "
            "the feature density figure shows how its latents are used."
        )
    if "codebook" in declared:
        return f"{name}'s latent is discrete; the codebook usage figure shows how it is used."
    return f"{name} declares no continuous latent code to project."


VIEWS: tuple[View, ...] = (
    View("reconstructions", "Reconstructions", lambda c: True, _never, _reconstructions),
    View(
        "samples",
        "Samples",
        lambda c: "prior_sampling" in c and "conditional" not in c,
        _why_no_samples,
        _samples,
    ),
    View(
        "class_samples",
        "Samples per label",
        lambda c: {"prior_sampling", "conditional"} <= c,
        _never,
        _class_samples,
    ),
    View(
        "traversals",
        "Latent traversals",
        lambda c: "posterior" in c,
        _why_no_traversals,
        _traversals,
    ),
    View(
        "latent_pca",
        "Latent map",
        lambda c: bool({"posterior", "code"} & c),
        _why_no_latent_map,
        _latent_map,
    ),
    View("code_usage", "Codebook usage", lambda c: "codebook" in c, _never, _code_usage),
    View(
        "feature_density",
        "Feature density",
        lambda c: "sparse_code" in c,
        _never,
        _feature_density,
    ),
)
"""The report's figures in order; each model gets those whose ``shows`` accepts it."""


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
    """The figures that fit ``model`` (see the table in this module), drawn on held-out data.

    ``x [N, ...]`` is held-out data on the model's device; ``labels [N]`` (integers) colour the
    latent map and are the condition of a conditional model. Image figures need ``x`` to be
    images (see :func:`~pyautoencoder.report.image_shape`). A figure the model does not offer
    comes back without a PNG and with a one-sentence ``note`` saying why (where a reader of
    that family would look for it). Runs in eval mode under a fixed seed and restores the
    model's mode and the global RNG.
    """
    inputs = _Inputs(
        model=model,
        x=x,
        labels=labels,
        shape=_views.image_shape(tuple(x.shape[1:])),
        num_reconstructions=num_reconstructions,
        num_samples=num_samples,
        traversal_dims=traversal_dims,
        traversal_values=traversal_values,
    )
    declared = _views.capabilities(model)
    figures: list[Figure] = []
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for view in VIEWS:
                if view.shows(declared):
                    figures.append(_draw(view, inputs))
                else:
                    reason = view.why_not(inputs.name, declared)
                    if reason is not None:
                        figures.append(Figure(view.name, "", None, reason, title=view.title))
    finally:
        model.train(was_training)
    return figures


def _draw(view: View, inputs: _Inputs) -> Figure:
    try:
        png, caption = view.draw(inputs)
    except _views.ViewNotAvailableError as reason:
        return Figure(view.name, "", None, _sentence(str(reason)), title=view.title)
    except (TypeError, ValueError, RuntimeError, AttributeError) as error:
        note = f"drawing it failed ({type(error).__name__}: {' '.join(str(error).split())})."
        return Figure(view.name, "", None, note, title=view.title)
    return Figure(view.name, caption, png, title=view.title)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else f"{text}."
