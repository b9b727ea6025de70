"""Data sets and batching: embedded digits, local MNIST IDX files, procedural shapes, toy
superposition data, and ``.npy`` shards streamed from disk.

Nothing here downloads anything. ``digits`` needs scikit-learn
(``pip install "pyautoencoder[data]"``) and ``array_shards`` numpy; the rest needs only torch.
"""

from ._batches import TensorBatches
from ._digits import digits
from ._idx import DataFormatError, mnist_idx, read_idx
from ._shapes import FACTOR_NAMES, SHAPE_NAMES, Shapes, shapes
from ._shards import ArrayShards, ShardBatches, array_shards
from ._split import DatasetSplit
from ._superposition import Superposition, superposition

__all__ = [
    "ArrayShards",
    "DataFormatError",
    "DatasetSplit",
    "FACTOR_NAMES",
    "SHAPE_NAMES",
    "Shapes",
    "ShardBatches",
    "Superposition",
    "TensorBatches",
    "array_shards",
    "digits",
    "mnist_idx",
    "read_idx",
    "shapes",
    "superposition",
]
