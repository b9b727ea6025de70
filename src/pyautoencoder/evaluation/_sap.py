r"""The separated attribute predictability score (Kumar et al. 2018, Sec. 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._arrays import check_pair, check_split, require, standardize
from ._ground_truth import (
    GroundTruthData,
    as_representation,
    check_ground_truth_data,
    make_generator,
    sample_codes_and_factors,
)

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class SAPResult:
    """The SAP score and its score matrix.

    Attributes
    ----------
    score : float
        SAP: mean over factors of the gap between the two most predictive dimensions.
    per_factor : numpy.ndarray
        ``[K]`` gap of each factor.
    score_matrix : numpy.ndarray
        ``[D_z, K]`` how well dimension ``d`` alone predicts factor ``k`` (test accuracy of a
        one-dimensional linear classifier, or ``R^2`` for continuous factors).
    """

    score: float
    per_factor: np.ndarray
    score_matrix: np.ndarray


def _classification_matrix(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> np.ndarray:
    """Test accuracy ``[D_z, K]`` of a linear SVM on each single standardised dimension."""
    numpy = require("numpy")
    svm = require("sklearn.svm")
    x_train, x_test = standardize(x_train, x_test)
    result = numpy.zeros((x_train.shape[1], y_train.shape[1]))
    for d in range(x_train.shape[1]):
        if x_train[:, d].std() == 0:
            continue  # a constant dimension predicts nothing: score 0
        for k in range(y_train.shape[1]):
            if numpy.unique(y_train[:, k]).size < 2:
                result[d, k] = numpy.mean(y_test[:, k] == y_train[0, k])
                continue
            classifier = svm.LinearSVC(C=0.01, class_weight="balanced")
            classifier.fit(x_train[:, d : d + 1], y_train[:, k])
            result[d, k] = numpy.mean(classifier.predict(x_test[:, d : d + 1]) == y_test[:, k])
    return result


def _regression_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``R^2`` ``[D_z, K]`` of a one-dimensional linear regression: squared correlation."""
    numpy = require("numpy")
    x_centred = x - x.mean(axis=0)
    y_centred = y - y.mean(axis=0)
    covariance = x_centred.T @ y_centred / x.shape[0]  # [D_z, K]
    variance = numpy.outer(x.var(axis=0), y.var(axis=0))  # [D_z, K]
    with numpy.errstate(divide="ignore", invalid="ignore"):
        r_squared = numpy.where(variance > 0, covariance**2 / variance, 0.0)
    return r_squared


def sap_from_codes(
    train_codes: Any,
    train_factors: Any,
    test_codes: Any = None,
    test_factors: Any = None,
    *,
    continuous_factors: bool = False,
) -> SAPResult:
    r"""SAP of precomputed codes and factors.

    .. math::

        \mathrm{SAP} = \frac1K \sum_k \big(S_{j^{(1)}_k k} - S_{j^{(2)}_k k}\big),

    where :math:`S_{dk}` scores how well dimension ``d`` alone predicts factor ``k`` and
    :math:`j^{(1)}_k, j^{(2)}_k` are the best and second-best dimensions. For discrete factors
    :math:`S_{dk}` is the test accuracy of a linear SVM (``LinearSVC(C=0.01,
    class_weight="balanced")``) fitted on the training split; with
    ``continuous_factors=True`` it is the ``R^2`` of a one-dimensional linear regression on
    the training split (the test split is then unused and may be omitted).
    """
    numpy = require("numpy")
    if continuous_factors:
        x, y = check_pair(train_codes, train_factors, "train")
        matrix = _regression_matrix(x, y.astype(numpy.float64))
    else:
        if test_codes is None or test_factors is None:
            raise ValueError("discrete SAP needs test_codes and test_factors")
        matrix = _classification_matrix(
            *check_split(train_codes, train_factors, test_codes, test_factors)
        )
    if matrix.shape[0] < 2:
        raise ValueError(f"SAP needs at least 2 code dimensions, got {matrix.shape[0]}")
    top_two = -numpy.sort(-matrix, axis=0)[:2]  # [2, K]
    per_factor = top_two[0] - top_two[1]
    return SAPResult(score=float(per_factor.mean()), per_factor=per_factor, score_matrix=matrix)


def sap_score(
    representation: Any,
    data: GroundTruthData,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    continuous_factors: bool = False,
    batch_size: int = 256,
    seed: int = 0,
) -> SAPResult:
    r"""The SAP score of a representation (Kumar et al. 2018, Sec. 3).

    For each factor, the difference between the predictability of the factor from the best
    single code dimension and from the second best, averaged over factors: high when each
    factor is captured by one dimension (and the prediction is good).

    Protocol of Locatello et al. (2019): 10,000 training and 5,000 test observations, discrete
    factors, a linear SVM with ``C = 0.01`` per (dimension, factor) pair scored by test
    accuracy. Kumar et al. use balanced accuracy for categorical factors and ``R^2`` for
    continuous ones (``continuous_factors=True``). Scores are comparable only between
    representations evaluated on the same data; even a perfect representation scores
    below 1 when a 1-D linear classifier cannot separate a factor's many values.
    """
    check_ground_truth_data(data)
    encode = as_representation(representation)
    generator = make_generator(seed)
    train = sample_codes_and_factors(encode, data, num_train, generator, batch_size)
    test = sample_codes_and_factors(encode, data, num_test, generator, batch_size)
    return sap_from_codes(*train, *test, continuous_factors=continuous_factors)
