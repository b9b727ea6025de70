"""Compatibility path: older code imports the base classes from ``pyautoencoder._base.base``."""

from ._autoencoder import BaseAutoencoder
from ._model_output import ModelOutput

__all__ = ["BaseAutoencoder", "ModelOutput"]
