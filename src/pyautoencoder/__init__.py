"""pyautoencoder: autoencoders for PyTorch.

Bring your own encoder and decoder (``nn.Module``); the library supplies the model families,
their objectives, evaluation and training.

The public API lives in the subpackages :mod:`pyautoencoder.loss`,
:mod:`pyautoencoder.vanilla` and :mod:`pyautoencoder.variational`. Value checks (NaN/inf,
a likelihood's support) can be switched off for speed with :func:`set_value_checks`.
"""

from __future__ import annotations

from importlib import import_module as _import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import loss as loss
    from . import vanilla as vanilla
    from . import variational as variational
    from ._validation import set_value_checks as set_value_checks
    from ._validation import value_checks as value_checks
    from ._validation import value_checks_enabled as value_checks_enabled

    __version__: str

# The subpackages and the value-check switches load on first use (PEP 562), so that
# ``import pyautoencoder.cli`` -- every ``pyautoencoder --help`` -- does not import torch.
_SUBPACKAGES = frozenset({"loss", "vanilla", "variational"})
_VALIDATION = frozenset({"set_value_checks", "value_checks", "value_checks_enabled"})


def __getattr__(name: str) -> Any:
    if name == "__version__":  # importlib.metadata alone takes ~0.1 s to import
        version = globals()["__version__"] = _read_version()
        return version
    if name == "_metadata":
        return _import_module("importlib.metadata")
    if name in _SUBPACKAGES:
        return _import_module(f"{__name__}.{name}")
    if name in _VALIDATION:
        return getattr(_import_module(f"{__name__}._validation"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBPACKAGES | _VALIDATION | {"__version__"})


def _read_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("pyautoencoder")
    except metadata.PackageNotFoundError:
        return "0+unknown"


__all__ = ["loss", "vanilla", "variational"]

# ``set_value_checks``, ``value_checks`` and ``value_checks_enabled`` are not in ``__all__``
# (the 2.x API fixes it to the three subpackages) but public all the same.
