r"""``KL(q(z | x) || p(z))`` for any (posterior, prior) pair: closed forms or Monte Carlo.

Closed forms are registered per ``(posterior class, prior class)`` pair with
:func:`register_kl`, like ``torch.distributions.kl.register_kl``: the lookup takes the most
specific registered pair that both classes derive from (the smallest total MRO distance), so
subclasses inherit their bases' entries. Registered here: the diagonal Gaussian posterior with
the standard normal and diagonal Gaussian priors (per dimension), and the full-covariance
Gaussian posterior with both (not per dimension). For every other pair (mixture and Vamp
priors, flow posteriors) the KL is the Monte Carlo estimate at the posterior samples
``z_s ~ q(z | x)`` the model already drew,

.. math::

    \widehat{\mathrm{KL}} = \frac1S \sum_{s=1}^S \log q(z_s \mid x) - \log p(z_s),

unbiased, differentiable by reparameterisation, but noisy (it can be negative for a single
sample). ``log q`` includes a flow's log-determinants.

The 2.x form ``register_kl(PriorClass)`` with ``fn(mu, log_var, prior) -> [B, D_z]`` still
works: it registers the pair ``(DiagonalGaussianPosterior, PriorClass)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar, cast

import torch

from .._validation import vouch_finite
from ._gaussian import kl_divergence_diag_gaussian, kl_to_standard_normal_per_dim
from ._posteriors import (
    DiagonalGaussianPosterior,
    EncodedPosterior,
    FullCovarianceGaussianPosterior,
    Posterior,
    diagonal_gaussian_log_density,
    posterior_log_prob,
)
from ._priors import DiagonalGaussianPrior, Prior, StandardNormalPrior

__all__ = [
    "KLEstimator",
    "KLFunction",
    "PairKLFunction",
    "analytic_kl_per_dim",
    "diagonal_gaussian_log_density",
    "has_closed_form_kl",
    "monte_carlo_kl",
    "posterior_kl",
    "posterior_kl_per_dim",
    "posterior_log_prob",
    "register_kl",
]

#: 2.x form: ``(mu [B, D_z], log_var [B, D_z], prior) -> KL per dimension [B, D_z]``.
KLFunction = Callable[[torch.Tensor, torch.Tensor, Prior], torch.Tensor]
#: Pair form: ``(posterior, prior, encoded) -> [B, D_z]`` (per dimension) or ``[B, 1]``.
PairKLFunction = Callable[[Posterior, Prior, EncodedPosterior], torch.Tensor]
KLEstimator = Literal["auto", "analytic", "monte_carlo"]

_F = TypeVar("_F", bound=Callable[..., torch.Tensor])
_PAIRS: dict[tuple[type[Posterior], type[Prior]], PairKLFunction] = {}
_MEMO: dict[tuple[type[Posterior], type[Prior]], PairKLFunction | None] = {}
_DIAGONAL = DiagonalGaussianPosterior()  # the posterior of the 2.x (mu, log_var) functions


def register_kl(
    posterior_type: type[Posterior] | type[Prior], prior_type: type[Prior] | None = None
) -> Callable[[_F], _F]:
    """Decorator registering a closed-form ``KL(q || p)`` for a (posterior, prior) pair.

    ``@register_kl(PosteriorClass, PriorClass)`` registers
    ``fn(posterior, prior, encoded) -> Tensor``: ``[B, D_z]`` (nats per latent dimension) when
    the KL factorises over dimensions, else ``[B, 1]``. ``encoded`` is the model output
    (``z [B, S, D_z]``, ``mu, log_var [B, D_z]``, ``log_q``, ``scale_tril``).

    ``@register_kl(PriorClass)`` (the 2.x form) registers ``fn(mu, log_var, prior) ->
    [B, D_z]`` for the diagonal Gaussian posterior.
    """
    if prior_type is None:
        if not (isinstance(posterior_type, type) and issubclass(posterior_type, Prior)):
            raise TypeError(f"prior_type must be a Prior subclass, got {posterior_type!r}")
        moments_prior = posterior_type

        def moments_decorator(fn: _F) -> _F:
            _register(DiagonalGaussianPosterior, moments_prior, _from_moments(fn))
            return fn

        return moments_decorator
    if not (isinstance(posterior_type, type) and issubclass(posterior_type, Posterior)):
        raise TypeError(f"posterior_type must be a Posterior subclass, got {posterior_type!r}")
    if not (isinstance(prior_type, type) and issubclass(prior_type, Prior)):
        raise TypeError(f"prior_type must be a Prior subclass, got {prior_type!r}")
    pair = (posterior_type, prior_type)

    def decorator(fn: _F) -> _F:
        _register(pair[0], pair[1], cast(PairKLFunction, fn))
        return fn

    return decorator


def _register(posterior_type: type[Posterior], prior_type: type[Prior], fn: PairKLFunction) -> None:
    _PAIRS[(posterior_type, prior_type)] = fn
    _MEMO.clear()


def _from_moments(fn: Callable[..., torch.Tensor]) -> PairKLFunction:
    def pair_fn(posterior: Posterior, prior: Prior, encoded: EncodedPosterior) -> torch.Tensor:
        return fn(encoded.mu, encoded.log_var, prior)

    return pair_fn


def _lookup(posterior_type: type[Posterior], prior_type: type[Prior]) -> PairKLFunction | None:
    """The most specific registered pair both types derive from (memoised), else ``None``."""
    key = (posterior_type, prior_type)
    if key in _MEMO:
        return _MEMO[key]
    matches = [
        (q, p) for q, p in _PAIRS if issubclass(posterior_type, q) and issubclass(prior_type, p)
    ]
    found = None
    if matches:

        def distance(pair: tuple[type[Posterior], type[Prior]]) -> tuple[int, int]:
            q_rank = posterior_type.__mro__.index(pair[0])
            return (q_rank + prior_type.__mro__.index(pair[1]), q_rank)

        found = _PAIRS[min(matches, key=distance)]
    _MEMO[key] = found
    return found


def _posterior_type(posterior: Posterior | type[Posterior] | None) -> type[Posterior]:
    if posterior is None:
        return DiagonalGaussianPosterior
    return posterior if isinstance(posterior, type) else type(posterior)


def has_closed_form_kl(prior: Prior, posterior: Posterior | type[Posterior] | None = None) -> bool:
    """Whether a closed-form KL is registered for the pair (default: diagonal posterior)."""
    return _lookup(_posterior_type(posterior), type(prior)) is not None


@dataclass
class _Moments:
    """A diagonal Gaussian's ``mu, log_var`` in the shape of a model output (no samples)."""

    mu: torch.Tensor
    log_var: torch.Tensor
    z: torch.Tensor


def monte_carlo_kl(
    mu: torch.Tensor, log_var: torch.Tensor, z: torch.Tensor, prior: Prior
) -> torch.Tensor:
    """Monte Carlo ``KL(q || p)``, mean over the ``S`` samples ``z [B, S, D_z]``: shape ``[B]``.

    ``q`` is the diagonal Gaussian ``N(mu, diag(exp(log_var)))``.
    """
    return (posterior_log_prob(z, mu, log_var) - prior.log_prob(z)).mean(dim=1)


def analytic_kl_per_dim(mu: torch.Tensor, log_var: torch.Tensor, prior: Prior) -> torch.Tensor:
    """Closed-form ``KL(q || p)`` per dimension ``[B, D_z]`` for the diagonal posterior.

    Raises ``LookupError`` if none is registered.
    """
    fn = _lookup(DiagonalGaussianPosterior, type(prior))
    if fn is None:
        raise LookupError(
            f"no closed-form KL is registered for {type(prior).__name__}; use the Monte Carlo "
            "estimate (kl_estimator='monte_carlo' or 'auto') or register one with register_kl"
        )
    return fn(_DIAGONAL, prior, _Moments(mu, log_var, mu.unsqueeze(1)))


def posterior_kl(
    mu: torch.Tensor,
    log_var: torch.Tensor,
    prior: Prior,
    z: torch.Tensor | None = None,
    estimator: KLEstimator = "auto",
) -> torch.Tensor:
    """``KL(q(z | x) || p(z))`` per input ``[B]`` for the diagonal Gaussian posterior.

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


def posterior_kl_per_dim(
    posterior: Posterior,
    prior: Prior,
    encoded: EncodedPosterior,
    estimator: KLEstimator = "auto",
) -> torch.Tensor:
    """``KL(q(z | x) || p(z))`` of any posterior: ``[B, D_z]`` per dimension, or ``[B, 1]``.

    ``"auto"``: the closed form registered for ``(type(posterior), type(prior))`` (or the most
    specific base pair); without one, the Monte Carlo estimate
    ``mean_s [log q(z_s | x) - log p(z_s)]`` at ``encoded.z`` (``[B, 1]``).
    ``"analytic"`` requires the closed form (``LookupError`` otherwise); ``"monte_carlo"``
    always estimates.
    """
    fn = None if estimator == "monte_carlo" else _lookup(type(posterior), type(prior))
    if fn is not None:
        return fn(posterior, prior, encoded)
    if estimator == "analytic":
        raise LookupError(
            f"no closed-form KL is registered for ({type(posterior).__name__}, "
            f"{type(prior).__name__}); use kl_estimator='auto' or 'monte_carlo', or register "
            "one with register_kl"
        )
    return monte_carlo_kl_per_dim(posterior, prior, encoded)


def monte_carlo_kl_per_dim(
    posterior: Posterior, prior: Prior, encoded: EncodedPosterior
) -> torch.Tensor:
    """``mean_s [log q(z_s | x) - log p(z_s)]`` at ``encoded.z``, as ``[B, 1]``."""
    log_ratio = posterior.log_prob(encoded) - prior.log_prob(encoded.z)  # [B, S]
    return log_ratio.mean(dim=1, keepdim=True)  # [B, 1]


def resolve_kl(posterior: Posterior, prior: Prior, estimator: KLEstimator) -> PairKLFunction | None:
    """The closed form :func:`posterior_kl_per_dim` would use for this pair, once.

    ``None`` means the Monte Carlo estimate (``"monte_carlo"``, or ``"auto"`` without a
    registered pair). A model resolves its ``kl_estimator`` with this at construction, so its
    training step does not compare strings or look up the registry.
    """
    return None if estimator == "monte_carlo" else _lookup(type(posterior), type(prior))


@register_kl(StandardNormalPrior)
def _kl_standard_normal(mu: torch.Tensor, log_var: torch.Tensor, prior: Prior) -> torch.Tensor:
    kl = kl_to_standard_normal_per_dim(mu, log_var)
    # 0.5 (expm1(log_var) - log_var + mu^2) is NaN or inf wherever mu or log_var is.
    vouch_finite(kl, mu, log_var)
    return kl


@register_kl(DiagonalGaussianPrior)
def _kl_diagonal_gaussian(mu: torch.Tensor, log_var: torch.Tensor, prior: Prior) -> torch.Tensor:
    gaussian = cast(DiagonalGaussianPrior, prior)  # the registry key guarantees the type
    return kl_divergence_diag_gaussian(
        mu, log_var, gaussian.loc.expand_as(mu), gaussian.log_var.expand_as(mu), reduce_sum=False
    )


def _full_covariance_kl(
    encoded: EncodedPosterior, loc: torch.Tensor | None, log_var_p: torch.Tensor | None
) -> torch.Tensor:
    r"""``KL(N(mu, L L^T) || N(m, diag(exp(v))))`` ``[B, 1]``; ``m = v = 0`` when ``None``.

    ``0.5 [sum_ij L_ij^2 e^{-v_i} + sum_i (mu_i - m_i)^2 e^{-v_i} - D + sum_i v_i
    - log det(L L^T)]`` with ``log det(L L^T) = sum_i log_var_i`` (``L_ii^2 = e^{log_var_i}``).
    The diagonal terms are written ``expm1(delta) - delta``, ``delta = log_var - v``, which is
    exactly 0 when ``q == p`` and never divides two exponentials.
    """
    tril = getattr(encoded, "scale_tril", None)
    mu, log_var = encoded.mu, encoded.log_var
    if tril is None:
        raise ValueError("the full-covariance KL needs the output's scale_tril [B, D_z, D_z]")
    strict = torch.tril(tril, diagonal=-1)  # [B, D_z, D_z]
    if loc is None or log_var_p is None:
        delta, centred, inv_scale = log_var, mu, None
    else:
        delta, centred = log_var - log_var_p, mu - loc
        inv_scale = torch.exp(-0.5 * log_var_p)  # [D_z]
        strict = strict * inv_scale.unsqueeze(-1)  # row i scaled by e^{-v_i / 2}
        centred = centred * inv_scale
    kl = torch.expm1(delta) - delta + centred.square()  # [B, D_z]
    total = kl.sum(dim=-1) + strict.square().sum(dim=(-2, -1))
    return 0.5 * total.unsqueeze(-1)  # [B, 1]


@register_kl(FullCovarianceGaussianPosterior, StandardNormalPrior)
def _kl_full_standard_normal(
    posterior: Posterior, prior: Prior, encoded: EncodedPosterior
) -> torch.Tensor:
    return _full_covariance_kl(encoded, None, None)


@register_kl(FullCovarianceGaussianPosterior, DiagonalGaussianPrior)
def _kl_full_diagonal_gaussian(
    posterior: Posterior, prior: Prior, encoded: EncodedPosterior
) -> torch.Tensor:
    gaussian = cast(DiagonalGaussianPrior, prior)
    return _full_covariance_kl(encoded, gaussian.loc, gaussian.log_var)
