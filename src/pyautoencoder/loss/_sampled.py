"""Log-likelihood of ``x`` under ``S`` sampled reconstructions ``x_hat [B, S, ...]``.

Shared by every model that decodes several latent samples per input (VAE, IWAE, ...).
"""

from __future__ import annotations

import torch

from .._validation import check_nonempty_batch, check_tensor
from ..distributions._likelihood import (
    Likelihood,
    LikelihoodType,
    get_likelihood,
    same_shape_likelihood,
)


def check_sampled_reconstruction(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    likelihood: LikelihoodType | str | Likelihood | None = None,
) -> None:
    """Raise ``ValueError`` unless ``x_hat`` is ``[B, S, *x.shape[1:]]`` with ``S >= 1``.

    Dim 1 of ``x_hat`` is always the sample dimension; it is never guessed. When ``x_hat`` has
    one dimension too few the message suggests ``x_hat.unsqueeze(1)``. A ``likelihood`` whose
    decoder output is not shaped like ``x`` (a class dimension, a predicted scale) replaces
    ``x.shape[1:]`` by its ``x_hat_shape(x.shape)[1:]``. Names are resolved only for such
    likelihoods, so for the others (and unknown names) this check comes first.
    """
    model = None
    if likelihood is not None and not same_shape_likelihood(likelihood):
        model = get_likelihood(likelihood)
    target = tuple(x.shape) if model is None else model.x_hat_shape(x.shape)
    ok = (
        x_hat.dim() == len(target) + 1
        and x_hat.shape[0] == x.shape[0]
        and x_hat.shape[1] >= 1
        and tuple(x_hat.shape[2:]) == target[1:]
    )
    if ok:  # the message is built only on failure: torch.compile cannot str() symbolic sizes
        return
    rest = ", ".join(str(d) for d in target[1:])
    expected = f"[{x.shape[0]}, S, {rest}]" if rest else f"[{x.shape[0]}, S]"
    hint = ""
    if x_hat.dim() == len(target):
        hint = (
            "; x_hat has as many dims as x, so the sample dimension seems to be missing: "
            "decode z of shape [B, S, D_z] or use x_hat.unsqueeze(1)"
        )
    pattern = "*x.shape[1:]"
    if model is not None and target != tuple(x.shape):
        pattern = f"*x_hat_shape(x.shape)[1:] of the {model.name or 'given'} likelihood"
    raise ValueError(
        f"x_hat must have shape [B, S, {pattern}] = {expected} with S >= 1, "
        f"got x_hat {tuple(x_hat.shape)} for x {tuple(x.shape)}{hint}"
    )


def sampled_log_likelihood(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
) -> torch.Tensor:
    """``sum_features log p(x | x_hat_s)`` for every sample: shape ``[B, S]``.

    Parameters
    ----------
    x : torch.Tensor
        Data ``[B, ...]``; broadcast over the sample dimension as a view (no copy).
    x_hat : torch.Tensor
        Decoder outputs ``[B, S, ...]``.
    likelihood : LikelihoodType, str or Likelihood
        The observation model, see :func:`pyautoencoder.loss.log_likelihood`.
    """
    check_tensor(x, "x")
    check_tensor(x_hat, "x_hat")
    check_nonempty_batch(x)
    check_sampled_reconstruction(x, x_hat, likelihood)
    return checked_sampled_log_likelihood(x, x_hat, get_likelihood(likelihood))


def merged_sample_dims(values: torch.Tensor) -> torch.Tensor:
    """``values [B, S, ...]`` as ``[B * S, ...]``, without a view op when it can be avoided.

    The models decode a flat ``[B * S, ...]`` tensor and return it split as ``[B, S, ...]``
    (``x_hat``; ``z`` the other way round). When ``values`` is exactly such a split of a
    tensor (the same memory, both contiguous), that tensor is returned itself: the same values
    in the same layout, with one view less in the autograd graph of a training step (~10 us
    each on CPU, forward and backward). Anything else is reshaped. Not while compiling (the
    compiler removes views anyway).
    """
    merged = (values.shape[0] * values.shape[1], *values.shape[2:])
    if torch.compiler.is_compiling():
        return values.reshape(merged)
    base = values._base
    if (
        base is not None
        and base.shape == merged
        and base.dtype == values.dtype
        and base.data_ptr() == values.data_ptr()
        and base.requires_grad == values.requires_grad
        and base.is_contiguous()
        and values.is_contiguous()
    ):
        return base
    return values.reshape(merged)


def checked_sampled_mean_log_likelihood(
    x: torch.Tensor, x_hat: torch.Tensor, model: Likelihood
) -> torch.Tensor:
    """The mean over inputs and samples of :func:`checked_sampled_log_likelihood`, ``[]``.

    ``mean_{b, s} sum_features log p(x_b | x_hat_bs)`` for shapes the caller has checked.
    With one sample, ``x`` itself against ``x_hat`` merged to ``[B, ...]`` in one fused
    reduction where the likelihood has one (:meth:`Likelihood.mean_log_prob_sum`); with more,
    the mean of the ``[B, S]`` sums (``x`` broadcast as a view, not copied ``S`` times).
    """
    if x_hat.shape[1] == 1:  # a shape, not a value: compile-friendly
        return model.checked_mean_log_prob_sum(x, merged_sample_dims(x_hat))
    return checked_sampled_log_likelihood(x, x_hat, model).mean()  # x stays a view


def checked_sampled_nll(x: torch.Tensor, x_hat: torch.Tensor, model: Likelihood) -> torch.Tensor:
    """The negative log-likelihood of each input, averaged over its samples, ``[B]``.

    ``-mean_s sum_features log p(x_b | x_hat_bs)`` for shapes the caller has checked: the
    per-input reconstruction term of an ELBO's objective. With one sample, ``x`` itself
    against ``x_hat`` merged to ``[B, ...]`` (:meth:`Likelihood.nll_sum`, no sample mean);
    with more, the mean over samples of the ``[B, S]`` sums (``x`` broadcast as a view).
    """
    if x_hat.shape[1] == 1:  # a shape, not a value: compile-friendly
        return model.checked_nll_sum(x, merged_sample_dims(x_hat), 1)
    x_rep = x.unsqueeze(1).expand(x.shape[0], x_hat.shape[1], *x.shape[1:])  # a view
    return model.checked_nll_sum(x_rep, x_hat, 2).mean(dim=1)


def checked_sampled_log_likelihood(
    x: torch.Tensor, x_hat: torch.Tensor, model: Likelihood
) -> torch.Tensor:
    """:func:`sampled_log_likelihood` for arguments whose shapes the caller has checked.

    ``x [B, ...]`` (``B >= 1``) and ``x_hat [B, S, ...]`` must already have passed
    :func:`check_sampled_reconstruction` for ``model``; the likelihood's own checks (dtypes,
    values, support) still run. Models call this from their training step so that the shape
    checks run once per step, not twice.
    """
    x_rep = x.unsqueeze(1)  # [B, 1, ...], a view
    if x_hat.shape[1] != 1:  # a shape, not a value: compile-friendly
        x_rep = x_rep.expand(x.shape[0], x_hat.shape[1], *x.shape[1:])  # [B, S, ...], a view
    return model.checked_log_prob_sum(x_rep, x_hat, start_dim=2)  # [B, S]
