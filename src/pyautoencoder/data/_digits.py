"""scikit-learn's bundled 8x8 digits as a seeded training / held-out split."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from typing import Any

import torch

from ._split import DatasetSplit

_MISSING = 'pyautoencoder.data.digits needs scikit-learn: pip install "pyautoencoder[data]"'


def digits(test_fraction: float = 0.2, seed: int = 0) -> DatasetSplit:
    """The 1,797 handwritten 8x8 digits bundled with scikit-learn (no download).

    Pixel values ``0..16`` are divided by 16, so images are float32 in ``[0, 1]``, shaped
    ``[N, 1, 8, 8]``; labels are int64 class indices ``0..9``. The examples are shuffled once
    with ``torch.Generator().manual_seed(seed)`` and the first ``round(test_fraction * N)``
    of that order are held out (with the defaults: 1,438 training and 359 held-out examples).

    Parameters
    ----------
    test_fraction : float
        Share of held-out examples, in ``(0, 1)``.
    seed : int
        Seed of the shuffle.

    Raises
    ------
    ImportError
        If scikit-learn is not installed (``pip install "pyautoencoder[data]"``).
    """
    if not isinstance(test_fraction, (int, float)) or not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    pixels, targets = _load_bundled_digits()
    images = torch.as_tensor(pixels, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0  # [N,1,8,8]
    labels = torch.as_tensor(targets, dtype=torch.int64)  # [N]
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(int(seed)))
    num_test = round(float(test_fraction) * images.shape[0])
    test, train = order[:num_test], order[num_test:]
    return DatasetSplit(
        train_x=images[train], train_y=labels[train], test_x=images[test], test_y=labels[test]
    )


def _load_bundled_digits() -> tuple[Any, Any]:
    """Pixels ``[N, 64]`` (``0..16``) and labels ``[N]`` of scikit-learn's digits file.

    The file ``sklearn/datasets/data/digits.csv.gz`` (one row per image: 64 pixel counts, then
    the label) is read directly, which skips importing ``sklearn.datasets`` (about a second);
    if the file is not where scikit-learn keeps it, ``sklearn.datasets.load_digits`` is used.
    """
    import numpy as np

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(_MISSING)
    for location in spec.submodule_search_locations:
        path = Path(location) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as handle:
                table = np.loadtxt(handle, delimiter=",", ndmin=2)
            if table.shape[1] == 65:
                return table[:, :64], table[:, 64].astype(np.int64)
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(_MISSING) from error
    bunch = load_digits()
    return bunch.data, bunch.target
