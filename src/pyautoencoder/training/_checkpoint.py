"""Checkpoints: weights in safetensors, trainer state in a weights-only ``torch.save`` file.

Layout of a checkpoint folder (``<checkpoint_dir>/step-00001234/``)::

    model.safetensors   the model's state_dict (safetensors: no code is ever unpickled)
    config.json         the model's constructor config, when it has one (``pretrained_config``,
                        or the constructor arguments of a model built by hand)
    trainer_state.pt    optimizer, scheduler, RNG states, step counters, run config; written
                        with ``torch.save`` and read back with ``torch.load(weights_only=True)``

A checkpoint is written into a hidden staging folder (every file through
:mod:`pyautoencoder._io`: temp file, fsync, rename), the folder is renamed into place, and only
then is the pointer file ``<checkpoint_dir>/latest`` replaced atomically. A process killed at
any moment leaves the previous checkpoint and the pointer to it intact.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import _schema
from .._io import (
    atomic_save_file,
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    remove_temp_files,
)

WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "config.json"
LATEST_FILE = "latest"
STATE_FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted, unsafe or does not fit the model/run (one line)."""


def _safetensors() -> Any:
    try:
        import safetensors.torch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            'checkpoints need safetensors: pip install "pyautoencoder[train]"'
        ) from error
    return safetensors.torch


def save_weights(
    model: nn.Module, path: str | os.PathLike[str], metadata: dict[str, str] | None = None
) -> None:
    """Write ``model.state_dict()`` to ``path`` in safetensors format, atomically.

    Tensors sharing storage (tied weights) are copied so that each entry stands alone.
    """
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in model.state_dict().items():
        value = tensor.detach().to("cpu").contiguous()
        pointer = value.untyped_storage().data_ptr()
        if pointer in seen:
            value = value.clone()
        seen.add(pointer)
        tensors[name] = value
    save_file = _safetensors().save_file
    atomic_save_file(path, lambda tmp: save_file(tensors, tmp, metadata=metadata or {}))


def load_weights(
    model: nn.Module, path: str | os.PathLike[str], *, allow_non_finite: bool = False
) -> None:
    """Load safetensors weights from ``path`` into ``model`` (strict); errors are one line.

    Weights holding NaN or inf (a run that diverged) are refused with a :class:`CheckpointError`
    naming the first such tensor; ``allow_non_finite=True`` loads them anyway (debugging).
    """
    try:
        state = _safetensors().load_file(str(path))
    except FileNotFoundError as error:
        raise CheckpointError(f"checkpoint weights not found: {path}") from error
    except Exception as error:  # safetensors raises its own error types
        raise CheckpointError(
            f"cannot read checkpoint weights {path}: {_one_line(error)} (the file is corrupted "
            "or not a safetensors file)"
        ) from error
    model_state = model.state_dict()
    missing = sorted(set(model_state) - set(state))
    unexpected = sorted(set(state) - set(model_state))
    mismatched = [
        f"{key} {tuple(state[key].shape)} vs {tuple(value.shape)}"
        for key, value in model_state.items()
        if key in state
        and not isinstance(value, nn.parameter.UninitializedParameter)
        and state[key].shape != value.shape
    ]
    if missing or unexpected or mismatched:
        details = "; ".join(
            part
            for part in (
                f"missing {_few(missing)}" if missing else "",
                f"unexpected {_few(unexpected)}" if unexpected else "",
                f"shape mismatch {_few(mismatched)}" if mismatched else "",
            )
            if part
        )
        raise CheckpointError(f"checkpoint {path} does not fit the model: {details}")
    if not allow_non_finite:
        bad = _schema.first_non_finite(state)
        if bad is not None:
            raise CheckpointError(
                f"checkpoint {path} holds non-finite weights: {bad}; the run diverged before "
                "this checkpoint (load it anyway with load_weights(..., allow_non_finite=True))"
            )
    model.load_state_dict(state, strict=True)


def _few(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."


def save_trainer_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` (tensors and plain Python values only) to ``path`` atomically."""
    atomic_write(path, lambda handle: torch.save(state, handle))


def load_trainer_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a trainer state with ``torch.load(weights_only=True)``: no code can run.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, or holds anything but tensors and plain values
        (a pickle with a ``__reduce__`` payload is refused before anything is executed).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise CheckpointError(f"trainer state not found: {path}") from error
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as error:
        raise CheckpointError(
            f"refusing to load trainer state {path}: not a plain weights-only checkpoint "
            f"({_one_line(error).split('. ')[0]}); it is corrupted or was not written by "
            "pyautoencoder"
        ) from error
    if not isinstance(state, dict) or state.get("format_version") != STATE_FORMAT_VERSION:
        raise CheckpointError(
            f"trainer state {path} has an unknown format (expected a dict with "
            f"format_version={STATE_FORMAT_VERSION})"
        )
    return state  # the trainer checks the fields it resumes from (pyautoencoder._schema)


def checkpoint_name(step: int) -> str:
    """Folder name of the checkpoint taken after ``step`` optimizer steps."""
    return f"step-{step:08d}"


def save_checkpoint(
    checkpoint_dir: str | os.PathLike[str],
    name: str,
    model: nn.Module,
    state: dict[str, Any],
    *,
    keep_last: int | None = 2,
    update_latest: bool = True,
) -> Path:
    """Write a complete checkpoint folder ``checkpoint_dir/name`` and point ``latest`` to it.

    Parameters
    ----------
    checkpoint_dir : path
        Folder holding the checkpoints of one run.
    name : str
        Folder name of this checkpoint (``step-00000100``, ``best``).
    model : nn.Module
        The unwrapped model; its ``state_dict`` goes to ``model.safetensors`` and its
        ``pretrained_config`` (when present; a model built by hand from library objects: its
        constructor config) to ``config.json``.
    state : dict
        Trainer state: tensors and plain Python containers/values only.
    keep_last : int or None
        How many ``step-*`` folders to keep (older ones are deleted after the pointer moved);
        ``None`` keeps all.
    update_latest : bool
        Whether the ``latest`` pointer moves to this checkpoint.
    """
    root = Path(checkpoint_dir)
    root.mkdir(parents=True, exist_ok=True)
    remove_debris(root)
    staging = root / f".{name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        save_weights(model, staging / WEIGHTS_FILE, {"step": str(state.get("step", ""))})
        config = getattr(model, "pretrained_config", None)
        if not isinstance(config, dict):  # a model built by hand from library objects
            from ..nets._pretrained import hand_built_config  # nets reads checkpoints too

            config = hand_built_config(model)
        if isinstance(config, dict):
            atomic_write_json(staging / CONFIG_FILE, config)
        save_trainer_state(staging / STATE_FILE, state)
        target = root / name
        if target.exists():
            trash = root / f".{name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, trash)
            os.replace(staging, target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if update_latest:
        atomic_write_text(root / LATEST_FILE, name + "\n")
        if keep_last is not None:
            _prune(root, keep=max(keep_last, 1), protect=name)
    return target


def remove_debris(checkpoint_dir: str | os.PathLike[str]) -> None:
    """Remove what killed writes left in ``checkpoint_dir``: staging folders
    (``.<name>.partial-<hex>``), replaced folders awaiting deletion (``.<name>.old-<hex>``;
    put back in place when the write was killed before the new folder took their name) and
    temp files of the ``latest`` pointer (``.latest.<hex>.tmp``).

    Called by every save; safe because one writer at a time holds the run (see
    :mod:`pyautoencoder.training._lock`).
    """
    root = Path(checkpoint_dir)
    for debris in root.glob(".*.partial-*"):
        shutil.rmtree(debris, ignore_errors=True)
    for old in root.glob(".*.old-*"):
        target = root / old.name[1:].rsplit(".old-", 1)[0]
        if not target.exists() and (old / WEIGHTS_FILE).is_file():
            os.replace(old, target)  # killed between the two renames: the old copy is the good one
        else:
            shutil.rmtree(old, ignore_errors=True)
    remove_temp_files(root, [LATEST_FILE])


def _prune(root: Path, keep: int, protect: str) -> None:
    steps = sorted(p for p in root.glob("step-*") if p.is_dir() and p.name != protect)
    for old in steps[: max(len(steps) - (keep - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)


def find_checkpoint(path: str | os.PathLike[str]) -> Path:
    """Resolve a run folder, a checkpoints folder or a checkpoint folder to a checkpoint folder.

    Accepted: a folder holding ``model.safetensors``; a folder with a ``latest`` pointer; a run
    folder with ``checkpoints/latest``.
    """
    candidate = Path(path)
    if not candidate.exists():
        raise CheckpointError(f"no run or checkpoint at {candidate} (path does not exist)")
    for root in (candidate, candidate / "checkpoints"):
        pointer = root / LATEST_FILE
        if pointer.is_file():
            target = root / _read_pointer(pointer)
            if not target.exists():  # a writer killed while replacing it kept the old copy
                target = next(iter(sorted(root.glob(f".{target.name}.old-*"))), target)
            if not (target / WEIGHTS_FILE).is_file():
                raise CheckpointError(
                    f"{pointer} points to {target.name}, which holds no {WEIGHTS_FILE}"
                )
            return target
    if (candidate / WEIGHTS_FILE).is_file():
        return candidate
    raise CheckpointError(
        f"no checkpoint in {candidate}: expected {WEIGHTS_FILE} or a '{LATEST_FILE}' pointer "
        "(in the folder or in its checkpoints/ subfolder)"
    )


def _read_pointer(pointer: Path) -> str:
    """The checkpoint folder name in a ``latest`` file: one plain name in this folder."""
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as error:
        raise CheckpointError(
            f"{pointer} is not a checkpoint pointer (not UTF-8 text); point it to a checkpoint "
            "folder, e.g. by writing 'step-00000100' into it"
        ) from error
    except OSError as error:
        raise CheckpointError(f"cannot read {pointer}: {_one_line(error)}") from error
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\n" in name:
        raise CheckpointError(
            f"{pointer} must hold the name of one checkpoint folder next to it, got {name[:80]!r}"
        )
    return name


def read_config(checkpoint: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The model config stored with a checkpoint, or ``None`` when it has none."""
    path = Path(checkpoint) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read {path}: {_one_line(error)}") from error
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} must hold a JSON object, got {type(config).__name__}")
    return config
