"""Closed-form KL divergence between diagonal Gaussians, used by loss and VAEs."""

from __future__ import annotations

import math

import torch

from .._validation import check_floating, check_tensor


def _check_prior_shape(name: str, param: torch.Tensor, target: torch.Size) -> None:
    try:
        broadcast = torch.broadcast_shapes(param.shape, target)
    except RuntimeError:
        broadcast = None
    if broadcast != target:
        raise ValueError(
            f"{name} must have the shape of mu_q {tuple(target)} or broadcast to it, "
            f"got {tuple(param.shape)}"
        )


def kl_divergence_diag_gaussian(
    mu_q: torch.Tensor,
    log_var_q: torch.Tensor,
    mu_p: torch.Tensor | None = None,
    log_var_p: torch.Tensor | None = None,
    reduce_sum: bool = True,
) -> torch.Tensor:
    r"""``KL(q || p)`` for diagonal Gaussians given means and log-variances.

    Per dimension, with :math:`\delta = \log\sigma_q^2 - \log\sigma_p^2`,

    .. math::

        \mathrm{KL}_d = \tfrac12\left(e^{\delta} - 1 - \delta
            + (\mu_q - \mu_p)^2 e^{-\log\sigma_p^2}\right),

    which equals the textbook
    ``0.5 * (log_var_p - log_var_q + (exp(log_var_q) + (mu_q - mu_p)**2) / exp(log_var_p) - 1)``
    (Kingma & Welling 2014, Appendix B) but is computed without dividing two exponentials:
    ``expm1(delta) - delta`` stays finite and exact to rounding where ``exp(log_var_q) /
    exp(log_var_p)`` gives ``inf/inf`` or ``0/0``, and it is exactly 0 when q == p.

    Parameters
    ----------
    mu_q, log_var_q : torch.Tensor
        Posterior parameters, same shape ``[..., D_z]``.
    mu_p, log_var_p : torch.Tensor or None
        Prior parameters, broadcastable to ``mu_q``'s shape. Both ``None``: ``N(0, I)``;
        only one ``None``: that one is taken as zeros.
    reduce_sum : bool
        Sum over the last dimension (``[...]``, e.g. ``[B]``) if ``True``, else per dimension
        (``[..., D_z]``).

    Returns
    -------
    torch.Tensor
        KL in nats, dtype and device of ``mu_q``.
    """
    check_tensor(mu_q, "mu_q")
    check_tensor(log_var_q, "log_var_q")
    check_floating(mu_q, "mu_q")
    if mu_q.shape != log_var_q.shape:
        raise ValueError(
            f"mu_q and log_var_q must have the same shape, got {tuple(mu_q.shape)} and "
            f"{tuple(log_var_q.shape)}"
        )
    if mu_q.dim() == 0:
        raise ValueError("mu_q must have at least one dimension [..., D_z], got a 0-dim tensor")
    if mu_p is None and log_var_p is None:
        kl = kl_to_standard_normal_per_dim(mu_q, log_var_q)
        return kl.sum(dim=-1) if reduce_sum else kl
    if mu_p is None:
        mu_p = torch.zeros_like(mu_q)
    if log_var_p is None:
        log_var_p = torch.zeros_like(log_var_q)
    check_tensor(mu_p, "mu_p")
    check_tensor(log_var_p, "log_var_p")
    _check_prior_shape("mu_p", mu_p, mu_q.shape)
    _check_prior_shape("log_var_p", log_var_p, mu_q.shape)
    log_var_diff = log_var_q - log_var_p
    # ((mu_q - mu_p) / sigma_p)^2. The exponent of 1 / sigma_p is capped just below the
    # dtype's overflow (about 88 in float32, i.e. log_var_p < -177) so that mu_q == mu_p
    # gives 0, in value and gradient, instead of 0 * inf = NaN; where the cap applies
    # with mu_q != mu_p the true KL is far beyond float range in all but denormal cases.
    neg_half_log_var_p = -0.5 * log_var_p
    max_exponent = math.log(torch.finfo(neg_half_log_var_p.dtype).max) - 0.5
    inv_scale_p = torch.exp(neg_half_log_var_p.clamp(max=max_exponent))
    sq_dist_scaled = ((mu_q - mu_p) * inv_scale_p).square()
    kl = 0.5 * (torch.expm1(log_var_diff) - log_var_diff + sq_dist_scaled)
    return kl.sum(dim=-1) if reduce_sum else kl


def kl_to_standard_normal_per_dim(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    r"""``KL(N(mu, exp(log_var)) || N(0, 1))`` per element, without argument checks.

    ``0.5 (expm1(log_var) - log_var + mu^2)``: :func:`kl_divergence_diag_gaussian`'s formula
    with ``p = N(0, I)``, for callers that have checked ``mu`` and ``log_var`` (same shape,
    floating point) already, such as a model's training step.
    """
    if mu.shape != log_var.shape:
        raise ValueError(
            f"mu and log_var must have the same shape, got {tuple(mu.shape)} and "
            f"{tuple(log_var.shape)}"
        )
    return 0.5 * (torch.expm1(log_var) - log_var + mu.square())
