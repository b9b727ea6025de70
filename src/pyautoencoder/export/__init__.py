"""Deployable encoders and decoders: ``torch.export`` programs and ONNX files.

>>> from pyautoencoder.export import export_encoder, export_decoder, save_exported, to_onnx
>>> encoder = export_encoder(vae, x[:4], output="mu")        # any batch size at run time
>>> save_exported(encoder, "encoder.pt2")                     # doctest: +SKIP
>>> to_onnx(encoder, "encoder.onnx")                          # needs the onnx extra

:func:`export_encoder` / :func:`export_decoder` need only torch; :func:`to_onnx` and
:func:`run_onnx` need the ``onnx`` extra (``pip install "pyautoencoder[onnx]"``).
"""

from ._onnx import run_onnx, to_onnx
from ._programs import ExportError, export_decoder, export_encoder, load_exported, save_exported

__all__ = [
    "ExportError",
    "export_decoder",
    "export_encoder",
    "load_exported",
    "run_onnx",
    "save_exported",
    "to_onnx",
]
