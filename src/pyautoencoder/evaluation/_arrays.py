"""Optional imports (numpy, scikit-learn) and the array checks of the disentanglement metrics."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    import numpy as np

_EXTRA_HINT = 'pip install "pyautoencoder[eval]"'


def require(module: str) -> ModuleType:
    """Import ``module`` (numpy or a scikit-learn module) or raise an ``ImportError`` that
    names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"the disentanglement metrics need {module.split('.')[0]} ({module} could not be "
            f"imported): install the evaluation extra with {_EXTRA_HINT}"
        ) from error


def to_numpy(array: Any, name: str, ndim: int = 2) -> np.ndarray:
    """A float64 or integer numpy copy of a tensor or array-like with ``ndim`` dimensions."""
    numpy = require("numpy")
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    result = numpy.asarray(array)
    if result.ndim != ndim:
        layout = "[N, D]" if ndim == 2 else f"{ndim} dimensions"
        raise ValueError(f"{name} must have shape {layout}, got shape {tuple(result.shape)}")
    if result.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one row, got shape {tuple(result.shape)}")
    return result


def check_codes(codes: Any, name: str = "codes") -> np.ndarray:
    """Codes ``[N, D_z]`` as finite float64."""
    numpy = require("numpy")
    result = to_numpy(codes, name).astype(numpy.float64)
    if not numpy.all(numpy.isfinite(result)):
        raise ValueError(f"{name} must be finite, got NaN or inf values")
    return result


def check_factors(factors: Any, name: str = "factors") -> np.ndarray:
    """Ground-truth factors ``[N, K]`` as int64 class indices (integral values required)."""
    numpy = require("numpy")
    result = to_numpy(factors, name)
    if result.dtype.kind == "f":
        if not numpy.all(numpy.isfinite(result)) or not numpy.all(result == numpy.round(result)):
            raise ValueError(
                f"{name} must hold integer class indices (discrete factors), got non-integral "
                "values; discretise continuous factors first, e.g. with "
                "pyautoencoder.evaluation.discretize(factors, num_bins=20)"
            )
    elif result.dtype.kind not in "iub":
        raise TypeError(f"{name} must be numeric, got dtype {result.dtype}")
    return result.astype(numpy.int64)


def check_pair(codes: Any, factors: Any, split: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Checked codes and factors with the same number of rows."""
    prefix = f"{split}_" if split else ""
    checked_codes = check_codes(codes, f"{prefix}codes")
    checked_factors = check_factors(factors, f"{prefix}factors")
    if checked_codes.shape[0] != checked_factors.shape[0]:
        raise ValueError(
            f"{prefix}codes and {prefix}factors must have the same number of rows, got "
            f"{checked_codes.shape[0]} and {checked_factors.shape[0]}"
        )
    return checked_codes, checked_factors


def check_split(
    train_codes: Any, train_factors: Any, test_codes: Any, test_factors: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked train and test pairs with matching code and factor widths."""
    x_train, y_train = check_pair(train_codes, train_factors, "train")
    x_test, y_test = check_pair(test_codes, test_factors, "test")
    if x_train.shape[1] != x_test.shape[1] or y_train.shape[1] != y_test.shape[1]:
        raise ValueError(
            "train and test must have the same code and factor widths, got codes "
            f"{x_train.shape[1]} vs {x_test.shape[1]} and factors {y_train.shape[1]} vs "
            f"{y_test.shape[1]}"
        )
    return x_train, y_train, x_test, y_test


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale columns with the training mean and std (a std of 0 is left as 1)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    return (train - mean) / std, (test - mean) / std
