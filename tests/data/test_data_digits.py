"""digits(): scikit-learn's 8x8 digits as a seeded split in [0, 1]."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits

from pyautoencoder.data import DatasetSplit, digits


def test_digits_split_shapes_dtypes_and_range() -> None:
    split = digits()
    assert isinstance(split, DatasetSplit)
    assert split.train_x.shape == (1438, 1, 8, 8) and split.test_x.shape == (359, 1, 8, 8)
    assert split.train_x.dtype == torch.float32 and split.train_y.dtype == torch.int64
    both = torch.cat([split.train_x, split.test_x])
    assert float(both.min()) == 0.0 and float(both.max()) == 1.0


def test_digits_are_the_scikit_learn_images_divided_by_16() -> None:
    split = digits()
    bunch = load_digits()
    reference = torch.as_tensor(bunch.images, dtype=torch.float64) / 16
    ours = torch.cat([split.train_x, split.test_x]).double().reshape(-1, 64)
    labels = torch.cat([split.train_y, split.test_y])
    # Every example appears exactly once, with its own label.
    ref_rows = {
        (tuple(r.tolist()), int(y)) for r, y in zip(reference.reshape(-1, 64), bunch.target)
    }
    our_rows = [(tuple(r.tolist()), int(y)) for r, y in zip(ours, labels)]
    assert len(our_rows) == 1797 and set(our_rows) <= ref_rows


def test_digits_split_is_seeded() -> None:
    first, again, other = digits(seed=0), digits(seed=0), digits(seed=1)
    torch.testing.assert_close(first.test_x, again.test_x, rtol=0, atol=0)
    assert not torch.equal(first.test_y, other.test_y)
    assert digits(test_fraction=0.5).test_x.shape[0] == round(0.5 * 1797)


def test_every_class_is_held_out() -> None:
    assert torch.bincount(digits().test_y, minlength=10).min() > 15


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, "0.2"])
def test_bad_test_fraction_is_explained(fraction: object) -> None:
    with pytest.raises(ValueError, match=r"test_fraction must lie in \(0, 1\)"):
        digits(test_fraction=fraction)  # type: ignore[arg-type]


def test_fallback_to_load_digits_gives_the_same_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the bundled CSV file, load_digits() is used and the split is identical."""
    from pathlib import Path

    from pyautoencoder.data import _digits

    fast = digits(seed=3)
    real_is_file = Path.is_file
    monkeypatch.setattr(
        Path, "is_file", lambda self: self.name != "digits.csv.gz" and real_is_file(self)
    )
    slow = digits(seed=3)
    for name in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(fast, name), getattr(slow, name)), name
    assert _digits._load_bundled_digits()[0].shape == (1797, 64)


def test_missing_scikit_learn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ImportError, match=r"scikit-learn.*pyautoencoder\[data\]"):
        digits()
