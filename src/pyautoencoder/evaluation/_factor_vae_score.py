r"""The FactorVAE disentanglement score (Kim & Mnih 2018, Sec. 4)."""

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
    sample_codes_and_factors,
    sample_factors,
)

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class FactorVAEScoreResult:
    """Accuracy of the majority-vote classifier from a code dimension to the fixed factor.

    Attributes
    ----------
    score : float
        ``eval_accuracy``, the FactorVAE score in ``[0, 1]`` (chance is ``1 / K``).
    train_accuracy, eval_accuracy : float
        Majority-vote accuracy on the training and the held-out votes.
    num_active_dims : int
        Code dimensions kept after pruning collapsed ones.
    train_votes : numpy.ndarray
        ``[D_z, K]`` count of training votes "dimension ``d`` had the least variance while
        factor ``k`` was fixed".
    """

    score: float
    train_accuracy: float
    eval_accuracy: float
    num_active_dims: int
    train_votes: np.ndarray


def factor_vae_votes(
    group_codes: Any, fixed_factors: Any, global_std: Any, num_factors: int, active: Any
) -> np.ndarray:
    r"""Votes ``[D_z, K]`` of groups of codes that share one fixed factor.

    Each group ``g`` (codes ``[L, D_z]`` of ``L`` observations whose factor ``k_g`` is fixed)
    votes for :math:`\arg\min_{d\ \mathrm{active}} \mathrm{Var}_l(z_{ld} / s_d)`, the active
    dimension of least variance after dividing by the global standard deviation ``s``.

    Parameters
    ----------
    group_codes : array-like
        ``[G, L, D_z]``.
    fixed_factors : array-like
        ``[G]`` index of the fixed factor of each group.
    global_std : array-like
        ``[D_z]`` standard deviation of each dimension over the data.
    num_factors : int
        ``K``.
    active : array-like
        ``[D_z]`` bool mask of the dimensions that may vote.
    """
    numpy = require("numpy")
    codes = numpy.asarray(group_codes, dtype=numpy.float64)
    if codes.ndim != 3:
        raise ValueError(f"group_codes must have shape [G, L, D_z], got {codes.shape}")
    mask = numpy.asarray(active, dtype=bool)
    if not mask.any():
        raise ValueError("active must mark at least one dimension")
    scale = numpy.asarray(global_std, dtype=numpy.float64).copy()
    scale[scale == 0] = 1.0
    variances = (codes / scale).var(axis=1, ddof=1)  # [G, D_z]
    variances[:, ~mask] = numpy.inf
    winners = variances.argmin(axis=1)  # [G]
    votes = numpy.zeros((codes.shape[2], num_factors), dtype=numpy.int64)
    numpy.add.at(votes, (winners, numpy.asarray(fixed_factors, dtype=numpy.int64)), 1)
    return votes


def factor_vae_score_from_votes(train_votes: Any, eval_votes: Any) -> tuple[float, float]:
    r"""Train and evaluation accuracy of the majority-vote classifier on vote matrices.

    The classifier maps dimension ``d`` to :math:`\arg\max_k V^{\mathrm{train}}_{dk}`; its
    accuracy on votes ``V`` is :math:`\sum_d V_{d, c(d)} / \sum_{dk} V_{dk}`.
    """
    numpy = require("numpy")
    train = numpy.asarray(train_votes)
    held_out = numpy.asarray(eval_votes)
    if train.shape != held_out.shape or train.ndim != 2:
        raise ValueError(
            f"train_votes and eval_votes must both be [D_z, K], got {train.shape} and "
            f"{held_out.shape}"
        )
    choice = train.argmax(axis=1)  # [D_z]
    rows = numpy.arange(train.shape[0])
    train_accuracy = train[rows, choice].sum() / max(train.sum(), 1)
    eval_accuracy = held_out[rows, choice].sum() / max(held_out.sum(), 1)
    return float(train_accuracy), float(eval_accuracy)


def _draw_votes(
    encode: Any,
    data: GroundTruthData,
    num_votes: int,
    samples_per_vote: int,
    generator: torch.Generator,
    batch_size: int,
    global_std: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    """Votes ``[D_z, K]`` of ``num_votes`` fresh groups."""
    num_factors = len(data.factor_sizes)
    numpy = require("numpy")
    per_chunk = max(1, batch_size // samples_per_vote)
    votes = numpy.zeros((global_std.shape[0], num_factors), dtype=numpy.int64)
    for start in range(0, num_votes, per_chunk):
        count = min(per_chunk, num_votes - start)
        fixed = torch.randint(num_factors, (count,), generator=generator)  # [G]
        factors = sample_factors(data, count * samples_per_vote, generator)
        factors = factors.view(count, samples_per_vote, -1)
        rows = torch.arange(count)
        factors[rows, :, fixed] = factors[rows, 0, fixed].unsqueeze(1)  # fix k_g in group g
        codes = encode_factors(encode, data, factors.view(-1, factors.shape[-1]), batch_size)
        chunk_votes = factor_vae_votes(
            codes.reshape(count, samples_per_vote, -1),
            fixed.numpy(),
            global_std,
            num_factors,
            active,
        )
        votes += chunk_votes
    return votes


def factor_vae_score(
    representation: Any,
    data: GroundTruthData,
    *,
    num_train: int = 10000,
    num_eval: int = 5000,
    samples_per_vote: int = 64,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
    batch_size: int = 256,
    seed: int = 0,
) -> FactorVAEScoreResult:
    r"""The FactorVAE disentanglement score (Kim & Mnih 2018, Sec. 4).

    Protocol: (1) estimate each code dimension's standard deviation ``s_d`` over
    ``num_variance_estimate`` random observations and prune dimensions with
    ``s_d < prune_threshold`` (collapsed to the prior); (2) each vote fixes a factor ``k``
    (uniform) at a random value, draws ``L = samples_per_vote`` observations with the other
    factors random, divides their codes by ``s`` and votes for the active dimension of least
    variance; (3) a majority-vote classifier maps each dimension to the factor that most often
    made it win; the score is its accuracy on fresh votes. Unlike the beta-VAE score, it needs
    no learned classifier and cannot be fooled by a representation in which only ``K - 1``
    factors are disentangled.

    Defaults follow the reference implementation of Locatello et al. (2019): ``L = 64``,
    10,000 training and 5,000 evaluation votes, 10,000 observations for ``s`` and a pruning
    threshold of 0.05.

    Parameters
    ----------
    representation : callable or nn.Module
        ``x [n, ...] -> codes [n, D_z]``, or a model with a posterior (its posterior mean).
    data : GroundTruthData
        Source of observations with known factors.
    num_train, num_eval : int
        Votes to build and to evaluate the classifier.
    samples_per_vote : int
        ``L`` (at least 2, for a variance).
    num_variance_estimate : int
        Observations for the global standard deviations.
    prune_threshold : float
        Dimensions whose global standard deviation is below this do not vote.
    batch_size : int
        Observations per call of the representation.
    seed : int
        Seeds the factor sampling.
    """
    numpy = require("numpy")
    num_factors = len(check_ground_truth_data(data))
    samples_per_vote = check_count(samples_per_vote, "samples_per_vote")
    if samples_per_vote < 2:
        raise ValueError(f"samples_per_vote must be >= 2 for a variance, got {samples_per_vote}")
    encode = as_representation(representation)
    generator = make_generator(seed)
    codes, _ = sample_codes_and_factors(encode, data, num_variance_estimate, generator, batch_size)
    global_std = check_codes(codes).std(axis=0, ddof=1)
    active = global_std >= prune_threshold
    num_active = int(active.sum())
    if num_active == 0:
        empty = numpy.zeros((codes.shape[1], num_factors), dtype=numpy.int64)
        return FactorVAEScoreResult(0.0, 0.0, 0.0, 0, empty)
    train_votes, eval_votes = (
        _draw_votes(
            encode,
            data,
            check_count(num, name),
            samples_per_vote,
            generator,
            batch_size,
            global_std,
            active,
        )
        for num, name in ((num_train, "num_train"), (num_eval, "num_eval"))
    )
    train_accuracy, eval_accuracy = factor_vae_score_from_votes(train_votes, eval_votes)
    return FactorVAEScoreResult(
        score=eval_accuracy,
        train_accuracy=train_accuracy,
        eval_accuracy=eval_accuracy,
        num_active_dims=num_active,
        train_votes=train_votes,
    )
