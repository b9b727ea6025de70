"""``torch.export`` programs of a trained model's encoder and decoder.

An autoencoder's two halves are deployed separately: the encoder maps data to latents (a
posterior mean, a code, codebook indices) and the decoder maps latents back to data. Each half
is wrapped in a small ``nn.Module`` that calls the model's training path (``_encode`` /
``_decode``) on a frozen, eval-mode snapshot of the model and returns the chosen fields of the
output dataclass; that wrapper is traced by :func:`torch.export.export` with the batch dimension
of every input left symbolic.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import atomic_write
from .._validation import check_module

Inputs = torch.Tensor | Sequence[torch.Tensor]


class ExportError(RuntimeError):
    """A model part could not be traced by ``torch.export``; the cause is chained."""


class _ModelPart(nn.Module):
    """``forward(*inputs)``: the chosen fields of ``model.<method>(*inputs, **kwargs)``.

    One field is returned as a tensor, several as a tuple in the order asked for.
    """

    def __init__(
        self, model: nn.Module, method: str, fields: tuple[str, ...], kwargs: Mapping[str, Any]
    ) -> None:
        super().__init__()
        self.model = model
        self.method = method
        self.fields = fields
        self.kwargs = dict(kwargs)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        result = getattr(self.model, self.method)(*inputs, **self.kwargs)
        values = tuple(getattr(result, name) for name in self.fields)
        return values[0] if len(values) == 1 else values


def _as_inputs(value: Inputs, name: str) -> tuple[torch.Tensor, ...]:
    inputs = (value,) if isinstance(value, torch.Tensor) else tuple(value)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise TypeError(
            f"{name} must be a tensor or a tuple of tensors (e.g. (x, y) for a conditional "
            f"model), got {type(value).__name__}"
        )
    batch = {t.shape[0] if t.dim() > 0 else None for t in inputs}
    if None in batch or len(batch) != 1:
        shapes = [tuple(t.shape) for t in inputs]
        raise ValueError(
            f"{name} must be batched tensors [B, ...] sharing one batch size B, got shapes {shapes}"
        )
    return inputs


def _as_fields(output: str | Sequence[str], name: str) -> tuple[str, ...]:
    fields = (output,) if isinstance(output, str) else tuple(output)
    if not fields or not all(isinstance(f, str) for f in fields):
        raise TypeError(f"{name} must be a field name or a sequence of field names, got {output!r}")
    return fields


def _accepts_keyword(function: Any, keyword: str) -> bool:
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _frozen_snapshot(model: nn.Module, part: str) -> nn.Module:
    """An eval-mode deep copy whose parameters need no gradient; lazy layers are refused."""
    lazy = [name for name, p in model.named_parameters() if nn.parameter.is_lazy(p)]
    lazy += [name for name, b in model.named_buffers() if nn.parameter.is_lazy(b)]
    if lazy:
        raise ValueError(
            f"cannot export the {part} of {type(model).__name__}: its lazy layers were never "
            f"materialised ({', '.join(lazy[:3])}{', ...' if len(lazy) > 3 else ''}); call "
            "model.build(example_input) or load trained weights first"
        )
    snapshot = copy.deepcopy(model).eval()
    snapshot.requires_grad_(False)
    return snapshot


def _check_fields(result: object, fields: tuple[str, ...], part: str, model: nn.Module) -> None:
    if not dataclasses.is_dataclass(result):
        raise TypeError(
            f"the {part} of {type(model).__name__} returned {type(result).__name__}, expected "
            "an output dataclass (a ModelOutput)"
        )
    available = [f.name for f in dataclasses.fields(result)]
    for name in fields:
        if name not in available:
            raise ValueError(
                f"output {name!r} is not a field of {type(result).__name__} (the {part} output "
                f"of {type(model).__name__}); available: {', '.join(available)}"
            )
        if not isinstance(getattr(result, name), torch.Tensor):
            raise TypeError(
                f"output {name!r} of {type(result).__name__} is "
                f"{type(getattr(result, name)).__name__}, expected a tensor"
            )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= 300 else line[:297] + "..."


def _export_part(
    model: nn.Module,
    part: str,
    method: str,
    inputs: tuple[torch.Tensor, ...],
    fields: tuple[str, ...] | None,
    kwargs: Mapping[str, Any],
    dynamic_batch: bool,
) -> torch.export.ExportedProgram:
    """Trace ``<method>`` of a snapshot returning ``fields`` (``None``: ``mu`` or ``z``)."""
    snapshot = _frozen_snapshot(model, part)
    with torch.no_grad():  # the eager pass reports bad inputs and unknown fields clearly
        result = getattr(snapshot, method)(*inputs, **kwargs)
    if fields is None:
        # mu is the code unless the posterior says otherwise (a flow's code is f(mu) = z)
        posterior = getattr(snapshot, "latent_posterior", None)
        code_is_mu = getattr(posterior, "code_is_mu", True)
        fields = ("mu",) if hasattr(result, "mu") and code_is_mu else ("z",)
    _check_fields(result, fields, part, model)
    wrapper = _ModelPart(snapshot, method, fields, kwargs)
    dynamic_shapes = None
    if dynamic_batch:
        batch = torch.export.Dim("batch")
        dynamic_shapes = (tuple({0: batch} for _ in inputs),)
    try:
        return torch.export.export(wrapper, inputs, dynamic_shapes=dynamic_shapes)
    except Exception as error:
        hint = (
            " (the code fixes the batch size; try dynamic_batch=False)"
            if dynamic_batch and "batch" in str(error)
            else ""
        )
        raise ExportError(
            f"could not export the {part} of {type(model).__name__}{hint}: "
            f"{type(error).__name__}: {_first_line(error)}"
        ) from error


def export_encoder(
    model: nn.Module,
    example_input: Inputs,
    output: str | Sequence[str] | None = None,
    *,
    encode_kwargs: Mapping[str, Any] | None = None,
    dynamic_batch: bool = True,
) -> torch.export.ExportedProgram:
    """Export ``model._encode`` as a :class:`torch.export.ExportedProgram`.

    The program runs an eval-mode snapshot of ``model`` (a deep copy: later training of
    ``model`` does not change it; BatchNorm uses its running statistics, dropout is off) and
    returns the chosen fields of the encode output.

    Parameters
    ----------
    model : nn.Module
        A model of the library (anything with ``_encode`` returning an output dataclass).
    example_input : torch.Tensor or tuple of torch.Tensor
        ``x [B, ...]``, or the positional inputs of ``_encode`` (``(x, y)`` for a CVAE), all
        with the same batch size ``B``.
    output : str or sequence of str, optional
        Field(s) of the encode output to return: ``"mu"``, ``"log_var"``, ``"z"``,
        ``"indices"`` (a VQ-VAE's codebook indices) ... Several give a tuple. Default:
        ``"mu"`` when the output has it (variational models), else ``"z"``; for a flow
        posterior (``model.latent_posterior.code_is_mu`` false) ``"z"``, the flow's image of
        the base mean ``f(mu)`` ``[B, 1, D_z]`` (all flows trace, and export to ONNX).
    encode_kwargs : mapping, optional
        Keyword arguments of ``_encode``. If ``_encode`` takes ``sample`` and none is given,
        ``sample=False`` is used, so ``z`` is the posterior mean ``[B, 1, D_z]`` as in
        ``model.encode``; pass ``{"sample": True}`` to export a sampling encoder.
    dynamic_batch : bool
        Leave the batch dimension of every input symbolic (default), so the program accepts
        any batch size; ``False`` fixes it to ``B``.

    Raises
    ------
    ExportError
        ``torch.export`` could not trace the encoder ("could not export the encoder of
        VAE: ..."); the original error is chained.
    """
    check_module(model, "model")
    inputs = _as_inputs(example_input, "example_input")
    kwargs = dict(encode_kwargs or {})
    method = "_encode"
    if not hasattr(model, method):
        raise TypeError(f"model must have an _encode method, got {type(model).__name__}")
    if "sample" not in kwargs and _accepts_keyword(getattr(model, method), "sample"):
        kwargs["sample"] = False
    fields = None if output is None else _as_fields(output, "output")
    return _export_part(model, "encoder", method, inputs, fields, kwargs, dynamic_batch)


def export_decoder(
    model: nn.Module,
    example_latent: Inputs,
    output: str | Sequence[str] = "x_hat",
    *,
    decode_kwargs: Mapping[str, Any] | None = None,
    dynamic_batch: bool = True,
) -> torch.export.ExportedProgram:
    """Export ``model._decode`` as a :class:`torch.export.ExportedProgram`.

    Parameters
    ----------
    model : nn.Module
        A model of the library (anything with ``_decode`` returning an output dataclass).
    example_latent : torch.Tensor or tuple of torch.Tensor
        A latent batch as ``_decode`` takes it: ``z [B, S, D_z]`` for the VAE family,
        ``[B, D_z]`` for an AE, codes ``[B, D, *S]`` or integer indices ``[B, *S]`` for a
        VQ-VAE; ``(z, y)`` for a CVAE.
    output : str or sequence of str
        Field(s) of the decode output to return (default ``"x_hat"``).
    decode_kwargs : mapping, optional
        Keyword arguments of ``_decode``.
    dynamic_batch : bool
        Leave the batch dimension symbolic (default).

    Raises
    ------
    ExportError
        ``torch.export`` could not trace the decoder; the original error is chained.
    """
    check_module(model, "model")
    if not hasattr(model, "_decode"):
        raise TypeError(f"model must have a _decode method, got {type(model).__name__}")
    inputs = _as_inputs(example_latent, "example_latent")
    fields = _as_fields(output, "output")
    kwargs = dict(decode_kwargs or {})
    return _export_part(model, "decoder", "_decode", inputs, fields, kwargs, dynamic_batch)


def save_exported(program: torch.export.ExportedProgram, path: str | os.PathLike[str]) -> Path:
    """Write ``program`` with :func:`torch.export.save` atomically (``.pt2`` by convention).

    Returns the path written. Load it back with :func:`load_exported`.
    """
    if not isinstance(program, torch.export.ExportedProgram):
        raise TypeError(
            f"program must be a torch.export.ExportedProgram (from export_encoder / "
            f"export_decoder), got {type(program).__name__}"
        )
    target = Path(path)
    atomic_write(target, lambda handle: torch.export.save(program, handle))
    return target


def load_exported(path: str | os.PathLike[str]) -> torch.export.ExportedProgram:
    """Read a program written by :func:`save_exported`; call ``.module()`` to run it."""
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(f"no exported program at {str(target)!r}")
    return torch.export.load(target)
