"""scikit-learn's bundled 8x8 digits as a seeded training / held-out split."""

from __future__ import annotations

import torch

from ._split import DatasetSplit


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
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            'pyautoencoder.data.digits needs scikit-learn: pip install "pyautoencoder[data]"'
        ) from error
    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # [N,1,8,8]
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)  # [N]
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(int(seed)))
    num_test = round(float(test_fraction) * images.shape[0])
    test, train = order[:num_test], order[num_test:]
    return DatasetSplit(
        train_x=images[train], train_y=labels[train], test_x=images[test], test_y=labels[test]
    )
