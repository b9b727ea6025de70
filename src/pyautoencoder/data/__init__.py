"""Data sets and batching: embedded digits, local MNIST IDX files, procedural shapes, toy
superposition data, ``.npy`` shards streamed from disk, and folders of PNG/JPEG images
(:func:`image_folder`, decoded lazily with Pillow).

Nothing here downloads anything. ``digits`` needs scikit-learn and ``image_folder`` Pillow
(``pip install "pyautoencoder[data]"``) and ``array_shards`` numpy; the rest needs only torch.
"""

from ._batches import TensorBatches
from ._digits import digits
from ._idx import DataFormatError, mnist_idx, read_idx
from ._image_folder import IMAGE_EXTENSIONS, ImageFolder, image_folder
from ._shapes import FACTOR_NAMES, SHAPE_NAMES, Shapes, shapes
from ._shards import ArrayShards, ShardBatches, array_shards
from ._split import DatasetSplit
from ._superposition import Superposition, superposition

__all__ = [
    "ArrayShards",
    "DataFormatError",
    "DatasetSplit",
    "FACTOR_NAMES",
    "IMAGE_EXTENSIONS",
    "ImageFolder",
    "SHAPE_NAMES",
    "Shapes",
    "ShardBatches",
    "Superposition",
    "TensorBatches",
    "array_shards",
    "digits",
    "image_folder",
    "mnist_idx",
    "read_idx",
    "shapes",
    "superposition",
]
