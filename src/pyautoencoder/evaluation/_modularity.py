r"""Modularity and explicitness (Ridgeway & Mozer 2018, Sec. 3)."""

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
from ._information import discretize, mutual_information_matrix

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class ModularityExplicitnessResult:
    """Modularity of the codes and explicitness of the factors.

    Attributes
    ----------
    modularity : float
        Mean over code dimensions of ``1 - delta_d`` (1: each dimension depends on one factor).
    explicitness : float
        Mean test ROC-AUC of the one-vs-rest logistic-regression classifiers (0.5: chance).
    explicitness_train : float
        The same on the training split.
    per_code_modularity : numpy.ndarray
        ``[D_z]``.
    per_factor_explicitness : numpy.ndarray
        ``[K]`` test AUC averaged over each factor's values.
    mutual_information : numpy.ndarray
        ``[D_z, K]`` plug-in mutual information (nats) used for modularity.
    """

    modularity: float
    explicitness: float
    explicitness_train: float
    per_code_modularity: np.ndarray
    per_factor_explicitness: np.ndarray
    mutual_information: np.ndarray


def modularity_from_mutual_information(mutual_information: Any) -> tuple[float, np.ndarray]:
    r"""Modularity of a mutual-information matrix ``m [D_z, K]``: ``(mean, per_code [D_z])``.

    .. math::

        \theta_d = \max_k m_{dk},\quad
        \delta_d = \frac{\sum_{k \ne k^*_d} m_{dk}^2}{\theta_d^2 (K - 1)},\quad
        \mathrm{modularity}_d = 1 - \delta_d,

    i.e. the squared deviation of ``m_d`` from the ideal template that is ``theta_d`` at the
    best factor and 0 elsewhere, normalised. A dimension with no information (``theta_d = 0``)
    scores 0. Needs ``K >= 2``.
    """
    numpy = require("numpy")
    m = numpy.asarray(mutual_information, dtype=numpy.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError(f"modularity needs a [D_z, K] matrix with K >= 2, got shape {m.shape}")
    squared = m**2
    theta_squared = squared.max(axis=1)
    deviation = squared.sum(axis=1) - theta_squared
    with numpy.errstate(divide="ignore", invalid="ignore"):
        per_code = numpy.where(
            theta_squared > 0, 1.0 - deviation / (theta_squared * (m.shape[1] - 1)), 0.0
        )
    return float(per_code.mean()), per_code


def modularity_from_codes(
    codes: Any, factors: Any, *, num_bins: int = 20
) -> tuple[float, np.ndarray, np.ndarray]:
    """Modularity of codes ``[N, D_z]`` and factors ``[N, K]``: ``(mean, per_code, m)``.

    Codes are discretised into ``num_bins`` equal-width bins (:func:`discretize`).
    """
    x, y = check_pair(codes, factors)
    m = mutual_information_matrix(discretize(x, num_bins), y)
    score, per_code = modularity_from_mutual_information(m)
    return score, per_code, m


def _mean_one_vs_rest_auc(labels: np.ndarray, probabilities: np.ndarray, classes: Any) -> float:
    """Mean one-vs-rest ROC-AUC over the classes that occur in ``labels`` but not in every row."""
    numpy = require("numpy")
    metrics = require("sklearn.metrics")
    scores = []
    for column, value in enumerate(classes):
        positive = labels == value
        if 0 < positive.sum() < labels.shape[0]:
            scores.append(metrics.roc_auc_score(positive, probabilities[:, column]))
    return float(numpy.mean(scores)) if scores else 0.5


def explicitness_from_codes(
    train_codes: Any,
    train_factors: Any,
    test_codes: Any,
    test_factors: Any,
    *,
    seed: int = 0,
    max_iter: int = 1000,
) -> tuple[float, float, np.ndarray]:
    r"""Explicitness: ``(test AUC, train AUC, per-factor test AUC [K])``.

    Codes are standardised with the training mean and deviation; for each factor a
    logistic-regression classifier is fitted on all codes and each of the factor's values is
    scored one-vs-rest by ROC-AUC of the predicted probability; the factor's explicitness is
    the mean over its values and the score the mean over factors.
    """
    numpy = require("numpy")
    linear_model = require("sklearn.linear_model")
    x_train, y_train, x_test, y_test = check_split(
        train_codes, train_factors, test_codes, test_factors
    )
    x_train, x_test = standardize(x_train, x_test)
    train_auc, test_auc = [], []
    for k in range(y_train.shape[1]):
        if numpy.unique(y_train[:, k]).size < 2:
            train_auc.append(0.5)
            test_auc.append(0.5)
            continue
        classifier = linear_model.LogisticRegression(random_state=seed, max_iter=max_iter)
        classifier.fit(x_train, y_train[:, k])
        for split, x, aucs in ((y_train, x_train, train_auc), (y_test, x_test, test_auc)):
            probabilities = classifier.predict_proba(x)
            aucs.append(_mean_one_vs_rest_auc(split[:, k], probabilities, classifier.classes_))
    per_factor = numpy.asarray(test_auc)
    return float(per_factor.mean()), float(numpy.mean(train_auc)), per_factor


def modularity_explicitness(
    representation: Any,
    data: GroundTruthData,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    num_bins: int = 20,
    batch_size: int = 256,
    seed: int = 0,
) -> ModularityExplicitnessResult:
    r"""Modularity and explicitness of a representation (Ridgeway & Mozer 2018, Sec. 3).

    *Modularity*: each code dimension carries information about at most one factor, measured
    on the plug-in mutual information of the discretised codes
    (:func:`modularity_from_mutual_information`). *Explicitness*: the factors' values can be
    read off the codes linearly, measured by the ROC-AUC of one-vs-rest logistic regression
    (:func:`explicitness_from_codes`). Explicitness is invariant to invertible linear maps of
    the codes, modularity is not.

    Protocol of Locatello et al. (2019): 10,000 training and 5,000 test observations, codes
    discretised into 20 equal-width bins for the mutual information (computed on the training
    split), logistic regression on standardised codes.
    """
    check_ground_truth_data(data)
    encode = as_representation(representation)
    generator = make_generator(seed)
    train = sample_codes_and_factors(encode, data, num_train, generator, batch_size)
    test = sample_codes_and_factors(encode, data, num_test, generator, batch_size)
    modularity, per_code, m = modularity_from_codes(*train, num_bins=num_bins)
    explicitness, explicitness_train, per_factor = explicitness_from_codes(*train, *test, seed=seed)
    return ModularityExplicitnessResult(
        modularity=modularity,
        explicitness=explicitness,
        explicitness_train=explicitness_train,
        per_code_modularity=per_code,
        per_factor_explicitness=per_factor,
        mutual_information=m,
    )
