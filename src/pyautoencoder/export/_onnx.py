"""ONNX files from exported programs (the ``onnx`` extra: ``onnx`` and ``onnxscript``).

:func:`to_onnx` converts a :class:`torch.export.ExportedProgram` (from
:func:`~pyautoencoder.export.export_encoder` / :func:`~pyautoencoder.export.export_decoder`)
with PyTorch's dynamo-based exporter (``torch.onnx.export(..., dynamo=True)``), so the
symbolic batch dimension of the program becomes a named ONNX dimension ``"batch"``. The model
is checked with ``onnx.checker`` before it is written. :func:`run_onnx` runs a file with
onnxruntime when it is installed and with ONNX's pure-Python reference evaluator otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write

_EXTRA_HINT = 'pip install "pyautoencoder[onnx]"'


def _require_onnx() -> Any:
    """Import ``onnx`` (and check ``onnxscript``) or raise an ImportError naming the extra."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's dynamo exporter needs it)
    except ImportError as error:
        raise ImportError(
            f"ONNX export needs the onnx and onnxscript packages: {_EXTRA_HINT} "
            f"(missing: {error.name or error})"
        ) from error
    return onnx


def _name_batch_dimension(model_proto: Any) -> None:
    """Rename the symbol of every input's dim 0 to ``"batch"`` when they share one symbol."""
    graph = model_proto.graph
    symbols = {
        value.type.tensor_type.shape.dim[0].dim_param
        for value in graph.input
        if value.type.tensor_type.shape.dim
    }
    if len(symbols) != 1 or "" in symbols:
        return
    (symbol,) = symbols
    for value in [*graph.input, *graph.output, *graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param == symbol:
                dim.dim_param = "batch"


def to_onnx(
    program: torch.export.ExportedProgram,
    path: str | os.PathLike[str],
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset_version: int | None = None,
) -> Path:
    """Write ``program`` as an ONNX file (checked with ``onnx.checker``), atomically.

    Parameters
    ----------
    program : torch.export.ExportedProgram
        From :func:`~pyautoencoder.export.export_encoder` or
        :func:`~pyautoencoder.export.export_decoder`; a dynamic batch dimension stays dynamic
        (named ``"batch"`` in the file).
    path : path-like
        Target file (``.onnx``). Models over 2 GB (protobuf's limit) are not supported here.
    input_names, output_names : sequence of str, optional
        Names of the graph's inputs/outputs (default: the program's, e.g. ``inputs_0``).
    opset_version : int, optional
        ONNX opset; default the exporter's.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ImportError
        ``onnx`` or ``onnxscript`` is missing (``pip install "pyautoencoder[onnx]"``).
    """
    onnx = _require_onnx()
    if not isinstance(program, torch.export.ExportedProgram):
        raise TypeError(
            "program must be a torch.export.ExportedProgram (from export_encoder / "
            f"export_decoder), got {type(program).__name__}"
        )
    onnx_program = torch.onnx.export(
        program,
        (),
        dynamo=True,
        input_names=None if input_names is None else list(input_names),
        output_names=None if output_names is None else list(output_names),
        opset_version=opset_version,
        verbose=False,
    )
    if onnx_program is None:  # only when f= is given, which it is not here
        raise RuntimeError("torch.onnx.export returned no ONNX program")
    model_proto = onnx_program.model_proto
    _name_batch_dimension(model_proto)
    onnx.checker.check_model(model_proto, full_check=True)
    target = Path(path)
    atomic_write(target, lambda handle: onnx.save_model(model_proto, handle))
    return target


def run_onnx(path: str | os.PathLike[str], *inputs: torch.Tensor) -> list[Any]:
    """Run an ONNX file on ``inputs`` (in graph-input order); returns numpy arrays.

    Uses onnxruntime when it is installed (it is not a dependency of the extra), else
    ``onnx.reference.ReferenceEvaluator`` (pure Python: slow, for checking small batches).
    """
    onnx = _require_onnx()
    model_proto = onnx.load(str(path))
    names = [value.name for value in model_proto.graph.input]
    if len(inputs) != len(names):
        raise ValueError(
            f"the ONNX graph has {len(names)} input(s) {names}, got {len(inputs)} tensor(s)"
        )
    feeds = {name: tensor.detach().cpu().numpy() for name, tensor in zip(names, inputs)}
    try:
        import onnxruntime
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        return list(ReferenceEvaluator(model_proto).run(None, feeds))
    session = onnxruntime.InferenceSession(
        model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return list(session.run(None, feeds))
