"""IDX files (the MNIST format) read locally, gzipped or not; nothing is ever downloaded.

IDX layout (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code
(``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32, ``0x0D`` float32, ``0x0E``
float64), the number of dimensions ``d``, ``d`` big-endian uint32 sizes, then the values in
row-major order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import os
import sys
import zlib
from pathlib import Path

import torch

from ._split import DatasetSplit, holdout_every_fifth

_IDX_TYPES: dict[int, torch.dtype] = {
    0x08: torch.uint8,
    0x09: torch.int8,
    0x0B: torch.int16,
    0x0C: torch.int32,
    0x0D: torch.float32,
    0x0E: torch.float64,
}
_GZIP_MAGIC = b"\x1f\x8b"


class DataFormatError(ValueError):
    """A data file is truncated, of the wrong kind, or inconsistent with its partner file."""


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        message = " ".join(str(error).split())
        raise DataFormatError(f"{path}: corrupted or truncated gzip data ({message})") from error


def read_idx(file: str | os.PathLike[str]) -> torch.Tensor:
    """Read one IDX file (gzip detected from its content) into a tensor of its stored shape.

    Parameters
    ----------
    file : path
        An IDX file such as ``t10k-images-idx3-ubyte`` or ``t10k-images-idx3-ubyte.gz``.

    Returns
    -------
    torch.Tensor
        Shape ``[d_1, ..., d_k]`` from the header; dtype from the type code (uint8 for MNIST).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    DataFormatError
        Wrong magic number or type code, a header or body shorter (or longer) than the
        header announces, or corrupted gzip data. The message names the file.
    """
    path = Path(file)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataFormatError(f"{path}: not an IDX file (only {len(data)} bytes)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataFormatError(
            f"{path}: not an IDX file (magic number 0x{data[:4].hex()}; expected 0x0000 then a "
            "type code 08/09/0B/0C/0D/0E and the number of dimensions)"
        )
    dtype, ndim = _IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataFormatError(
            f"{path}: truncated IDX header ({ndim} dimensions need {header} bytes, "
            f"file has {len(data)})"
        )
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    itemsize = torch.empty((), dtype=dtype).element_size()
    expected = math.prod(shape) * itemsize
    body = len(data) - header
    if body != expected:
        kind = "truncated" if body < expected else "has trailing bytes"
        raise DataFormatError(
            f"{path}: {kind}: the header announces shape {tuple(shape)} ({expected} bytes of "
            f"data), the file holds {body}"
        )
    values = torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8)
    if itemsize > 1 and sys.byteorder == "little":  # IDX is big-endian
        values = values.view(-1, itemsize).flip(-1).reshape(-1)
    return values.view(dtype).reshape(shape)


def _find(folder: Path, prefix: str, kind: str, magic: str) -> Path | None:
    """``<prefix>-<kind>-<magic>-ubyte[.gz]`` (also with ``.`` before ``idx``), if present."""
    for separator in ("-", "."):
        for suffix in ("", ".gz"):
            candidate = folder / f"{prefix}-{kind}{separator}{magic}-ubyte{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _read_pair(
    images_file: Path, labels_file: Path, binarize: bool, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.dim() != 3 or images.dtype != torch.uint8:
        raise DataFormatError(
            f"{images_file}: expected uint8 images [N, H, W], got {images.dtype} "
            f"{tuple(images.shape)}"
        )
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise DataFormatError(
            f"{labels_file}: expected one label per image [{images.shape[0]}], got "
            f"{tuple(labels.shape)}"
        )
    x = images.reshape(images.shape[0], -1).float() / 255.0  # [N, H * W]
    if binarize:
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
    return x.reshape(-1, 1, *images.shape[1:]), labels.long()


def mnist_idx(path: str | os.PathLike[str], binarize: bool = False, seed: int = 0) -> DatasetSplit:
    """MNIST (or any IDX image/label set in MNIST's naming) from a local folder.

    Looks for ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``; a
    ``.`` before ``idx`` is accepted too). With both splits present, the training split is
    the ``train`` files and the held-out split the ``t10k`` files. With only one split
    present (e.g. the official 10,000 test images alone), the "MNIST-10k" convention applies:
    examples with ``index % 5 == 0`` are held out (2,000), the others train (8,000).

    Images are float32 ``[N, 1, 28, 28]`` in ``[0, 1]`` (intensity / 255); labels int64.
    ``binarize=True`` samples each pixel once as ``Bernoulli(intensity / 255)`` with
    ``torch.Generator().manual_seed(seed)`` over each file's ``[N, 784]`` images in index
    order (before splitting), the convention of the project's MNIST benchmarks.

    Raises
    ------
    FileNotFoundError
        The folder does not exist or holds no complete image/label pair.
    DataFormatError
        A file is truncated, not IDX, or images and labels disagree.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"MNIST folder not found: {folder}")
    splits = {}
    for prefix in ("train", "t10k"):
        images = _find(folder, prefix, "images", "idx3")
        labels = _find(folder, prefix, "labels", "idx1")
        if images is not None and labels is not None:
            splits[prefix] = _read_pair(images, labels, binarize, seed)
    if not splits:
        raise FileNotFoundError(
            f"no MNIST IDX files in {folder}: expected t10k-images-idx3-ubyte[.gz] with "
            "t10k-labels-idx1-ubyte[.gz] and/or the train-* pair"
        )
    if len(splits) == 2:
        (train_x, train_y), (test_x, test_y) = splits["train"], splits["t10k"]
        return DatasetSplit(train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)
    return holdout_every_fifth(*next(iter(splits.values())))
