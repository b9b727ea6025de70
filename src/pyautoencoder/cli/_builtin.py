"""What the command uses when ``pyautoencoder.data`` / ``pyautoencoder.nets`` are not installed.

The command prefers those packages (their data sets and networks); a checkout or an install
without them still runs ``demo`` and ``train`` on the bundled digits and MNIST IDX files with
plain MLPs. Which source built a run is stored in ``run.json`` (``data_source``,
``net_source``), so a run is always reloaded with the code that trained it.
"""

from __future__ import annotations

import gzip
import itertools
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..registry import get_model_entry
from ._errors import CLIError

_REQUIRED = {"data": "digits", "nets": "create_model"}


def has_package(name: str) -> bool:
    """Whether ``pyautoencoder.<name>`` imports and provides what the command uses."""
    import importlib

    try:
        module = importlib.import_module(f"pyautoencoder.{name}")
    except ImportError:
        return False
    return hasattr(module, _REQUIRED.get(name, "__name__"))


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 bundled 8x8 digits as ``x [N, 1, 8, 8]`` in ``[0, 1]`` and ``y [N]``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            'the digits data set needs scikit-learn: pip install "pyautoencoder[data]"'
        ) from error
    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return x, torch.as_tensor(bunch.target, dtype=torch.long)


def _read_idx(path: Path) -> torch.Tensor:
    """One IDX file (optionally gzipped) as a uint8 tensor of its stored shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise CLIError(f"{path} is not an unsigned-byte IDX file")
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    body = data[4 + 4 * dims :]
    if len(body) != math.prod(shape):
        raise CLIError(f"{path} is truncated: expected {math.prod(shape)} bytes of data")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def mnist_idx(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST images ``[N, 1, 28, 28]`` in ``[0, 1]`` and labels from the IDX files in ``folder``."""
    for prefix in ("t10k", "train"):
        images = sorted(folder.glob(f"{prefix}-images*idx3-ubyte*"))
        labels = sorted(folder.glob(f"{prefix}-labels*idx1-ubyte*"))
        if images and labels:
            x = _read_idx(images[0]).unsqueeze(1).float() / 255.0
            return x, _read_idx(labels[0]).long()
    raise CLIError(f"no MNIST IDX files (t10k-images-idx3-ubyte[.gz] ...) in {folder}")


def _mlp(sizes: list[int], final_activation: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if final_activation or index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return layers


def create_mlp_model(
    name: str,
    input_shape: tuple[int, ...],
    latent_dim: int,
    hidden: tuple[int, ...],
    **model_kwargs: Any,
) -> nn.Module:
    """A registered model with MLP encoder and decoder.

    The encoder ends as the registry says (``latent="features"``: the last hidden layer, for
    models with their own sampling layer; ``"code"``: a linear map to ``latent_dim``). A model
    conditioned on ``y`` (``condition_dim``) gets it concatenated to the flat input and to ``z``.
    """
    entry = get_model_entry(name)
    features = math.prod(input_shape)
    if entry.latent == "dictionary":  # sparse autoencoders own their linear maps
        if entry.latent_arg is not None:
            model_kwargs = {**model_kwargs, entry.latent_arg: latent_dim}
        return entry.cls(input_dim=features, **model_kwargs)
    condition = int(model_kwargs.get("condition_dim", 0) or 0)
    widths = list(hidden)
    encoder_sizes = [features + condition, *widths]
    if entry.latent == "code":
        encoder_sizes.append(latent_dim)
    encoder = nn.Sequential(
        nn.Flatten(), *_mlp(encoder_sizes, final_activation=entry.latent == "features")
    )
    decoder = nn.Sequential(
        *_mlp([latent_dim + condition, *reversed(widths), features], final_activation=False),
        nn.Unflatten(1, tuple(input_shape)),
    )
    if entry.latent_arg is not None:
        model_kwargs = {**model_kwargs, entry.latent_arg: latent_dim}
    return entry.cls(encoder, decoder, **model_kwargs)
