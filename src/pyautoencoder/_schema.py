"""What the files a run reads back must hold: one place for ``run.json``, the trainer state
and the model section of a pretrained ``config.json``.

Each file is checked against a schema (field -> :class:`Field`: accepted types, lower bound,
required or not) before any value is used, so a hand-edited or damaged file gives one line
naming the file, the field, what was expected and what came (``runs/a/run.json: 'epochs' must
be an int >= 1, got '3' (str)``) instead of a traceback deep inside the code that uses it.
Callers turn :class:`SchemaError` into their own error type (``CLIError``,
``CheckpointError``, ``PretrainedError``).

``run.json`` is described by the annotations of ``RunSpec`` (a field added there is checked
without an edit here); only the bounds are listed here.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch


class SchemaError(ValueError):
    """A file's content does not have the expected fields or types (one line)."""


@dataclass(frozen=True)
class Field:
    """One entry of a schema: accepted type (a type hint), lower bound, required or not."""

    hint: Any
    minimum: float | None = None
    required: bool = True
    exclusive: bool = False  # the minimum itself is not allowed (lr > 0)


def _name(hint: Any, bound: str = "") -> str:
    """``an int >= 1``, ``a list of ints >= 1 or null``: the hint in words, with its bound."""
    if hint is type(None):
        return "null"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_name(arg, bound) for arg in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        plural = {int: "ints", float: "numbers", str: "strings"}.get(item)
        return f"a list of {plural}{bound}" if plural else "a list"
    if origin is dict or hint is dict:
        return "an object"
    if hint is torch.Tensor:
        return "a tensor"
    words = {int: "an int", float: "a number", str: "a string", bool: "true or false"}
    if hint in words:
        return words[hint] + (bound if hint in (int, float) else "")
    return getattr(hint, "__name__", str(hint))


def matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the type hint (``int`` excludes ``bool``; ``float`` takes ints)."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arg) for arg in typing.get_args(hint))
    if origin is list or hint is list:
        args = typing.get_args(hint)
        return isinstance(value, list) and all(matches(item, args[0]) for item in value if args)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a hint this checker does not know: the consumer checks it


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return []


def _shown(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check(
    values: Any,
    schema: Mapping[str, Field],
    where: str,
    what: str = "",
    *,
    complete: bool = True,
) -> None:
    """Check ``values`` (a dict) against ``schema``; raise :class:`SchemaError` on the first
    problem. Keys that the schema does not list are left to the consumer; with
    ``complete=False`` missing required fields are too (only present ones are checked)."""
    label = f"{where}: {what + ' ' if what else ''}"
    if not isinstance(values, dict):
        raise SchemaError(f"{label}must be an object, got {_shown(values)}")
    for key, spec in schema.items():
        if key not in values:
            if spec.required and complete:
                raise SchemaError(f"{label}missing field {key!r} ({_name(spec.hint)})")
            continue
        value = values[key]
        bound = ""
        if spec.minimum is not None:
            bound = f" {'>' if spec.exclusive else '>='} {spec.minimum:g}"
        expected = _name(spec.hint, bound)
        ok = matches(value, spec.hint)
        if ok and spec.minimum is not None:
            low = spec.minimum
            ok = all(
                math.isfinite(n) and (n > low if spec.exclusive else n >= low)
                for n in _numbers(value)
            )
        if not ok:
            raise SchemaError(f"{label}{key!r} must be {expected}, got {_shown(value)}")


def first_non_finite(state: dict[str, torch.Tensor]) -> str | None:
    """``"name (n NaN, m inf of k)"`` for the first floating tensor with a NaN or inf, else None."""
    for name, tensor in state.items():
        if tensor.is_floating_point() or tensor.is_complex():
            bad = ~torch.isfinite(tensor)
            if bool(bad.any()):
                nan = int(torch.isnan(tensor).sum())
                return f"{name} ({nan} NaN, {int(bad.sum()) - nan} inf of {tensor.numel()})"
    return None


# ---------------------------------------------------------------------- run.json
_RUN_BOUNDS: dict[str, tuple[float, bool]] = {  # field -> (minimum, exclusive)
    "input_shape": (1, False),
    "latent_dim": (1, False),
    "hidden": (1, False),
    "condition_dim": (1, False),
    "epochs": (1, False),
    "batch_size": (1, False),
    "lr": (0, True),
    "beta": (0, False),
    "num_nodes": (1, False),
    "warmup_steps": (0, False),
}


def dataclass_schema(cls: type) -> dict[str, Field]:
    """A schema from a dataclass's annotations (fields with defaults are optional)."""
    hints = typing.get_type_hints(cls)
    schema = {}
    for item in dataclasses.fields(cls):
        minimum, exclusive = _RUN_BOUNDS.get(item.name, (None, False))
        has_default = (
            item.default is not dataclasses.MISSING
            or item.default_factory is not dataclasses.MISSING
        )
        schema[item.name] = Field(hints[item.name], minimum, not has_default, exclusive)
    return schema


# ---------------------------------------------------------------------- trainer state
TRAINER_STATE: dict[str, Field] = {
    "format_version": Field(int),
    "step": Field(int, 0),
    "epoch": Field(int, 0),
    "batch_in_epoch": Field(int, 0),
    "optimizer": Field(dict),
    "scheduler": Field(dict | None, required=False),
    "rng": Field(dict),
    "early_stopping": Field(dict, required=False),
    "run": Field(dict, required=False),
}
"""Top level of ``trainer_state.pt`` (written by :class:`~pyautoencoder.training.Trainer`)."""

TRAINER_RNG: dict[str, Field] = {
    "cpu": Field(torch.Tensor),
    "cuda": Field(torch.Tensor, required=False),
}
TRAINER_EARLY_STOPPING: dict[str, Field] = {
    "best": Field(float | None, required=False),
    "best_step": Field(int | None, required=False),
    "bad_evals": Field(int, 0, required=False),
}
TRAINER_RUN: dict[str, Field] = {
    "model_class": Field(str, required=False),
    "num_train_examples": Field(int | None, required=False),
    "batch_size": Field(int, 1, required=False),
    "world_size": Field(int, 1, required=False),
    "total_steps": Field(int, 0, required=False),
    "config": Field(dict, required=False),
}


def check_trainer_state(state: Any, where: str, *, complete: bool = True) -> None:
    """Check a loaded trainer state and its nested sections.

    ``complete=False`` checks only the fields that are present; the trainer resumes only
    from a complete state (:func:`~pyautoencoder.training.load_trainer_state` itself reads
    the states of any tool and checks only their format).
    """
    check(state, TRAINER_STATE, where, complete=complete)
    if "rng" in state:
        check(state["rng"], TRAINER_RNG, where, "rng", complete=complete)
        rng = state["rng"].get("cpu")
        if isinstance(rng, torch.Tensor) and (rng.dtype != torch.uint8 or rng.dim() != 1):
            raise SchemaError(f"{where}: rng 'cpu' must be a 1-D uint8 tensor (a torch RNG state)")
    if "early_stopping" in state:
        check(state["early_stopping"], TRAINER_EARLY_STOPPING, where, "early_stopping")
    if "run" in state:
        check(state["run"], TRAINER_RUN, where, "run")


# ---------------------------------------------------------------------- pretrained config
PRETRAINED_MODEL: dict[str, Field] = {
    "name": Field(str),
    "input_shape": Field(list[int], 1),
    "latent_dim": Field(int, 1),
    "net": Field(str, required=False),
    "latent_channels": Field(int, 1, required=False),
    "hidden": Field(list[int] | None, 1, required=False),
    "channels": Field(list[int], 1, required=False),
    "activation": Field(str, required=False),
    "model_kwargs": Field(dict | None, required=False),
}
"""The ``model`` section of a pretrained ``config.json``: the ``create_model`` arguments."""

PRETRAINED_MAP_MODEL: dict[str, Field] = {
    **PRETRAINED_MODEL,
    "latent_dim": Field(type(None)),
    "latent_channels": Field(int, 1),
}
"""The same for latent maps (``latent_dim`` null, ``latent_channels`` required)."""
