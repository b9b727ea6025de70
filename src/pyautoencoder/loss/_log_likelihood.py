"""Elementwise log-likelihood of data under a decoder's output."""

from __future__ import annotations

import torch

from .._validation import check_tensor
from ..distributions._likelihood import (
    Likelihood,
    LikelihoodType,
    check_same_shape,
    get_likelihood,
    same_shape_likelihood,
)


def log_likelihood(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
) -> torch.Tensor:
    """Elementwise ``log p(x | x_hat)``.

    Parameters
    ----------
    x : torch.Tensor
        Data, any shape ``[...]``, floating point (integer levels for ``"categorical"``).
    x_hat : torch.Tensor
        Decoder output of the same shape as ``x`` (never broadcast); likelihoods with a class
        dimension or a predicted scale expect their own ``x_hat_shape(x.shape)``.
    likelihood : LikelihoodType, str or Likelihood
        ``"gaussian"`` (default): ``-0.5 (x - x_hat)^2`` (unit variance, constant omitted).
        ``"bernoulli"``: ``x_hat`` are logits, ``x`` in ``[0, 1]``;
        ``-binary_cross_entropy_with_logits(x_hat, x)``. Names are case-insensitive; any
        registered name or :class:`~pyautoencoder.distributions.Likelihood` works.

    Returns
    -------
    torch.Tensor
        Same shape, dtype and device as ``x``.

    Raises
    ------
    ValueError
        Shapes differ (checked first; message contains ``same shape``), unknown likelihood
        (``Unsupported likelihood``), NaN/inf values or targets outside the support (value
        checks, see :func:`pyautoencoder.set_value_checks`).
    TypeError
        ``x`` or ``x_hat`` is not a floating-point tensor.
    """
    check_tensor(x, "x")
    check_tensor(x_hat, "x_hat")
    if not isinstance(likelihood, Likelihood) and same_shape_likelihood(likelihood):
        check_same_shape(x, x_hat)
    model = get_likelihood(likelihood)
    model.validate(x, x_hat)
    # Integer data (categorical levels) give a log-density in x_hat's dtype.
    return model.log_prob(x, x_hat).to(x.dtype if x.is_floating_point() else x_hat.dtype)
