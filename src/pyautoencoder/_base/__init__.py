"""Internal base classes: :class:`BaseAutoencoder` and :class:`ModelOutput` (C-PKG-4)."""

from ._autoencoder import BaseAutoencoder
from ._model_output import ModelOutput

__all__ = ["BaseAutoencoder", "ModelOutput"]
