"""What a report shows of a model: reconstructions, prior samples, latent means, decoded codes.

Each helper asks the model what it offers (its declared ``capabilities``, see
:attr:`pyautoencoder._base.BaseAutoencoder.capabilities`) and raises
:class:`ViewNotAvailableError` with a one-sentence reason otherwise, so that the report can say
why a figure is missing instead of failing. A conditional model gets its condition ``y``
(integer labels) as the last argument.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from ..evaluation import CodeUsage


class ViewNotAvailableError(Exception):
    """The model has no such view (e.g. no prior to sample from)."""


def capabilities(model: nn.Module) -> frozenset[str]:
    """The capabilities ``model`` declares (an empty set for models that declare none)."""
    return frozenset(getattr(type(model), "capabilities", frozenset()))


def _condition(model: nn.Module, y: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """``(y,)`` for a conditional model, ``()`` otherwise; a missing ``y`` is a reason."""
    if "conditional" not in capabilities(model):
        return ()
    if y is None:
        raise ViewNotAvailableError(
            f"{type(model).__name__} is conditional and the data came without labels"
        )
    return (y,)


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
def reconstruct(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, ...]`` reconstructions: at the posterior mean when the model has one."""
    condition = _condition(model, y)
    method = getattr(model, "reconstruct", None)
    if callable(method):
        return method(x, *condition)
    return _single_sample(model(x, *condition).x_hat, x)


@torch.no_grad()
def sample_prior(model: nn.Module, num_samples: int) -> torch.Tensor:
    """Decoder outputs for ``num_samples`` draws from the prior, ``[N, ...]``."""
    if "prior_sampling" not in capabilities(model):
        raise ViewNotAvailableError(f"{type(model).__name__} has no prior to sample from")
    try:
        return model.sample(num_samples)  # type: ignore[operator]
    except RuntimeError as error:  # e.g. an RAE whose code density was never fitted
        raise ViewNotAvailableError(" ".join(str(error).split())) from error


@torch.no_grad()
def class_samples(model: nn.Module, per_class: int) -> torch.Tensor:
    """``[C * per_class, ...]``: ``per_class`` prior draws decoded under each label ``0..C-1``."""
    if not {"conditional", "prior_sampling"} <= capabilities(model):
        raise ViewNotAvailableError(f"{type(model).__name__} is not a conditional generator")
    labels = torch.arange(int(model.condition_dim))  # type: ignore[arg-type]
    drawn = model.sample(per_class, labels)  # type: ignore[operator]  # [C, per_class, ...]
    return drawn.reshape(-1, *drawn.shape[2:])


@torch.no_grad()
def latent_means(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, D]``: the posterior mean ``E_q[z | x]``, or the code of a deterministic model.

    Latent maps ``[B, C, h, w]`` are flattened to their ``D = C h w`` values.
    """
    declared = capabilities(model)
    condition = _condition(model, y)
    if "posterior" in declared:
        return model.posterior(x, *condition).mean.flatten(1)  # type: ignore[operator]
    if "code" in declared:
        return model.encode(x, *condition).z.reshape(x.shape[0], -1)  # type: ignore[operator]
    raise ViewNotAvailableError(f"{type(model).__name__} has no continuous latent code")


@torch.no_grad()
def decode_codes(model: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Decode ``z [N, D]``: models with a posterior take ``[N, 1, D]`` (a sample dimension).

    A VAE with latent maps (``latent_shape = (C, h, w)``) gets ``[N, 1, C, h, w]``.
    """
    declared = capabilities(model)
    condition = _condition(model, y)
    if "posterior" in declared:
        shape = tuple(getattr(model, "latent_shape", z.shape[1:]))
        z = z.reshape(z.shape[0], 1, *shape)
        return model.decode(z, *condition).x_hat[:, 0]  # type: ignore[operator]
    if "code" in declared:
        return model.decode(z, *condition).x_hat  # type: ignore[operator]
    raise ViewNotAvailableError(f"{type(model).__name__} has no continuous latent code")


@torch.no_grad()
def code_usage(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> CodeUsage:
    """Epoch-level usage of the codebook over ``x``: :func:`pyautoencoder.evaluation.code_usage`.

    The model must declare ``"codebook"`` (``encode(x).indices`` and a ``quantizer``).
    """
    from ..evaluation import code_usage as measure

    if "codebook" not in capabilities(model):
        raise ViewNotAvailableError(f"{type(model).__name__} has no codebook")
    return measure(model, x, batch_size=batch_size)


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


def feature_density(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Share of the examples of ``x`` on which each latent of a sparse code is active, ``[M]``."""
    if "sparse_code" not in capabilities(model):
        raise ViewNotAvailableError(f"{type(model).__name__} declares no sparse code")
    from ..evaluation import sparse_code_metrics

    return sparse_code_metrics(model, x, batch_size=batch_size).feature_density
