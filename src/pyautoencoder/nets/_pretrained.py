"""save_pretrained / from_pretrained: the implementation behind :mod:`pyautoencoder.pretrained`.

See that module for the folder layout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import _schema
from .._io import atomic_save_file, atomic_write_json
from ._constructor import constructor_config, rebuild_from_constructor
from ._factory import FORMAT_NAME, FORMAT_VERSION, create_model, make_config

CONFIG_FILE = "config.json"
"""File name of the model configuration (JSON) inside a saved model folder."""
WEIGHTS_FILE = "model.safetensors"
"""File name of the weights (safetensors) inside a saved model folder."""

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "PretrainedError",
    "from_pretrained",
    "load_pretrained",
    "save_pretrained",
]


class PretrainedError(ValueError):
    """A pretrained folder is corrupted, of an unknown format, or does not fit the model."""


def _safetensors_torch() -> Any:
    try:
        import safetensors.torch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            'save_pretrained / from_pretrained need safetensors: pip install "pyautoencoder[train]"'
        ) from error
    return safetensors.torch


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _check_model(model: object, function: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{function} needs an nn.Module as model, got {type(model).__name__}")
    return model


def _state_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The persistent state as standalone contiguous CPU tensors (no shared storage)."""
    tensors: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if isinstance(
            value, nn.parameter.UninitializedParameter | nn.parameter.UninitializedBuffer
        ):
            raise ValueError(
                f"cannot save {key}: the model has unbuilt lazy layers; call model.build(x) "
                "with a batch of inputs (or run one forward pass) first"
            )
        # A fresh copy: tied or sliced tensors (shared storage, views) stand alone.
        tensors[key] = value.detach().to("cpu", copy=True).contiguous()
    return tensors


def save_pretrained(model: nn.Module, directory: str | os.PathLike[str]) -> Path:
    """Write ``config.json`` and ``model.safetensors`` to ``directory`` (created if needed).

    A model from :func:`~pyautoencoder.nets.create_model` is saved with its creation
    arguments (``model.pretrained_config``), so :func:`from_pretrained` can rebuild it; any
    other model is saved with ``"model": null`` (weights for :func:`load_pretrained`).

    Parameters
    ----------
    model : nn.Module
        A built model (no uninitialised lazy parameters).
    directory : path
        Target folder; existing files of the same names are replaced atomically.

    Returns
    -------
    Path
        The folder.
    """

    _check_model(model, "save_pretrained")
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"save_pretrained needs a folder, but {folder} is a file")
    tensors = _state_tensors(model)
    stored = getattr(model, "pretrained_config", None)
    spec = stored.get("model") if isinstance(stored, dict) else None
    config = make_config(spec)  # the library version of the writer
    if spec is None:
        config = hand_built_config(model) or config
    save_file = _safetensors_torch().save_file
    metadata = {"format": "pt", "producer": FORMAT_NAME}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save_file(folder / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp, metadata))
    atomic_write_json(folder / CONFIG_FILE, config)
    return folder


def read_pretrained_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked content of ``directory/config.json``.

    Raises ``FileNotFoundError`` when the folder or the file is missing and
    :class:`PretrainedError` when it is not valid JSON of a known format version.
    """

    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"no pretrained model at {folder}: the folder does not exist")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a folder written by save_pretrained")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise PretrainedError(f"cannot read {path}: {_one_line(error)}") from error
    if not isinstance(config, dict) or not isinstance(config.get("format_version"), int):
        raise PretrainedError(
            f"{path} is not a pyautoencoder config: expected a JSON object with an integer "
            "format_version"
        )
    if config["format_version"] > FORMAT_VERSION:
        raise PretrainedError(
            f"{path} has format_version {config['format_version']}, newer than this "
            f"pyautoencoder reads ({FORMAT_VERSION}); upgrade pyautoencoder"
        )
    spec = config.get("model")
    if spec is not None and not isinstance(spec, dict):
        raise PretrainedError(f"{path}: 'model' must be an object or null, got {spec!r}")
    if spec is not None:
        try:
            maps = spec.get("latent_dim", 0) is None  # latent maps: create_model(net="resnet")
            schema = _schema.PRETRAINED_MAP_MODEL if maps else _schema.PRETRAINED_MODEL
            _schema.check(spec, schema, str(path), "model")
        except _schema.SchemaError as error:
            raise PretrainedError(str(error)) from error
    return config


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the pretrained folder holds no weights")
    try:
        return dict(_safetensors_torch().load_file(str(path), device="cpu"))
    except Exception as error:  # safetensors raises its own error types
        raise PretrainedError(
            f"cannot read {path}: {_one_line(error)} (corrupted or not a safetensors file)"
        ) from error


def _load_state(
    model: nn.Module, state: dict[str, torch.Tensor], path: Path, allow_non_finite: bool
) -> None:
    """Strict load with one-line errors for missing, unexpected, mis-shaped and (unless
    ``allow_non_finite``) NaN/inf entries."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{key} {tuple(state[key].shape)} in the file vs {tuple(value.shape)} in the model"
        for key, value in expected.items()
        if key in state
        and not isinstance(
            value, nn.parameter.UninitializedParameter | nn.parameter.UninitializedBuffer
        )
        and state[key].shape != value.shape
    ]
    problems = [
        f"{label} {_few(items)}"
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape mismatch", mismatched),
        )
        if items
    ]
    if problems:
        raise PretrainedError(f"{path} does not fit the model: {'; '.join(problems)}")
    if not allow_non_finite:
        bad = _schema.first_non_finite(state)
        if bad is not None:
            raise PretrainedError(
                f"{path} holds non-finite weights: {bad}; pass allow_non_finite=True to load "
                "them anyway (debugging)"
            )
    model.load_state_dict(state, strict=True)


def _few(items: list[str], limit: int = 3) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def load_pretrained(
    model: nn.Module, directory: str | os.PathLike[str], *, allow_non_finite: bool = False
) -> nn.Module:
    """Load ``directory/model.safetensors`` into ``model`` (strict) and return it.

    For models built by hand: build the model exactly as when it was saved; it may still be
    unbuilt (lazy layers are materialised from the stored shapes). A ``config.json`` next to
    the weights is checked when present. The model's train/eval mode is left as it is.
    Weights holding NaN or inf are refused (:class:`PretrainedError` naming the first such
    tensor) unless ``allow_non_finite=True`` (for debugging a diverged model).
    """
    _check_model(model, "load_pretrained")
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"no pretrained model at {folder}: the folder does not exist")
    if (folder / CONFIG_FILE).exists():
        read_pretrained_config(folder)
    path = folder / WEIGHTS_FILE
    _load_state(model, _read_weights(path), path, allow_non_finite)
    return model


def _resolve_run_folder(folder: Path) -> Path:
    """A training run folder (or its ``checkpoints/``) as its latest checkpoint folder.

    Checkpoints written by :func:`~pyautoencoder.training.fit` (``out_dir``) and by the
    ``pyautoencoder`` command are pretrained folders; a run folder holds them under
    ``checkpoints/`` with a ``latest`` pointer. Any other folder is returned unchanged.
    """
    if (folder / CONFIG_FILE).exists() or not any(
        (root / "latest").is_file() for root in (folder, folder / "checkpoints")
    ):
        return folder
    from ..training._checkpoint import CheckpointError, find_checkpoint

    try:
        return find_checkpoint(folder)
    except CheckpointError as error:
        raise PretrainedError(f"{folder}: {_one_line(error)}") from error


def _check_model_keys(arguments: dict[str, Any], create_model: Any, path: Path) -> None:
    """Refuse keys of ``"model"`` that are not named parameters of ``create_model``.

    ``create_model`` forwards unknown keywords to the model's constructor, so without this a
    key such as ``"free_bits": 0.5`` placed (or tampered) beside ``name`` would change the
    model silently; ``save_pretrained`` writes model options under ``"model_kwargs"`` only.
    """
    import inspect

    parameters = inspect.signature(create_model).parameters.values()
    known = {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD}
    unknown = sorted(set(arguments) - known)
    if unknown:
        raise PretrainedError(
            f"{path}: unknown key(s) {', '.join(map(repr, unknown))} in 'model'; it takes "
            f"{', '.join(sorted(known | {'model_kwargs'}))} (model options go under "
            "'model_kwargs')"
        )


def hand_built_config(model: nn.Module) -> dict[str, Any] | None:
    """The ``config.json`` of a model built by hand from library objects only: the format
    header and its ``"constructor"`` (see :func:`constructor_config`); ``None`` when it has
    none (custom networks, unregistered classes). ``fit``'s checkpoints write it too."""
    constructor = constructor_config(model)
    if constructor is None:
        return None
    config = make_config(None)
    config["constructor"] = constructor
    return config


def from_pretrained(
    directory: str | os.PathLike[str],
    device: str | torch.device | None = None,
    *,
    allow_non_finite: bool = False,
) -> nn.Module:
    """Rebuild a model saved by :func:`save_pretrained` and load its weights (strict).

    ``directory`` is a folder written by :func:`save_pretrained`, a training checkpoint, or a
    run folder (``fit(out_dir=...)``, ``pyautoencoder train``): then its latest checkpoint
    (``checkpoints/latest``) is loaded. The model is rebuilt with
    :func:`~pyautoencoder.nets.create_model` from the arguments in ``config.json``, receives
    the weights of ``model.safetensors``, is moved to ``device`` (when given) and put in eval
    mode.

    Raises
    ------
    FileNotFoundError
        The folder, ``config.json`` or ``model.safetensors`` is missing.
    PretrainedError
        A file is corrupted, the config names an unknown model or invalid arguments, it holds
        no model (saved from a hand-built model: use :func:`load_pretrained`), a field has the
        wrong type (``"name": 5``), the weights do not fit the rebuilt model, or they hold NaN
        or inf (a diverged model; ``allow_non_finite=True`` loads them anyway, for debugging).
    """

    folder = _resolve_run_folder(Path(directory))
    config = read_pretrained_config(folder)
    path = folder / CONFIG_FILE
    spec = config.get("model")
    if spec is None and isinstance(config.get("constructor"), dict):
        model = _rebuild(config["constructor"], path)
        weights = folder / WEIGHTS_FILE
        _load_state(model, _read_weights(weights), weights, allow_non_finite)
        if device is not None:
            model.to(device)
        return model.eval()
    if spec is None:
        raise PretrainedError(
            f"{path} holds no model arguments (it was saved from a model built by hand with "
            "networks or objects that have no JSON config); build the model the same way and "
            f"call load_pretrained(model, {str(folder)!r})"
        )
    arguments = dict(spec)
    model_kwargs = arguments.pop("model_kwargs", None) or {}
    if not isinstance(model_kwargs, dict):
        raise PretrainedError(f"{path}: model_kwargs must be an object, got {model_kwargs!r}")
    _check_model_keys(arguments, create_model, path)
    try:
        model = create_model(**arguments, **model_kwargs)
    except (TypeError, ValueError, AttributeError, KeyError) as error:
        raise PretrainedError(f"{path}: cannot rebuild the model: {_one_line(error)}") from error
    weights = folder / WEIGHTS_FILE
    _load_state(model, _read_weights(weights), weights, allow_non_finite)
    if device is not None:
        model.to(device)
    return model.eval()


def _rebuild(constructor: dict[str, Any], path: Path) -> nn.Module:
    try:
        return rebuild_from_constructor(constructor)
    except (TypeError, ValueError, KeyError) as error:
        raise PretrainedError(f"{path}: cannot rebuild the model: {_one_line(error)}") from error
