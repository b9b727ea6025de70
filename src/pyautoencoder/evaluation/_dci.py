r"""Disentanglement, completeness and informativeness (Eastwood & Williams 2018)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._arrays import check_split, require, standardize
from ._ground_truth import (
    GroundTruthData,
    as_representation,
    check_ground_truth_data,
    make_generator,
    sample_codes_and_factors,
)

if TYPE_CHECKING:
    import numpy as np

_IMPORTANCES = ("gbt", "lasso")


@dataclass(frozen=True)
class DCIResult:
    """The three DCI scores and the importance matrix they come from.

    Attributes
    ----------
    disentanglement : float
        ``D`` in ``[0, 1]``: each dimension predicts at most one factor.
    completeness : float
        ``C`` in ``[0, 1]``: each factor is predicted by a single dimension.
    informativeness : float
        Test score of the regressors, averaged over factors: classification accuracy for
        ``importance="gbt"``, ``R^2`` for ``"lasso"`` (the paper's prediction error is
        ``NRMSE = sqrt(1 - R^2)``).
    informativeness_train : float
        The same on the training split.
    importance_matrix : numpy.ndarray
        ``[D_z, K]`` relative importance ``R_dk`` of dimension ``d`` for factor ``k``.
    per_code_disentanglement : numpy.ndarray
        ``[D_z]`` ``D_d``.
    per_factor_completeness : numpy.ndarray
        ``[K]`` ``C_k``.
    """

    disentanglement: float
    completeness: float
    informativeness: float
    informativeness_train: float
    importance_matrix: np.ndarray
    per_code_disentanglement: np.ndarray
    per_factor_completeness: np.ndarray


def _one_minus_entropy(probabilities: np.ndarray, base: int) -> np.ndarray:
    """``1 - H_base(p)`` of each column of ``probabilities``; columns sum to 1."""
    numpy = require("numpy")
    if base < 2:
        return numpy.ones(probabilities.shape[1])  # one outcome: no uncertainty
    with numpy.errstate(divide="ignore", invalid="ignore"):
        terms = numpy.where(probabilities > 0, probabilities * numpy.log(probabilities), 0.0)
    return 1.0 + terms.sum(axis=0) / numpy.log(base)


def dci_from_importance(
    importance_matrix: Any,
) -> tuple[float, float, np.ndarray, np.ndarray]:
    r"""Disentanglement and completeness of an importance matrix ``R [D_z, K]`` (nonnegative).

    .. math::

        P_{dk} = \frac{R_{dk}}{\sum_{k'} R_{dk'}},\quad
        D_d = 1 - H_K(P_{d\cdot}),\quad
        D = \sum_d \rho_d D_d,\quad \rho_d = \frac{\sum_k R_{dk}}{\sum_{dk} R_{dk}},

        \tilde P_{dk} = \frac{R_{dk}}{\sum_{d'} R_{d'k}},\quad
        C_k = 1 - H_{D_z}(\tilde P_{\cdot k}),\quad
        C = \sum_k \tilde\rho_k C_k,\quad \tilde\rho_k = \frac{\sum_d R_{dk}}{\sum_{dk} R_{dk}},

    with entropies in base ``K`` and ``D_z`` so each score lies in ``[0, 1]`` (Eastwood &
    Williams 2018, Sec. 3). A dimension (factor) with zero total importance gets a uniform
    distribution (score 0); if all importances are 0, the weights are uniform.

    Returns
    -------
    (D, C, per_code_disentanglement [D_z], per_factor_completeness [K])
    """
    numpy = require("numpy")
    R = numpy.asarray(importance_matrix, dtype=numpy.float64)
    if R.ndim != 2 or numpy.any(R < 0) or not numpy.all(numpy.isfinite(R)):
        raise ValueError(f"importance_matrix must be finite, >= 0 and [D_z, K], got {R.shape}")
    num_codes, num_factors = R.shape
    row_sums = R.sum(axis=1, keepdims=True)
    col_sums = R.sum(axis=0, keepdims=True)
    P = numpy.where(row_sums > 0, R / numpy.where(row_sums > 0, row_sums, 1), 1 / num_factors)
    P_tilde = numpy.where(col_sums > 0, R / numpy.where(col_sums > 0, col_sums, 1), 1 / num_codes)
    per_code = _one_minus_entropy(P.T, num_factors)  # [D_z]
    per_factor = _one_minus_entropy(P_tilde, num_codes)  # [K]
    total = R.sum()
    rho = row_sums[:, 0] / total if total > 0 else numpy.full(num_codes, 1 / num_codes)
    rho_tilde = col_sums[0] / total if total > 0 else numpy.full(num_factors, 1 / num_factors)
    return float(rho @ per_code), float(rho_tilde @ per_factor), per_code, per_factor


def _gbt_importance(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    seed: int,
    options: Mapping[str, Any],
) -> tuple[np.ndarray, float, float]:
    numpy = require("numpy")
    ensemble = require("sklearn.ensemble")
    importance = numpy.zeros((x_train.shape[1], y_train.shape[1]))
    train_scores, test_scores = [], []
    for k in range(y_train.shape[1]):
        if numpy.unique(y_train[:, k]).size < 2:
            train_scores.append(1.0)
            test_scores.append(float(numpy.mean(y_test[:, k] == y_train[0, k])))
            continue
        model = ensemble.GradientBoostingClassifier(random_state=seed, **options)
        model.fit(x_train, y_train[:, k])
        importance[:, k] = numpy.abs(model.feature_importances_)
        train_scores.append(float(model.score(x_train, y_train[:, k])))
        test_scores.append(float(model.score(x_test, y_test[:, k])))
    return importance, float(numpy.mean(train_scores)), float(numpy.mean(test_scores))


def _lasso_importance(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    seed: int,
    options: Mapping[str, Any],
) -> tuple[np.ndarray, float, float]:
    numpy = require("numpy")
    linear_model = require("sklearn.linear_model")
    x_train, x_test_std = standardize(x_train, x_test)
    y_train_std, y_test_std = standardize(
        y_train.astype(numpy.float64), y_test.astype(numpy.float64)
    )
    settings = {"alpha": 0.02, **options}
    model = linear_model.Lasso(random_state=seed, **settings)
    model.fit(x_train, y_train_std)
    importance = numpy.abs(numpy.asarray(model.coef_).reshape(y_train.shape[1], -1)).T
    train_score = float(model.score(x_train, y_train_std))
    test_score = float(model.score(x_test_std, y_test_std))
    return importance, train_score, test_score


def dci_from_codes(
    train_codes: Any,
    train_factors: Any,
    test_codes: Any,
    test_factors: Any,
    *,
    importance: str = "gbt",
    seed: int = 0,
    estimator_options: Mapping[str, Any] | None = None,
) -> DCIResult:
    r"""DCI of precomputed codes and discrete factors (train and test splits).

    One regressor per factor predicts it from all code dimensions; its importances form
    column ``k`` of ``R`` (:func:`dci_from_importance`).

    * ``importance="gbt"`` (Locatello et al. 2019): ``GradientBoostingClassifier`` with
      scikit-learn's defaults (100 trees of depth 3), importances = impurity decrease;
      informativeness = test accuracy.
    * ``importance="lasso"`` (Eastwood & Williams 2018): ``Lasso(alpha=0.02)`` on
      standardised codes and factors, importances = ``|coefficients|``; informativeness =
      test ``R^2``.

    ``estimator_options`` are passed to the estimator (e.g. ``{"n_estimators": 20}`` to make
    the trees cheaper, ``{"alpha": 0.05}`` for the lasso).
    """
    if importance not in _IMPORTANCES:
        raise ValueError(f"importance must be one of {_IMPORTANCES}, got {importance!r}")
    splits = check_split(train_codes, train_factors, test_codes, test_factors)
    fit = _gbt_importance if importance == "gbt" else _lasso_importance
    R, train_score, test_score = fit(*splits, seed, dict(estimator_options or {}))
    disentanglement, completeness, per_code, per_factor = dci_from_importance(R)
    return DCIResult(
        disentanglement=disentanglement,
        completeness=completeness,
        informativeness=test_score,
        informativeness_train=train_score,
        importance_matrix=R,
        per_code_disentanglement=per_code,
        per_factor_completeness=per_factor,
    )


def dci(
    representation: Any,
    data: GroundTruthData,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    importance: str = "gbt",
    estimator_options: Mapping[str, Any] | None = None,
    batch_size: int = 256,
    seed: int = 0,
) -> DCIResult:
    r"""Disentanglement, completeness and informativeness (Eastwood & Williams 2018).

    Regressors predict each factor from the codes; their feature importances say which
    dimensions each factor uses. *Disentanglement*: each dimension is important for at most
    one factor; *completeness*: each factor depends on one dimension; *informativeness*: the
    factors can be predicted at all. See :func:`dci_from_codes` and
    :func:`dci_from_importance` for the formulas.

    Protocol of Locatello et al. (2019) by default: 10,000 training and 5,000 test
    observations, gradient-boosted trees (slow for factors with many values: one tree per
    class and stage). ``importance="lasso"`` follows the paper's linear variant.
    """
    check_ground_truth_data(data)
    encode = as_representation(representation)
    generator = make_generator(seed)
    train = sample_codes_and_factors(encode, data, num_train, generator, batch_size)
    test = sample_codes_and_factors(encode, data, num_test, generator, batch_size)
    return dci_from_codes(
        *train, *test, importance=importance, seed=seed, estimator_options=estimator_options
    )
