"""Internal base classes: :class:`BaseAutoencoder` and :class:`ModelOutput`."""

from ._autoencoder import BaseAutoencoder
from ._model_output import ModelOutput

__all__ = ["BaseAutoencoder", "ModelOutput"]
