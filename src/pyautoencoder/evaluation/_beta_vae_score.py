r"""The beta-VAE disentanglement score (Higgins et al. 2017, Sec. 3 and Appendix A.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ._arrays import check_codes, require
from ._common import check_count
from ._ground_truth import (
    GroundTruthData,
    as_representation,
    check_ground_truth_data,
    encode_factors,
    make_generator,
    sample_factors,
)

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class BetaVAEScoreResult:
    """Accuracy of the linear classifier that names the fixed factor.

    Attributes
    ----------
    score : float
        ``eval_accuracy``, the beta-VAE score in ``[0, 1]`` (chance is ``1 / K``).
    train_accuracy, eval_accuracy : float
        Classification accuracy on the training and the held-out examples.
    """

    score: float
    train_accuracy: float
    eval_accuracy: float


def beta_vae_score_from_features(
    train_features: Any,
    train_labels: Any,
    eval_features: Any,
    eval_labels: Any,
    *,
    seed: int = 0,
    max_iter: int = 1000,
) -> BetaVAEScoreResult:
    r"""Fit the linear classifier of the beta-VAE score on precomputed examples.

    Parameters
    ----------
    train_features, eval_features : array-like
        ``[P, D_z]`` examples ``mean_l |z_l^{(1)} - z_l^{(2)}|`` (see :func:`beta_vae_score`).
    train_labels, eval_labels : array-like
        ``[P]`` index of the factor held fixed in each example.
    seed : int
        ``random_state`` of the classifier.
    max_iter : int
        Iterations of the L-BFGS solver (scikit-learn's default, 100, often warns).

    Returns
    -------
    BetaVAEScoreResult
    """
    numpy = require("numpy")
    linear_model = require("sklearn.linear_model")
    x_train = check_codes(train_features, "train_features")
    x_eval = check_codes(eval_features, "eval_features")
    y_train = numpy.asarray(train_labels).reshape(-1)
    y_eval = numpy.asarray(eval_labels).reshape(-1)
    if y_train.shape[0] != x_train.shape[0] or y_eval.shape[0] != x_eval.shape[0]:
        raise ValueError("features and labels must have the same number of rows")
    if numpy.unique(y_train).size < 2:
        # A single class: the classifier is that constant.
        train_accuracy = 1.0
        eval_accuracy = float(numpy.mean(y_eval == y_train[0]))
    else:
        classifier = linear_model.LogisticRegression(random_state=seed, max_iter=max_iter)
        classifier.fit(x_train, y_train)
        train_accuracy = float(classifier.score(x_train, y_train))
        eval_accuracy = float(classifier.score(x_eval, y_eval))
    return BetaVAEScoreResult(
        score=eval_accuracy, train_accuracy=train_accuracy, eval_accuracy=eval_accuracy
    )


def beta_vae_examples(
    representation: Any,
    data: GroundTruthData,
    num_examples: int,
    *,
    pairs_per_example: int = 64,
    generator: torch.Generator,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Draw ``num_examples`` examples of the beta-VAE score: features ``[P, D_z]``, labels ``[P]``.

    For each example a factor ``k`` is drawn uniformly, then ``L = pairs_per_example`` pairs of
    factor vectors that agree on factor ``k`` (all other factors drawn independently); the
    feature is :math:`\frac1L \sum_l |r(x_l^{(1)}) - r(x_l^{(2)})|` and the label ``k``.
    """
    numpy = require("numpy")
    num_examples = check_count(num_examples, "num_examples")
    pairs = check_count(pairs_per_example, "pairs_per_example")
    num_factors = len(check_ground_truth_data(data))
    encode = as_representation(representation)
    per_chunk = max(1, batch_size // pairs)
    features, labels = [], []
    for start in range(0, num_examples, per_chunk):
        count = min(per_chunk, num_examples - start)
        fixed = torch.randint(num_factors, (count,), generator=generator)  # [P]
        first = sample_factors(data, count * pairs, generator).view(count, pairs, -1)
        second = sample_factors(data, count * pairs, generator).view(count, pairs, -1)
        rows = torch.arange(count)
        second[rows, :, fixed] = first[rows, :, fixed]  # share factor k within each example
        codes_1 = encode_factors(encode, data, first.view(count * pairs, -1), batch_size)
        codes_2 = encode_factors(encode, data, second.view(count * pairs, -1), batch_size)
        difference = numpy.abs(codes_1 - codes_2).reshape(count, pairs, -1)
        features.append(difference.mean(axis=1))  # [P, D_z]
        labels.append(fixed.numpy())
    return numpy.concatenate(features), numpy.concatenate(labels)


def beta_vae_score(
    representation: Any,
    data: GroundTruthData,
    *,
    num_train: int = 10000,
    num_eval: int = 5000,
    pairs_per_example: int = 64,
    batch_size: int = 256,
    seed: int = 0,
) -> BetaVAEScoreResult:
    r"""The beta-VAE disentanglement score (Higgins et al. 2017, Sec. 3, Appendix A.4).

    Protocol: each example fixes one factor ``k`` (uniform), draws ``L`` pairs of observations
    that share the value of factor ``k`` and differ in the others, and averages the absolute
    code differences, :math:`z_{\mathrm{diff}} = \frac1L \sum_l |r(x^{(1)}_l) - r(x^{(2)}_l)|`.
    A linear classifier (multinomial logistic regression) learns to predict ``k`` from
    :math:`z_{\mathrm{diff}}`; the score is its accuracy on held-out examples. A disentangled
    representation has a near-zero difference in the dimension of the fixed factor, so the
    classifier is perfect; entangled or noisy ones fall towards chance, ``1 / K``.

    Defaults follow the reference implementation of Locatello et al. (2019):
    ``L = 64``, 10,000 training and 5,000 evaluation examples, scikit-learn's
    ``LogisticRegression`` (Higgins et al. trained a linear softmax classifier with Adagrad).

    Parameters
    ----------
    representation : callable or nn.Module
        ``x [n, ...] -> codes [n, D_z]``, or a model with a posterior (its posterior mean).
    data : GroundTruthData
        Source of observations with known factors.
    num_train, num_eval : int
        Examples to fit and to evaluate the classifier.
    pairs_per_example : int
        ``L``.
    batch_size : int
        Observations per call of the representation.
    seed : int
        Seeds the factor sampling (a ``torch.Generator``) and the classifier.
    """
    generator = make_generator(seed)
    train, held_out = (
        beta_vae_examples(
            representation,
            data,
            num,
            pairs_per_example=pairs_per_example,
            generator=generator,
            batch_size=batch_size,
        )
        for num in (num_train, num_eval)
    )
    return beta_vae_score_from_features(*train, *held_out, seed=seed)
