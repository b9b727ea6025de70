r"""``KL(q(z | x) || p(z))`` for the diagonal Gaussian posterior and any :class:`Prior`.

Closed forms are registered per prior class with :func:`register_kl`, like
``torch.distributions.kl.register_kl``; the lookup follows the class's MRO, so a subclass of a
registered prior inherits its closed form. For priors without one (mixtures, VampPrior) the
KL is the Monte Carlo estimate at the posterior samples ``z_s ~ q(z | x)`` the model already
drew:

.. math::

    \widehat{\mathrm{KL}} = \frac1S \sum_{s=1}^S \log q(z_s \mid x) - \log p(z_s),

unbiased, differentiable by reparameterisation, but noisy (it can be negative for a single
sample).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, TypeVar, cast

import torch

from ..loss._kl import kl_divergence_diag_gaussian
from ._priors import DiagonalGaussianPrior, Prior, StandardNormalPrior

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

#: ``(mu [B, D_z], log_var [B, D_z], prior) -> KL per dimension [B, D_z]``.
KLFunction = Callable[[torch.Tensor, torch.Tensor, Prior], torch.Tensor]
KLEstimator = Literal["auto", "analytic", "monte_carlo"]

_F = TypeVar("_F", bound=KLFunction)
_KL_REGISTRY: dict[type[Prior], KLFunction] = {}


def register_kl(prior_type: type[Prior]) -> Callable[[_F], _F]:
    """Decorator registering the closed-form ``KL(q || p)`` per latent dimension for a prior.

    The function takes the posterior's ``mu, log_var [B, D_z]`` and the prior object and
    returns ``[B, D_z]`` (nats per dimension).
    """
    if not (isinstance(prior_type, type) and issubclass(prior_type, Prior)):
        raise TypeError(f"prior_type must be a Prior subclass, got {prior_type!r}")

    def decorator(fn: _F) -> _F:
        _KL_REGISTRY[prior_type] = fn
        return fn

    return decorator


def _lookup(prior: Prior) -> KLFunction | None:
    for cls in type(prior).__mro__:
        if cls in _KL_REGISTRY:
            return _KL_REGISTRY[cls]
    return None


def has_closed_form_kl(prior: Prior) -> bool:
    """Whether a closed-form KL is registered for ``prior``'s class (or a base class)."""
    return _lookup(prior) is not None


def diagonal_gaussian_log_density(
    z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
) -> torch.Tensor:
    r"""Elementwise ``log N(z; mu, exp(log_var))`` with broadcasting, no reduction.

    ``-0.5 * ((z - mu)^2 exp(-log_var) + log_var + log 2 pi)``; the variance is never
    exponentiated on its own (no overflow for large ``log_var``).
    """
    return -0.5 * ((z - mu).square() * torch.exp(-log_var) + log_var) - _HALF_LOG_2PI


def posterior_log_prob(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``log q(z_s | x)`` summed over ``D_z``: ``z [B, S, D_z]`` and ``mu, log_var [B, D_z]``.

    Returns ``[B, S]``.
    """
    return diagonal_gaussian_log_density(z, mu.unsqueeze(1), log_var.unsqueeze(1)).sum(dim=-1)


def monte_carlo_kl(
    mu: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor, prior: Prior
) -> torch.Tensor:
    """Monte Carlo ``KL(q || p)``, mean over the ``S`` samples ``z [B, S, D_z]``: shape ``[B]``."""
    return (posterior_log_prob(z, mu, log_var) - prior.log_prob(z)).mean(dim=1)


def analytic_kl_per_dim(mu: torch.Tensor, log_var: torch.Tensor, prior: Prior) -> torch.Tensor:
    """Closed-form ``KL(q || p)`` per dimension ``[B, D_z]``; ``LookupError`` if none exists."""
    fn = _lookup(prior)
    if fn is None:
        raise LookupError(
            f"no closed-form KL is registered for {type(prior).__name__}; use the Monte Carlo "
            "estimate (kl_estimator='monte_carlo' or 'auto') or register one with register_kl"
        )
    return fn(mu, log_var, prior)


def posterior_kl(
    mu: torch.Tensor,
    log_var: torch.Tensor,
    prior: Prior,
    z: torch.Tensor | None = None,
    estimator: KLEstimator = "auto",
) -> torch.Tensor:
    """``KL(q(z | x) || p(z))`` per input, ``[B]``.

    ``estimator="auto"`` uses the closed form when one is registered and the Monte Carlo
    estimate at ``z [B, S, D_z]`` otherwise; ``"analytic"`` and ``"monte_carlo"`` force one.
    """
    if estimator == "analytic" or (estimator == "auto" and has_closed_form_kl(prior)):
        return analytic_kl_per_dim(mu, log_var, prior).sum(dim=-1)
    if z is None:
        raise ValueError(
            f"the Monte Carlo KL for {type(prior).__name__} needs the posterior samples z "
            "[B, S, D_z]"
        )
    return monte_carlo_kl(mu, log_var, z, prior)


@register_kl(StandardNormalPrior)
def _kl_standard_normal(mu: torch.Tensor, log_var: torch.Tensor, prior: Prior) -> torch.Tensor:
    return kl_divergence_diag_gaussian(mu, log_var, reduce_sum=False)


@register_kl(DiagonalGaussianPrior)
def _kl_diagonal_gaussian(mu: torch.Tensor, log_var: torch.Tensor, prior: Prior) -> torch.Tensor:
    gaussian = cast(DiagonalGaussianPrior, prior)  # the registry key guarantees the type
    return kl_divergence_diag_gaussian(
        mu, log_var, gaussian.loc.expand_as(mu), gaussian.log_var.expand_as(mu), reduce_sum=False
    )
