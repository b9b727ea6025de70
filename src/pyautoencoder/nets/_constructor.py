"""The config of a model built by hand: its constructor arguments, when all are JSON-able.

A model of the library records the arguments of its constructor
(``BaseAutoencoder`` does it for every subclass). When each argument is a JSON value or a
library object that writes its own config -- the ready-made networks (``MLPEncoder``, ...),
objectives and posteriors -- :func:`constructor_config` turns them into::

    {"name": <registered model>, "input_shape": [...], "arguments": {...}}

and :func:`rebuild_from_constructor` builds the same (untrained) model again, so
``from_pretrained`` works for it as for a model from ``create_model``.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import torch
from torch import nn

from ..distributions._likelihood import Likelihood
from ..distributions._posteriors import Posterior
from ..distributions._priors import Prior
from ..objectives._base import Objective
from ..registry import MODELS, list_models
from ._common import ConfigMixin
from ._conv import ConvDecoder, ConvEncoder
from ._mlp import MLPDecoder, MLPEncoder

#: The networks a config may name.
NETWORKS: dict[str, type[nn.Module]] = {
    cls.__name__: cls for cls in (MLPEncoder, MLPDecoder, ConvEncoder, ConvDecoder)
}


class _NoConfigError(Exception):
    """An argument that cannot be written as JSON."""


def _convert(value: Any) -> Any:
    if isinstance(value, ConfigMixin) and type(value).__name__ in NETWORKS:
        return {"net": type(value).__name__, "config": value.config}
    if isinstance(value, Objective | Posterior | Prior | Likelihood):  # own config
        try:
            return value.config()
        except NotImplementedError as error:
            raise _NoConfigError from error
    if isinstance(value, enum.Enum):
        return _convert(value.value)
    if isinstance(value, (tuple, list)):
        return [_convert(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _convert(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise _NoConfigError


def constructor_config(model: nn.Module) -> dict[str, Any] | None:
    """The JSON config of a hand-built model, or ``None`` when it cannot have one.

    ``None`` when the class is not registered, an argument has no JSON form (a custom
    ``nn.Module``, a prior object, ...) or no argument tells the input shape (a ready-made
    encoder, or the ``input_dim`` of a sparse autoencoder; needed to build lazy layers before
    the weights are loaded).
    """
    arguments = model.__dict__.get("_constructor_arguments")
    if not arguments:
        return None
    list_models()  # every family registered
    names = [name for name, entry in MODELS.items() if entry.cls is type(model)]
    encoder = arguments.get("encoder")
    input_dim = arguments.get("input_dim")
    if isinstance(encoder, MLPEncoder | ConvEncoder):
        input_shape = list(encoder.input_shape)
    elif isinstance(input_dim, int) and not isinstance(input_dim, bool):
        input_shape = [input_dim]  # models that own their linear maps (sparse autoencoders)
    else:
        return None
    if not names:
        return None
    # A model that feeds the encoder more than x (a CVAE appends y) tells x's own shape.
    data_shape = getattr(model, "_input_shape_of_encoder_input", None)
    if callable(data_shape):
        input_shape = data_shape(input_shape)
        if input_shape is None:
            return None
    try:
        converted = {key: _convert(value) for key, value in arguments.items()}
        json.dumps(converted, allow_nan=False)
    except (_NoConfigError, TypeError, ValueError):
        return None
    return {"name": names[0], "input_shape": input_shape, "arguments": converted}


def _restore(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"net", "config"}:
        return NETWORKS[value["net"]](**value["config"])
    return value


def rebuild_from_constructor(constructor: dict[str, Any]) -> nn.Module:
    """Build the model :func:`constructor_config` describes (untrained, lazy layers built)."""
    entry = MODELS.get(str(constructor["name"]))
    arguments = constructor["arguments"]
    if not isinstance(arguments, dict):
        raise ValueError(f"'arguments' must be an object, got {arguments!r}")
    model = entry.cls(**{key: _restore(value) for key, value in arguments.items()})
    build = getattr(model, "build", None)
    if callable(build):
        build(torch.zeros(2, *constructor["input_shape"]))
    return model
