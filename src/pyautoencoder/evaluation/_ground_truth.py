"""Ground-truth data sources and representation functions for the disentanglement metrics.

A *ground-truth data source* generates observations from known discrete factors of variation
(the ``shapes`` data set of :mod:`pyautoencoder.data`, dSprites, 3D Shapes, ...). It needs

* ``factor_sizes``: the number of values of each of the ``K`` factors;
* ``sample_factors(n, generator)``: ``n`` factor vectors ``[n, K]`` (integer class indices),
  drawn with the given ``torch.Generator``;
* ``images_from_factors(factors)``: the observations ``[n, ...]`` of factor vectors ``[n, K]``.

A *representation function* maps a batch of observations to codes ``[n, D_z]``. A model with
a posterior is turned into one by :func:`posterior_mean_representation` (the mean of
``q(z | x)``, as in Locatello et al. 2019); any callable works.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import nn

from ._arrays import check_codes, check_factors, require
from ._common import check_count, evaluation_mode, model_device, posterior_of

if TYPE_CHECKING:
    import numpy as np

RepresentationFunction = Callable[[torch.Tensor], Any]
"""Type of a representation: a callable mapping observations ``[n, ...]`` to codes
``[n, D_z]`` (a tensor or an array), e.g. :func:`posterior_mean_representation`."""


@runtime_checkable
class GroundTruthData(Protocol):
    """A data source with known discrete factors of variation (see the module docstring)."""

    @property
    def factor_sizes(self) -> Sequence[int]: ...

    def sample_factors(self, n: int, generator: torch.Generator) -> Any: ...

    def images_from_factors(self, factors: Any) -> Any: ...


def posterior_mean_representation(model: nn.Module) -> RepresentationFunction:
    """The representation ``x -> E_q[z | x]`` ``[n, D_z]`` of a model with a posterior.

    Each call runs under ``torch.no_grad()`` in eval mode (modes restored), moves ``x`` to the
    model's device and returns CPU codes.
    """
    if not isinstance(model, nn.Module) or not callable(getattr(model, "posterior", None)):
        raise TypeError(
            "posterior_mean_representation needs an nn.Module with posterior(x), got "
            f"{type(model).__name__}"
        )

    def representation(x: torch.Tensor) -> torch.Tensor:
        with evaluation_mode(model):
            return posterior_of(model, x.to(model_device(model))).mean.cpu()

    return representation


def as_representation(representation: object) -> RepresentationFunction:
    """A model with a posterior becomes its posterior mean; any other callable is kept."""
    if isinstance(representation, nn.Module) and callable(
        getattr(representation, "posterior", None)
    ):
        return posterior_mean_representation(representation)
    if not callable(representation):
        raise TypeError(
            "representation must be a function x -> codes [n, D_z] or a model with "
            f"posterior(x), got {type(representation).__name__}"
        )
    return representation


def check_ground_truth_data(data: object) -> list[int]:
    """Raise ``TypeError`` unless ``data`` is a ground-truth source; return its factor sizes."""
    missing = [
        name
        for name in ("factor_sizes", "sample_factors", "images_from_factors")
        if not hasattr(data, name)
    ]
    if missing:
        raise TypeError(
            "data must be a ground-truth data source with factor_sizes, sample_factors(n, "
            f"generator) and images_from_factors(factors), got {type(data).__name__} "
            f"(missing {', '.join(missing)})"
        )
    sizes = [int(size) for size in data.factor_sizes]  # type: ignore[attr-defined]
    if not sizes or any(size < 1 for size in sizes):
        raise ValueError(f"data.factor_sizes must be positive ints, got {sizes}")
    return sizes


def make_generator(seed: object) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (an int)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    return torch.Generator().manual_seed(int(seed))


def sample_factors(data: GroundTruthData, num: int, generator: torch.Generator) -> torch.Tensor:
    """``num`` factor vectors ``[num, K]`` as an int64 tensor."""
    factors = torch.as_tensor(data.sample_factors(num, generator))
    if factors.dim() != 2 or factors.shape[0] != num:
        raise ValueError(
            f"data.sample_factors({num}, generator) must return [n, K] = [{num}, K], got "
            f"shape {tuple(factors.shape)}"
        )
    return factors.long()


def encode_factors(
    representation: RepresentationFunction,
    data: GroundTruthData,
    factors: torch.Tensor,
    batch_size: int,
) -> np.ndarray:
    """Codes ``[n, D_z]`` (float64) of the observations of ``factors [n, K]``, in batches."""
    numpy = require("numpy")
    batch_size = check_count(batch_size, "batch_size")
    codes = []
    with torch.no_grad():
        for chunk in factors.split(batch_size):
            images = torch.as_tensor(data.images_from_factors(chunk))
            raw_codes = representation(images)
            if not hasattr(raw_codes, "__array__"):
                raise TypeError(
                    "representation(x) must return codes [n, D_z] as a tensor or array, got "
                    f"{type(raw_codes).__name__} (for a model, pass the model itself or "
                    "posterior_mean_representation(model))"
                )
            batch_codes = check_codes(raw_codes, "representation(x)")
            if batch_codes.shape[0] != chunk.shape[0]:
                raise ValueError(
                    f"representation(x) must return one code per observation [n, D_z], got "
                    f"{batch_codes.shape[0]} codes for {chunk.shape[0]} observations"
                )
            codes.append(batch_codes)
    return numpy.concatenate(codes, axis=0)


def sample_codes_and_factors(
    representation: Any,
    data: GroundTruthData,
    num: int,
    generator: torch.Generator,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """``num`` i.i.d. draws: codes ``[num, D_z]`` (float64) and factors ``[num, K]`` (int64).

    Parameters
    ----------
    representation : callable or nn.Module
        ``x [n, ...] -> codes [n, D_z]``, or a model with a posterior (its posterior mean).
    data : GroundTruthData
        Source of observations with known factors.
    num : int
        Number of draws.
    generator : torch.Generator
        Passed to ``data.sample_factors``.
    batch_size : int
        Observations per call of the representation.
    """
    check_ground_truth_data(data)
    factors = sample_factors(data, check_count(num, "num"), generator)
    codes = encode_factors(as_representation(representation), data, factors, batch_size)
    return codes, check_factors(factors)
