"""Shared pieces of the ready-made networks: activations by name, shape and width checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import nn

from .._registry import Registry

ACTIVATION_REGISTRY: Registry[type[nn.Module]] = Registry("activation")
"""The activation classes by name (the library's one :class:`~pyautoencoder.registry.Registry`
kind for activations)."""
for _name, _cls in (
    ("relu", nn.ReLU),
    ("leaky_relu", nn.LeakyReLU),
    ("elu", nn.ELU),
    ("gelu", nn.GELU),
    ("silu", nn.SiLU),
    ("tanh", nn.Tanh),
    ("softplus", nn.Softplus),
):
    ACTIVATION_REGISTRY.register(_name, _cls)
del _name, _cls

ACTIVATIONS: dict[str, type[nn.Module]] = ACTIVATION_REGISTRY.entries
"""Activation names accepted by every network of :mod:`pyautoencoder.nets` (the ``activation``
argument), mapped to their ``torch.nn`` module classes."""


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name``; unknown names list the close and valid ones."""
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        hint = ACTIVATION_REGISTRY.did_you_mean(name, n=2)
        valid = ", ".join(ACTIVATION_REGISTRY.names())
        raise ValueError(f"unknown activation {name!r}.{hint} Valid: {valid}")
    return ACTIVATIONS[name.lower()]()


def check_size(value: object, name: str) -> int:
    """``value`` as a positive int (not a bool), or a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_sizes(values: object, name: str, *, allow_empty: bool) -> tuple[int, ...]:
    """A sequence of positive ints as a tuple (lists from JSON configs are accepted)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a sequence of positive ints, got {values!r}")
    sizes = tuple(check_size(value, f"{name}[{index}]") for index, value in enumerate(values))
    if not sizes and not allow_empty:
        raise ValueError(f"{name} must hold at least one size, got {values!r}")
    return sizes


def check_shape(values: object, name: str, ndim: int | None = None) -> tuple[int, ...]:
    """A data shape (without the batch dimension) as a tuple of positive ints."""
    shape = check_sizes(values, name, allow_empty=False)
    if ndim is not None and len(shape) != ndim:
        raise ValueError(f"{name} must have {ndim} entries, got {len(shape)}: {values!r}")
    return shape


def num_features(shape: Sequence[int]) -> int:
    """Number of scalars in one example of ``shape``."""
    return math.prod(shape)


class ConfigMixin:
    """Keeps the constructor arguments of a network as its ``config`` (diffusers style).

    ``type(net)(**net.config)`` builds an identical (untrained) network; every value is
    JSON-serialisable (tuples become lists).
    """

    _config: dict[str, Any]

    def _register_config(self, **arguments: Any) -> None:
        self._config = {key: _jsonable(value) for key, value in arguments.items()}

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (a copy; JSON-serialisable)."""
        return {key: list(v) if isinstance(v, list) else v for key, v in self._config.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value


def linear_stack(sizes: Sequence[int], activation: str, final_activation: bool) -> list[nn.Module]:
    """``Linear`` layers through ``sizes`` with an activation after each but maybe the last."""
    layers: list[nn.Module] = []
    for index in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[index], sizes[index + 1]))
        if final_activation or index < len(sizes) - 2:
            layers.append(make_activation(activation))
    return layers
