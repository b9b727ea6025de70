r"""Discretisation and plug-in mutual information, shared by MIG and modularity."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

from ._arrays import check_codes, check_factors, require

if TYPE_CHECKING:
    import numpy as np


def discretize(values: Any, num_bins: int = 20) -> np.ndarray:
    r"""Bin each column into ``num_bins`` equal-width bins over its range: ``[N, D]`` int64.

    The histogram discretiser of Locatello et al. (2019) used for MIG and modularity: column
    ``d`` is cut at ``num_bins - 1`` equally spaced edges between its minimum and maximum, and
    each value is replaced by its bin index in ``0 .. num_bins - 1``. A constant column maps to
    bin 0.

    Parameters
    ----------
    values : array-like
        ``[N, D]`` real values (codes, or continuous factors).
    num_bins : int
        Bins per column (20 in Locatello et al. 2019).
    """
    numpy = require("numpy")
    if isinstance(num_bins, bool) or not isinstance(num_bins, numbers.Integral) or num_bins < 1:
        raise ValueError(f"num_bins must be an int >= 1, got {num_bins!r}")
    array = check_codes(values, "values")
    result = numpy.zeros(array.shape, dtype=numpy.int64)
    for d in range(array.shape[1]):
        column = array[:, d]
        low, high = column.min(), column.max()
        if high > low:
            edges = numpy.linspace(low, high, num_bins + 1)[1:-1]  # interior edges
            result[:, d] = numpy.searchsorted(edges, column, side="right")
    return result


def entropy(labels: np.ndarray) -> np.ndarray:
    r"""Plug-in entropy (nats) of each column of integer labels ``[N, K]`` -> ``[K]``.

    :math:`H(v) = -\sum_j \hat p_j \log \hat p_j` with empirical frequencies :math:`\hat p_j`.
    """
    numpy = require("numpy")
    result = numpy.zeros(labels.shape[1])
    for k in range(labels.shape[1]):
        _, counts = numpy.unique(labels[:, k], return_counts=True)
        p = counts / counts.sum()
        result[k] = -(p * numpy.log(p)).sum()
    return result


def _mutual_information_pair(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in ``I(a; b)`` in nats of two integer label vectors ``[N]``."""
    numpy = require("numpy")
    _, a_index = numpy.unique(a, return_inverse=True)
    _, b_index = numpy.unique(b, return_inverse=True)
    num_b = int(b_index.max()) + 1
    joint = numpy.bincount(a_index * num_b + b_index, minlength=(a_index.max() + 1) * num_b)
    joint = joint.reshape(-1, num_b) / a.shape[0]  # [|a|, |b|]
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * numpy.log(joint[nonzero] / outer[nonzero])).sum())


def mutual_information_matrix(discrete_codes: Any, factors: Any) -> np.ndarray:
    r"""Plug-in mutual information ``I(z_d; v_k)`` (nats) of every code and factor: ``[D, K]``.

    .. math::

        I(z_d; v_k) = \sum_{a, b} \hat p(a, b) \log \frac{\hat p(a, b)}{\hat p(a)\, \hat p(b)}

    over the empirical joint distribution of the discretised code and the factor. The plug-in
    estimate is biased upwards by about ``(|a| - 1)(|b| - 1) / (2N)`` nats for independent
    variables (Miller-Madow), which is why independent codes score slightly above 0.
    """
    numpy = require("numpy")
    codes = check_factors(discrete_codes, "discrete_codes")
    labels = check_factors(factors, "factors")
    if codes.shape[0] != labels.shape[0]:
        raise ValueError(
            "discrete_codes and factors must have the same number of rows, got "
            f"{codes.shape[0]} and {labels.shape[0]}"
        )
    result = numpy.zeros((codes.shape[1], labels.shape[1]))
    for d in range(codes.shape[1]):
        for k in range(labels.shape[1]):
            result[d, k] = _mutual_information_pair(codes[:, d], labels[:, k])
    return result
