r"""The mutual information gap (Chen et al. 2018, Sec. 4.1, eq. 6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._arrays import check_pair, require
from ._ground_truth import (
    GroundTruthData,
    as_representation,
    check_ground_truth_data,
    make_generator,
    sample_codes_and_factors,
)
from ._information import discretize, entropy, mutual_information_matrix

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class MIGResult:
    """The mutual information gap and the quantities it is built from.

    Attributes
    ----------
    score : float
        MIG in ``[0, 1]``: mean over factors of the normalised gap.
    per_factor : numpy.ndarray
        ``[K]`` normalised gap of each factor.
    mutual_information : numpy.ndarray
        ``[D_z, K]`` plug-in ``I(z_d; v_k)`` in nats.
    factor_entropy : numpy.ndarray
        ``[K]`` ``H(v_k)`` in nats.
    """

    score: float
    per_factor: np.ndarray
    mutual_information: np.ndarray
    factor_entropy: np.ndarray


def mig_from_codes(codes: Any, factors: Any, *, num_bins: int = 20) -> MIGResult:
    r"""MIG of precomputed codes ``[N, D_z]`` and discrete factors ``[N, K]``.

    .. math::

        \mathrm{MIG} = \frac1K \sum_{k=1}^K \frac{1}{H(v_k)}
            \Big( I(z_{j^{(k)}}; v_k) - \max_{j \ne j^{(k)}} I(z_j; v_k) \Big),
        \qquad j^{(k)} = \arg\max_j I(z_j; v_k),

    with each code dimension discretised into ``num_bins`` equal-width bins
    (:func:`discretize`) and plug-in mutual information. Needs ``D_z >= 2``.
    """
    numpy = require("numpy")
    x, y = check_pair(codes, factors)
    if x.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 code dimensions, got codes of shape {x.shape}")
    factor_entropy = entropy(y)
    constant = numpy.flatnonzero(factor_entropy == 0)
    if constant.size:
        raise ValueError(
            f"factor(s) {constant.tolist()} take a single value in the sample, so their "
            "entropy is 0 and the gap is undefined; sample more points"
        )
    mutual_information = mutual_information_matrix(discretize(x, num_bins), y)  # [D_z, K]
    top_two = -numpy.sort(-mutual_information, axis=0)[:2]  # [2, K]
    per_factor = (top_two[0] - top_two[1]) / factor_entropy
    return MIGResult(
        score=float(per_factor.mean()),
        per_factor=per_factor,
        mutual_information=mutual_information,
        factor_entropy=factor_entropy,
    )


def mig(
    representation: Any,
    data: GroundTruthData,
    *,
    num_train: int = 10000,
    num_bins: int = 20,
    batch_size: int = 256,
    seed: int = 0,
) -> MIGResult:
    r"""The mutual information gap of a representation (Chen et al. 2018, eq. 6).

    For each factor, the gap between the two code dimensions that carry the most information
    about it, normalised by the factor's entropy, averaged over factors. It is 1 when every
    factor is captured completely by one dimension and by no other, and near 0 when no
    dimension stands out (an entangled rotation or noise).

    Protocol of Locatello et al. (2019): ``num_train = 10,000`` i.i.d. observations, codes
    discretised into 20 equal-width bins per dimension, plug-in mutual information. Chen et al.
    estimate ``I(z_j; v_k)`` from the encoder's distribution ``q(z | x)`` instead of binning
    the mean; the two agree for near-deterministic encoders.

    Parameters
    ----------
    representation : callable or nn.Module
        ``x [n, ...] -> codes [n, D_z]``, or a model with a posterior (its posterior mean).
    data : GroundTruthData
        Source of observations with known factors.
    num_train : int
        Observations.
    num_bins : int
        Bins per code dimension.
    batch_size : int
        Observations per call of the representation.
    seed : int
        Seeds the factor sampling.
    """
    check_ground_truth_data(data)
    codes, factors = sample_codes_and_factors(
        as_representation(representation), data, num_train, make_generator(seed), batch_size
    )
    return mig_from_codes(codes, factors, num_bins=num_bins)
