"""pyautoencoder: autoencoders for PyTorch.

Bring your own encoder and decoder (``nn.Module``); the library supplies the model families,
their objectives, evaluation and training.

The public API lives in the subpackages :mod:`pyautoencoder.loss`,
:mod:`pyautoencoder.vanilla` and :mod:`pyautoencoder.variational`. Value checks (NaN/inf,
a likelihood's support) can be switched off for speed with :func:`set_value_checks`.
"""

from __future__ import annotations

from importlib import metadata as _metadata

from . import loss, vanilla, variational
from ._validation import set_value_checks, value_checks, value_checks_enabled


def _read_version() -> str:
    try:
        return _metadata.version("pyautoencoder")
    except _metadata.PackageNotFoundError:
        return "0+unknown"


__version__: str = _read_version()

__all__ = ["loss", "vanilla", "variational"]

# Not in ``__all__`` (C-PKG-1 fixes it to the three subpackages) but public all the same.
_EXTRA_PUBLIC = (set_value_checks, value_checks, value_checks_enabled)
