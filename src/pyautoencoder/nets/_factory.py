"""``create_model``: a registered model with ready-made networks, from a handful of sizes."""

from __future__ import annotations

import enum
import inspect
import json
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..distributions._posteriors import Posterior
from ..objectives._base import Objective
from ..registry import ModelEntry, get_model_entry
from ._common import check_shape, check_size, check_sizes, make_activation, num_features
from ._conv import ConvDecoder, ConvEncoder
from ._mlp import MLPDecoder, MLPEncoder
from ._resnet import resnet_map_networks, resnet_networks

#: Version of the ``config.json`` layout written by ``save_pretrained``.
FORMAT_VERSION = 1
#: Value of the ``format`` key of ``config.json``.
FORMAT_NAME = "pyautoencoder.pretrained"

_DEFAULT_HIDDEN = {"mlp": (512, 256), "conv": (256,), "resnet": ()}


def create_model(
    name: str,
    input_shape: Sequence[int] | None = None,
    latent_dim: int | None = None,
    net: str = "mlp",
    hidden: Sequence[int] | None = None,
    channels: Sequence[int] = (32, 64),
    activation: str = "relu",
    latent_channels: int = 4,
    *,
    image_size: int | None = None,
    **model_kwargs: Any,
) -> nn.Module:
    """Build and :meth:`~pyautoencoder._base.BaseAutoencoder.build` a registered model.

    The registry entry of ``name`` (:func:`pyautoencoder.registry.get_model_entry`) says
    what the encoder must output:

    * ``latent="features"`` (VAE family): the encoder ends with its last hidden layer after the
      activation, ``[B, hidden[-1]]``; the model's own sampling layer maps it to the latent;
    * ``latent="code"`` (deterministic and quantized models): the encoder ends with a linear
      layer to ``[B, latent_dim]``;
    * ``latent="dictionary"`` (sparse autoencoders): no networks are built (``net``,
      ``hidden``, ``channels`` and ``activation`` are unused); the model is
      ``cls(input_dim=prod(input_shape), ...)``.

    The decoder maps ``[N, latent_dim]`` back to ``[N, *input_shape]`` with no output
    activation (Gaussian means or Bernoulli logits). ``latent_dim`` is passed to the class
    under ``entry.latent_arg`` (when not ``None``), together with ``model_kwargs``.

    Conditional models, i.e. classes with a ``condition_dim`` constructor argument (CVAE),
    concatenate ``y`` to the flattened input and to ``z``: their MLP encoder takes
    ``prod(input_shape) + condition_dim`` features and their decoder ``latent_dim +
    condition_dim``. Convolutional networks cannot take such inputs.

    The creation arguments are kept as ``model.pretrained_config`` (the content of
    ``config.json`` for :func:`~pyautoencoder.pretrained.save_pretrained`); it is ``None``
    when a ``model_kwargs`` value cannot be written as JSON (e.g. a prior object).

    Latent maps: with ``net="resnet"`` and no ``latent_dim``, a model that takes a latent
    shape (its registry entry's ``latent_shape_arg``: the ``VAE``) gets latent maps
    ``(latent_channels, H / f, W / f)``, ``f = 2^(len(channels) - 1)``, as the KL autoencoder
    of latent diffusion: the encoder's ``2 * latent_channels`` maps go to the model's ``1 x 1``
    posterior heads and the decoder starts from the maps, with no linear layer (see
    :class:`~pyautoencoder.variational.VAE`). For example
    ``create_model("vae", net="resnet", image_size=128, channels=(64, 128, 256),
    latent_channels=4)`` has posteriors ``[B, 4, 32, 32]``.

    Parameters
    ----------
    name : str
        Registered model name (``pyautoencoder.registry.list_models()``), case-insensitive.
    input_shape : sequence of int
        Shape of one example without the batch dimension: any shape for ``"mlp"``,
        ``(C, H, W)`` for ``"conv"`` and ``"resnet"``. Required unless ``image_size`` is given.
    latent_dim : int, optional
        ``D_z`` (the code size for ``"code"`` models). Required, except for latent maps
        (above).
    net : {"mlp", "conv", "resnet"}
        :class:`MLPEncoder`/:class:`MLPDecoder`, :class:`ConvEncoder`/:class:`ConvDecoder`, or
        :class:`ResNetEncoder`/:class:`ResNetDecoder` around a flat latent: the encoder's
        ``latent_channels`` maps of side ``H / 2^(len(channels) - 1)`` are flattened (and, for
        ``"code"`` models, mapped linearly to ``latent_dim``); the decoder maps ``z`` linearly
        back to those maps. GroupNorm uses ``gcd(32, *channels)`` groups; ``hidden`` and
        ``activation`` are unused (SiLU throughout).
    hidden : sequence of int, optional
        Hidden widths, input side first (the decoder uses them reversed): all layers of an
        MLP (default ``(512, 256)``), the fully connected layers after the convolutions of a
        conv net (default ``(256,)``).
    channels : sequence of int
        Channels of the stride-2 convolutions (``"conv"``) or the widths of the resolution
        stages (``"resnet"``).
    activation : str
        Activation name of every hidden layer.
    latent_channels : int
        Channels of the encoder's output maps (``"resnet"`` only).
    image_size : int, optional
        Shorthand for ``input_shape=(3, image_size, image_size)`` (RGB images), keyword only;
        not together with ``input_shape``. The config records ``input_shape``.
    **model_kwargs
        Further constructor arguments of the model (``likelihood="bernoulli"``, ``beta=4``).

    Returns
    -------
    nn.Module
        The built model (lazy layers materialised), in training mode.
    """
    entry = get_model_entry(name)
    shape = check_shape(_input_shape(input_shape, image_size), "input_shape")
    if net not in _DEFAULT_HIDDEN:
        raise ValueError(f"net must be 'mlp', 'conv' or 'resnet', got {net!r}")
    latent_maps = latent_dim is None
    if latent_maps:
        _check_latent_maps(entry, net)
    else:
        latent_dim = check_size(latent_dim, "latent_dim")
    widths = check_sizes(
        _DEFAULT_HIDDEN[net] if hidden is None else hidden, "hidden", allow_empty=True
    )
    conv_channels = check_sizes(channels, "channels", allow_empty=False)
    make_activation(activation)
    latent_channels = check_size(latent_channels, "latent_channels")
    if latent_maps:
        model = _map_latent_model(entry, shape, conv_channels, latent_channels, model_kwargs)
    else:
        assert latent_dim is not None  # checked above: only latent maps go without it
        model = _flat_latent_model(
            entry,
            shape,
            latent_dim,
            net,
            widths,
            conv_channels,
            activation,
            latent_channels,
            model_kwargs,
        )
    build = getattr(model, "build", None)
    if callable(build):
        build(torch.zeros(2, *shape))
    arguments = {
        "name": entry.name,
        "input_shape": list(shape),
        "latent_dim": latent_dim,
        "net": net,
        "hidden": list(widths),
        "channels": list(conv_channels),
        "activation": activation,
        "model_kwargs": _json_kwargs(model_kwargs),
    }
    if net == "resnet":
        arguments["latent_channels"] = latent_channels
    config = None if arguments["model_kwargs"] is None else make_config(arguments)
    # A plain attribute (nn.Module.__setattr__ stores it in __dict__, not as state).
    object.__setattr__(model, "pretrained_config", config)
    return model


def _input_shape(input_shape: Sequence[int] | None, image_size: int | None) -> Sequence[int]:
    """``input_shape``, or ``(3, image_size, image_size)``; exactly one of them."""
    if image_size is None:
        if input_shape is None:
            raise ValueError("create_model needs input_shape (e.g. (3, 64, 64)) or image_size")
        return input_shape
    if input_shape is not None:
        raise ValueError(
            f"give input_shape or image_size, not both; got input_shape={tuple(input_shape)} "
            f"and image_size={image_size!r}"
        )
    size = check_size(image_size, "image_size")
    return (3, size, size)


def _check_latent_maps(entry: ModelEntry, net: str) -> None:
    """Raise ``ValueError`` unless ``entry`` with ``net`` can have latent maps (no latent_dim)."""
    if net != "resnet" or entry.latent_shape_arg is None:
        maps = "; latent maps (no latent_dim) need net='resnet'"
        if entry.latent_shape_arg is None:
            maps = f"; {entry.name!r} has a flat latent only (latent maps: 'vae', net='resnet')"
        raise ValueError(f"latent_dim is required for model {entry.name!r} with net={net!r}{maps}")


def _map_latent_model(
    entry: ModelEntry,
    shape: tuple[int, ...],
    channels: tuple[int, ...],
    latent_channels: int,
    model_kwargs: dict[str, Any],
) -> nn.Module:
    """``entry.cls`` on ResNet networks with latent maps ``(latent_channels, H / f, W / f)``."""
    argument = str(entry.latent_shape_arg)
    if argument in model_kwargs or (entry.latent_arg or "") in model_kwargs:
        raise ValueError(
            f"latent maps take their shape from input_shape, channels and latent_channels; do "
            f"not pass {argument}= or {entry.latent_arg}= in model_kwargs"
        )
    encoder, decoder, latent_shape = resnet_map_networks(
        entry.name, shape, channels, latent_channels
    )
    return entry.cls(encoder, decoder, **{argument: latent_shape}, **model_kwargs)


def _flat_latent_model(
    entry: ModelEntry,
    shape: tuple[int, ...],
    latent_dim: int,
    net: str,
    widths: tuple[int, ...],
    channels: tuple[int, ...],
    activation: str,
    latent_channels: int,
    model_kwargs: dict[str, Any],
) -> nn.Module:
    """``entry.cls`` with a flat latent of ``latent_dim`` on the networks ``net`` names."""
    kwargs = dict(model_kwargs)
    if entry.latent_arg is not None:
        if entry.latent_arg in kwargs:
            raise ValueError(
                f"pass the latent size as latent_dim, not as {entry.latent_arg}= in model_kwargs"
            )
        kwargs[entry.latent_arg] = latent_dim
    if entry.latent == "dictionary":  # no networks: the model owns its linear maps
        return entry.cls(input_dim=num_features(shape), **kwargs)
    # A "features" model's networks read the latent size only for the decoder's input.
    decoder_in = _decoder_input_size(entry, latent_dim, model_kwargs)
    if net == "resnet":
        encoder, decoder = resnet_networks(
            entry.name, shape, decoder_in, channels, latent_channels, entry.latent
        )
    else:
        encoder, decoder = _networks(
            entry, shape, decoder_in, net, widths, channels, activation, model_kwargs
        )
    return entry.cls(encoder, decoder, **kwargs)


def _decoder_input_size(entry: ModelEntry, latent_dim: int, model_kwargs: dict[str, Any]) -> int:
    """The decoder's input width: ``latent_dim``, or the model's ``decoder_input_arg`` when
    given (a hierarchical model reading ``decoder_dim`` features of its final state)."""
    argument = entry.decoder_input_arg
    if argument is None or model_kwargs.get(argument) is None:
        return latent_dim
    return check_size(model_kwargs[argument], argument)


def make_config(model_spec: dict[str, Any] | None) -> dict[str, Any]:
    """The ``config.json`` content for the ``create_model`` arguments ``model_spec``."""
    from .. import __version__

    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "model": model_spec,
    }


def _condition_dim(cls: type[nn.Module], model_kwargs: dict[str, Any]) -> int:
    """``condition_dim`` of a conditional model class (its argument or default), else 0."""
    try:
        parameter = inspect.signature(cls).parameters.get("condition_dim")
    except (TypeError, ValueError):  # no introspectable signature
        return 0
    if parameter is None:
        return 0
    value = model_kwargs.get("condition_dim", parameter.default)
    return 0 if value is inspect.Parameter.empty else check_size(value, "condition_dim")


def _networks(
    entry: ModelEntry,
    shape: tuple[int, ...],
    latent_dim: int,
    net: str,
    widths: tuple[int, ...],
    channels: tuple[int, ...],
    activation: str,
    model_kwargs: dict[str, Any],
) -> tuple[nn.Module, nn.Module]:
    """The encoder and decoder for ``entry``'s kind of latent."""
    code = latent_dim if entry.latent == "code" else None
    if entry.latent == "features" and net == "mlp" and not widths:
        raise ValueError(
            f"model {entry.name!r} maps encoder features to its latent itself: hidden must "
            "hold at least one width (the feature size), got ()"
        )
    condition = _condition_dim(entry.cls, model_kwargs)
    decoder_widths = tuple(reversed(widths))
    if net == "mlp":
        encoder_shape = shape if condition == 0 else (num_features(shape) + condition,)
        encoder: nn.Module = MLPEncoder(encoder_shape, widths, code, activation)
        decoder: nn.Module = MLPDecoder(latent_dim + condition, decoder_widths, shape, activation)
        return encoder, decoder
    if condition:
        raise ValueError(
            f"net='conv' cannot be used for the conditional model {entry.name!r} (it "
            "concatenates y to the flattened input); use net='mlp'"
        )
    if len(shape) != 3:
        raise ValueError(f"net='conv' needs input_shape (C, H, W), got {shape}")
    encoder = ConvEncoder(shape, channels, code, widths, activation)
    decoder = ConvDecoder(latent_dim, channels, shape, decoder_widths, activation)
    return encoder, decoder


def _json_kwargs(model_kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """``model_kwargs`` as JSON values (enums by value, tuples as lists), or ``None``."""

    def convert(value: Any) -> Any:
        if isinstance(value, Posterior | Objective):  # these write their own config
            return value.config()
        if isinstance(value, enum.Enum):
            return convert(value.value)
        if isinstance(value, (tuple, list)):
            return [convert(item) for item in value]
        if isinstance(value, dict):
            return {str(key): convert(item) for key, item in value.items()}
        return value

    try:
        converted = {key: convert(value) for key, value in model_kwargs.items()}
        json.dumps(converted, allow_nan=False)
    except (TypeError, ValueError, NotImplementedError):  # an object without a JSON config
        return None
    return converted
