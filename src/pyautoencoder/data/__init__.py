"""Data sets and batching: embedded digits, local MNIST IDX files, procedural shapes.

Nothing here downloads anything. ``digits`` needs scikit-learn
(``pip install "pyautoencoder[data]"``); the rest needs only torch.
"""

from ._batches import TensorBatches
from ._digits import digits
from ._idx import DataFormatError, mnist_idx, read_idx
from ._shapes import FACTOR_NAMES, SHAPE_NAMES, Shapes, shapes
from ._split import DatasetSplit

__all__ = [
    "DataFormatError",
    "DatasetSplit",
    "FACTOR_NAMES",
    "SHAPE_NAMES",
    "Shapes",
    "TensorBatches",
    "digits",
    "mnist_idx",
    "read_idx",
    "shapes",
]
