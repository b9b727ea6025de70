"""Observation models ``p(x | x_hat)`` as small objects, and the registry that names them.

A likelihood turns the decoder output ``x_hat`` into an elementwise log-density of the data
``x``. The two built-in ones are the 2.x likelihoods:

* ``"gaussian"``: unit variance with the constant omitted, ``log p = -0.5 (x - x_hat)^2``;
* ``"bernoulli"``: ``x_hat`` are logits and ``x`` lies in ``[0, 1]``,
  ``log p = x log sigmoid(x_hat) + (1 - x) log sigmoid(-x_hat)``, computed as
  ``-binary_cross_entropy_with_logits`` (the numerically stable logits form).

New likelihoods subclass :class:`Likelihood` and register a name with
:func:`register_likelihood`; every ``likelihood=`` argument then accepts that name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import _reduction

from .._arguments import recording_arguments
from .._registry import Registry
from .._validation import (
    check_all_finite,
    check_floating,
    check_in_closed_interval,
    value_checks_enabled,
    vouch_finite,
)
from ._config import _registered_config

#: ``reduction="none"`` / ``"sum"`` as the enum the ATen op takes (what ``F``'s wrapper passes).
_NO_REDUCTION = _reduction.get_enum("none")


class LikelihoodType(Enum):
    """The names of the two likelihoods of the 2.x API."""

    GAUSSIAN = "gaussian"
    BERNOULLI = "bernoulli"


def check_same_shape(x: torch.Tensor, x_hat: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` and ``x_hat`` have the same shape (no broadcasting)."""
    if x.shape != x_hat.shape:
        raise ValueError(
            f"x and x_hat must have the same shape, got x {tuple(x.shape)} and "
            f"x_hat {tuple(x_hat.shape)} (broadcasting is not applied)"
        )


def sum_from(values: torch.Tensor, start_dim: int) -> torch.Tensor:
    """Sum ``values`` over every dimension from ``start_dim`` on (``[B, S, ...] -> [B, S]``).

    With exactly one such dimension (flat features, e.g. ``[B, S, D]``) this is
    ``sum(dim=-1)`` directly; otherwise the trailing dimensions are flattened first. The
    flattening would be a view of the same shape and strides there, so both give the same
    values; skipping it saves a view (and its backward) per call.
    """
    if values.dim() == start_dim + 1:
        return values.sum(dim=-1)
    return values.reshape(*values.shape[:start_dim], -1).sum(dim=-1)


class Likelihood(nn.Module):
    """Base class of observation models ``p(x | x_hat)``.

    Subclasses implement :meth:`log_prob`; they may override :meth:`check_shapes` (default:
    ``x`` and ``x_hat`` have the same shape) and :meth:`check_support` (default: any real
    value). A likelihood is an ``nn.Module`` so that learned parameters (a learned scale, say)
    are registered with the model that owns it.
    """

    #: The registry name of the likelihood (set by :func:`register_likelihood`).
    name: str = ""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if callable(init) and not getattr(init, "_records_arguments", False):
            cls.__init__ = recording_arguments(init)  # type: ignore[method-assign]

    def config(self) -> dict[str, object]:
        """``{"name": registered name, **constructor options}`` (JSON values).

        :func:`get_likelihood` rebuilds the likelihood (untrained) from it.
        ``NotImplementedError`` for an unregistered class or options that are not JSON values.
        """
        return _registered_config(self, LIKELIHOODS.entries.get(self.name))

    def propagates_non_finite(self) -> bool:
        """Whether ``log_prob(x, x_hat)`` is non-finite wherever ``x`` or ``x_hat`` is.

        Then a finite log-likelihood proves both inputs finite, and the value checks test the
        reduced ``[B, S]`` term instead of the full-size tensors (one pass less each). ``False``
        unless a likelihood states it (the built-in unit Gaussian and Bernoulli do, checked
        element by element in ``tests/test_validation_fused.py``).
        """
        return False

    def checked_log_prob_sum(
        self, x: torch.Tensor, x_hat: torch.Tensor, start_dim: int
    ) -> torch.Tensor:
        """:meth:`validate`, then :meth:`log_prob_sum`, vouching for the inputs when it can."""
        self.validate(x, x_hat)
        result = self.log_prob_sum(x, x_hat, start_dim)
        if self.propagates_non_finite():
            vouch_finite(result, x, x_hat)
        return result

    def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Elementwise ``log p(x | x_hat)``, shape of ``x``."""
        raise NotImplementedError(f"{type(self).__name__} must implement log_prob")

    def log_prob_sum(self, x: torch.Tensor, x_hat: torch.Tensor, start_dim: int) -> torch.Tensor:
        """``log_prob(x, x_hat)`` summed over every dimension from ``start_dim`` on.

        ``[B, S, ...]`` with ``start_dim=2`` gives ``[B, S]``; ``[B, ...]`` with ``start_dim=1``
        gives ``[B]``. Subclasses may override it to apply signs and constant factors after the
        sum (one op on ``[B, S]`` instead of one per element); the values must not change.
        """
        return sum_from(self.log_prob(x, x_hat), start_dim)

    def nll_sum(self, x: torch.Tensor, x_hat: torch.Tensor, start_dim: int) -> torch.Tensor:
        """The negative log-likelihood summed from ``start_dim`` on: ``-log_prob_sum(...)``.

        ``[B, ...]`` with ``start_dim=1`` gives ``[B]``, the per-input term of an ELBO's
        objective ``mean_b (beta KL_b - log p(x_b | z_b))``. Subclasses may override it with a
        form whose loss is computed positive already (the built-in Bernoulli: its binary cross
        entropy summed; the unit Gaussian: half the squared error summed), saving the negation;
        the values must equal ``-log_prob_sum`` exactly.
        """
        return -self.log_prob_sum(x, x_hat, start_dim)

    def checked_nll_sum(self, x: torch.Tensor, x_hat: torch.Tensor, start_dim: int) -> torch.Tensor:
        """:meth:`validate`, then :meth:`nll_sum`, vouching for the inputs when it can."""
        self.validate(x, x_hat)
        result = self.nll_sum(x, x_hat, start_dim)
        if self.propagates_non_finite():
            vouch_finite(result, x, x_hat)
        return result

    def checked_mean_log_prob_sum(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """:meth:`validate`, then :meth:`mean_log_prob_sum`, vouching for the inputs when it can."""
        self.validate(x, x_hat)
        result = self.mean_log_prob_sum(x, x_hat)
        if self.propagates_non_finite():
            vouch_finite(result, x, x_hat)
        return result

    def mean_log_prob_sum(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """``log_prob(x, x_hat)`` summed over every dimension but the first, averaged over it.

        ``[N, ...] -> []``: ``mean_n sum_j log p(x_nj | x_hat_nj)``, the batch-mean
        reconstruction term of an ELBO (``N = B S`` rows, one per input and sample). Equal to
        ``log_prob_sum(x, x_hat, 1).mean()`` up to the order of the additions; subclasses may
        override it with a faster form (the built-in Gaussian: one ``sum`` and one scaling;
        the Bernoulli: its sign applied to the mean, one number, instead of to the row sums).
        """
        return self.log_prob_sum(x, x_hat, 1).mean()

    def x_hat_shape(self, x_shape: Sequence[int]) -> tuple[int, ...]:
        """The decoder-output shape this likelihood expects for data of shape ``x_shape``.

        Default: the same shape. Likelihoods whose ``x_hat`` differs (a class dimension, a
        predicted scale) override this and :meth:`check_shapes`.
        """
        return tuple(x_shape)

    def check_shapes(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        """Raise ``ValueError`` if the shapes of ``x`` and ``x_hat`` do not fit."""
        check_same_shape(x, x_hat)

    def check_support(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` if a value of ``x`` lies outside the support (value check).

        :meth:`validate` calls it only while value checks are on; called directly it checks.
        """

    def validate(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        """All checks: dtypes and shapes always; finiteness and :meth:`check_support` (value
        checks) only while value checks are on."""
        check_floating(x, "x")
        check_floating(x_hat, "x_hat")
        self.check_shapes(x, x_hat)
        if value_checks_enabled():
            check_all_finite(x=x, x_hat=x_hat)
            self.check_support(x)

    def extra_repr(self) -> str:
        return f"name={self.name!r}" if self.name else ""


_L = TypeVar("_L", bound=type[Likelihood])
LIKELIHOODS: Registry[type[Likelihood]] = Registry("likelihood", same_object_again=False)
_REGISTRY = LIKELIHOODS.entries  # the table itself (tests patch it)


def register_likelihood(name: str) -> Callable[[_L], _L]:
    """Class decorator that makes a :class:`Likelihood` available by ``name``.

    The class must be constructible without arguments; the name is case-insensitive.
    """
    key = name.lower()

    def decorator(cls: _L) -> _L:
        LIKELIHOODS.register(key, cls)
        cls.name = key
        return cls

    return decorator


def available_likelihoods() -> list[str]:
    """The registered likelihood names, sorted."""
    return LIKELIHOODS.names()


def same_shape_likelihood(likelihood: object) -> bool:
    """Whether ``likelihood`` wants ``x_hat`` shaped like ``x`` (``True`` for unknown specs).

    Lets callers run the same-shape check before resolving the likelihood (the shape
    check comes first) without applying it to likelihoods whose ``x_hat`` differs.
    """
    cls: object = type(likelihood)
    if isinstance(likelihood, LikelihoodType):
        cls = _REGISTRY.get(likelihood.value)
    elif isinstance(likelihood, str):
        cls = _REGISTRY.get(likelihood.lower())
    if not isinstance(cls, type) or not issubclass(cls, Likelihood):
        return True
    return cls.x_hat_shape is Likelihood.x_hat_shape


def get_likelihood(likelihood: object) -> Likelihood:
    """Resolve a name, a :class:`LikelihoodType` or a :class:`Likelihood` into an object.

    Raises
    ------
    ValueError
        For an unknown name (``Unsupported likelihood``, with close matches) or any other
        value (objects are not duck-typed on a ``.value`` attribute).
    """
    if isinstance(likelihood, Likelihood):
        return likelihood
    if isinstance(likelihood, dict):  # a config from Likelihood.config()
        options = dict(likelihood)
        name = options.pop("name", None)
        if not isinstance(name, str):
            raise ValueError(f"a likelihood config needs a 'name' string, got {likelihood!r}")
        return LIKELIHOODS.get(name)(**options)
    if isinstance(likelihood, LikelihoodType):
        return _REGISTRY[likelihood.value]()
    if isinstance(likelihood, str):
        key = likelihood.lower()
        if key in _REGISTRY:
            return _REGISTRY[key]()
        hint = LIKELIHOODS.did_you_mean(key, inline=True)
        raise ValueError(
            f"Unsupported likelihood {likelihood!r}: expected one of "
            f"{available_likelihoods()}{hint}"
        )
    raise ValueError(
        "Unsupported likelihood: expected a LikelihoodType, a registered name (str) or a "
        f"Likelihood object, got {type(likelihood).__name__}"
    )


@register_likelihood("gaussian")
class UnitGaussianLikelihood(Likelihood):
    """Unit-variance Gaussian without its constant: ``log p = -0.5 (x - x_hat)^2``.

    This is the 2.x ``"gaussian"`` likelihood: the true log-density is this minus
    ``0.5 log(2 pi)`` per element.
    """

    def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        return -0.5 * (x - x_hat).square()

    def propagates_non_finite(self) -> bool:
        # (x - x_hat)^2 is inf or NaN when either is: true for this class's own formula.
        return type(self).log_prob is UnitGaussianLikelihood.log_prob

    def log_prob_sum(self, x: torch.Tensor, x_hat: torch.Tensor, start_dim: int) -> torch.Tensor:
        if type(self).log_prob is not UnitGaussianLikelihood.log_prob:  # a subclass's own
            return super().log_prob_sum(x, x_hat, start_dim)
        # -0.5 after the sum: scaling by a power of two is exact, so the values are unchanged.
        return sum_from((x - x_hat).square(), start_dim) * -0.5

    def nll_sum(self, x: torch.Tensor, x_hat: torch.Tensor, start_dim: int) -> torch.Tensor:
        if type(self).log_prob is not UnitGaussianLikelihood.log_prob:  # a subclass's own
            return super().nll_sum(x, x_hat, start_dim)
        # 0.5 after the sum: exact, and the negation of log_prob_sum's -0.5 (also exact).
        return sum_from((x - x_hat).square(), start_dim) * 0.5

    def mean_log_prob_sum(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        if type(self).log_prob is not UnitGaussianLikelihood.log_prob or x.shape[0] == 0:
            return super().mean_log_prob_sum(x, x_hat)  # a subclass's own; no rows: NaN
        return (x - x_hat).square().sum() * (-0.5 / x.shape[0])


@register_likelihood("bernoulli")
class BernoulliLikelihood(Likelihood):
    """Bernoulli with logits ``x_hat``; ``x`` in ``[0, 1]`` (soft targets allowed).

    ``log p = x log sigmoid(x_hat) + (1 - x) log sigmoid(-x_hat)``, computed as
    ``-binary_cross_entropy_with_logits(x_hat, x)`` elementwise, stable for any logit.
    """

    def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(x_hat, x, reduction="none")

    def propagates_non_finite(self) -> bool:
        # (1 - x) x_hat - log sigmoid(x_hat) is NaN or inf for an infinite or NaN logit or
        # target (checked for every combination in tests/test_validation_fused.py).
        return type(self).log_prob is BernoulliLikelihood.log_prob

    def log_prob_sum(self, x: torch.Tensor, x_hat: torch.Tensor, start_dim: int) -> torch.Tensor:
        if type(self).log_prob is not BernoulliLikelihood.log_prob:  # a subclass's own
            return super().log_prob_sum(x, x_hat, start_dim)
        if x.shape == x_hat.shape:  # always after validate: the op without F's wrapper
            bce = torch.binary_cross_entropy_with_logits(x_hat, x, None, None, _NO_REDUCTION)
        else:  # F's wrapper reports the mismatch
            bce = F.binary_cross_entropy_with_logits(x_hat, x, reduction="none")
        # The sign after the sum: negation is exact, so the values are unchanged.
        return -sum_from(bce, start_dim)

    def nll_sum(self, x: torch.Tensor, x_hat: torch.Tensor, start_dim: int) -> torch.Tensor:
        if type(self).log_prob is not BernoulliLikelihood.log_prob or x.shape != x_hat.shape:
            return super().nll_sum(x, x_hat, start_dim)  # a subclass's own, or F's shape error
        # The binary cross entropy is the negative log-likelihood: summed, no sign to apply.
        bce = torch.binary_cross_entropy_with_logits(x_hat, x, None, None, _NO_REDUCTION)
        return sum_from(bce, start_dim)

    def mean_log_prob_sum(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        own = type(self).log_prob is BernoulliLikelihood.log_prob
        if not own or x.shape != x_hat.shape or x.shape[0] == 0:
            return super().mean_log_prob_sum(x, x_hat)  # a subclass's, F's shape error, no rows
        # The row sums, their mean, then the sign (exact) on one number. Not the op's own
        # ``reduction="sum"``: inside a training step (2 threads, caches cold) that took
        # ~25 us longer than summing the unreduced losses by rows (docs/benchmarks.md).
        bce = torch.binary_cross_entropy_with_logits(x_hat, x, None, None, _NO_REDUCTION)
        return -sum_from(bce, 1).mean()

    def check_support(self, x: torch.Tensor) -> None:
        check_in_closed_interval("x (Bernoulli targets)", x, 0.0, 1.0)
