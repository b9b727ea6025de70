r"""Likelihoods beyond the two 2.x ones: true Gaussian, Laplace, continuous Bernoulli, categorical.

Every class here is a :class:`~pyautoencoder.distributions.Likelihood` registered by name, so
``likelihood="laplace"`` works wherever a likelihood is accepted. The registered default of
each class is constructible without arguments; options (a learned scale, the number of classes)
need the object::

    VAE(encoder, decoder, latent_dim, likelihood=GaussianLikelihood(scale="learned"))

All log-densities are *true* log-densities (normalising constants included), so bounds of
different likelihoods are comparable in nats. They equal ``torch.distributions``' ``log_prob``
(tested in float64).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import (
    check_all_finite,
    check_floating,
    check_in_closed_interval,
    settle_pending_checks,
    value_checks_enabled,
)
from ._likelihood import Likelihood, register_likelihood

_LOG_2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

ScaleSpec = float | Literal["learned", "per_feature", "decoder"]


def _check_negative_dim(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value >= 0:
        raise ValueError(
            f"{name} must be a negative int counted from the end (e.g. -1 for [B, F], -3 for "
            f"[B, C, H, W]), got {value!r}"
        )
    return value


def _shape_error(name: str, x_shape: torch.Size, expected: Sequence[int], got: torch.Size) -> str:
    return (
        f"x_hat must have shape {tuple(expected)} for x {tuple(x_shape)} under the {name} "
        f"likelihood, got {tuple(got)}"
    )


class _LocationScaleLikelihood(Likelihood):
    """Shared scale handling of location-scale likelihoods (``x_hat`` is the location).

    ``scale`` is a positive float (fixed), ``"learned"`` (one scalar ``nn.Parameter``),
    ``"per_feature"`` (one learned scale per feature, ``feature_shape`` = ``x.shape[1:]``) or
    ``"decoder"`` (the decoder predicts it: ``x_hat`` has twice the channels of ``x`` along
    ``channel_dim``, the first half the location, the second the log-scale). Learned scales are
    stored as log-scales, initialised at ``log(init_scale)``.
    """

    def __init__(
        self,
        scale: ScaleSpec = 1.0,
        *,
        init_scale: float = 1.0,
        feature_shape: Sequence[int] | None = None,
        channel_dim: int = -1,
    ) -> None:
        super().__init__()
        if not isinstance(init_scale, numbers.Real) or not 0 < init_scale < math.inf:
            raise ValueError(f"init_scale must be a finite float > 0, got {init_scale!r}")
        self.channel_dim: int = _check_negative_dim(channel_dim, "channel_dim")
        self.scale_mode: str
        self.fixed_log_scale: float = 0.0
        self.log_scale: nn.Parameter | None = None
        if isinstance(scale, numbers.Real) and not isinstance(scale, bool):
            if not 0 < float(scale) < math.inf:
                raise ValueError(f"scale must be a finite float > 0, got {scale!r}")
            self.scale_mode = "fixed"
            self.fixed_log_scale = math.log(float(scale))
        elif scale == "learned":
            self.scale_mode = "learned"
            self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))
        elif scale == "per_feature":
            if feature_shape is None:
                raise ValueError(
                    "scale='per_feature' needs feature_shape, the shape of one example "
                    "(x.shape[1:]), e.g. feature_shape=(784,)"
                )
            shape = tuple(int(d) for d in feature_shape)
            self.scale_mode = "per_feature"
            self.log_scale = nn.Parameter(torch.full(shape, math.log(init_scale)))
        elif scale == "decoder":
            self.scale_mode = "decoder"
        else:
            raise ValueError(
                f"scale must be a float > 0, 'learned', 'per_feature' or 'decoder', got {scale!r}"
            )
        # Resolved once: the training step branches on a bool, not on the mode string.
        self._decoder_scale: bool = self.scale_mode == "decoder"

    def x_hat_shape(self, x_shape: Sequence[int]) -> tuple[int, ...]:
        shape = list(x_shape)
        if self._decoder_scale:
            if len(shape) < -self.channel_dim:
                raise ValueError(
                    f"channel_dim={self.channel_dim} does not exist for x of shape {tuple(shape)}"
                )
            shape[self.channel_dim] *= 2
        return tuple(shape)

    def check_shapes(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        if not self._decoder_scale:
            super().check_shapes(x, x_hat)
            return
        expected = self.x_hat_shape(x.shape)
        if tuple(x_hat.shape) != expected:
            raise ValueError(
                _shape_error(self.name or type(self).__name__, x.shape, expected, x_hat.shape)
                + f" (location and log-scale stacked along channel_dim={self.channel_dim})"
            )

    def loc_and_log_scale(self, x_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | float]:
        """Split ``x_hat`` into the location and the log-scale (tensor or float)."""
        if self._decoder_scale:
            loc, log_scale = x_hat.chunk(2, dim=self.channel_dim)
            return loc, log_scale
        if self.log_scale is not None:
            return x_hat, self.log_scale
        return x_hat, self.fixed_log_scale

    def extra_repr(self) -> str:
        mode = (
            f"scale={math.exp(self.fixed_log_scale):g}"
            if self.scale_mode == "fixed"
            else f"scale={self.scale_mode!r}"
        )
        return f"{super().extra_repr()}, {mode}".lstrip(", ")


@register_likelihood("normal")
class GaussianLikelihood(_LocationScaleLikelihood):
    r"""Gaussian ``N(x; x_hat, sigma^2)`` with its normalising constant (true log-density).

    .. math::

        \log p(x \mid \hat x) = -\frac{(x - \hat x)^2}{2\sigma^2} - \log\sigma
            - \tfrac12\log 2\pi.

    Registered as ``"normal"`` (``sigma = 1``; unlike ``"gaussian"``, the 2.x likelihood,
    which omits the constant). ``sigma`` is fixed (``scale=0.1``), learned (``"learned"``: one
    scalar; ``"per_feature"``: one per feature) or predicted by the decoder (``"decoder"``:
    ``x_hat`` has ``2C`` channels along ``channel_dim``, location then log-scale). Learning the
    scale (Rybkin et al. 2021, *Simple and Effective VAE Training with Calibrated Decoders*)
    balances reconstruction and KL without a hand-tuned beta.

    Parameters
    ----------
    scale : float or {"learned", "per_feature", "decoder"}
        The standard deviation or how it is obtained.
    init_scale : float
        Initial value of a learned scale.
    feature_shape : sequence of int, optional
        ``x.shape[1:]``; required by ``"per_feature"``.
    channel_dim : int
        Negative index of the channel dimension (``-1`` for ``[B, F]``, ``-3`` for
        ``[B, C, H, W]``); used by ``"decoder"``.
    """

    def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        loc, log_scale = self.loc_and_log_scale(x_hat)
        if isinstance(log_scale, float):
            standardized = (x - loc) * math.exp(-log_scale)
        else:
            standardized = (x - loc) * torch.exp(-log_scale)
        return -0.5 * standardized.square() - log_scale - _HALF_LOG_2PI


@register_likelihood("laplace")
class LaplaceLikelihood(_LocationScaleLikelihood):
    r"""Laplace ``Laplace(x; x_hat, b)``: robust (L1) reconstruction with a true density.

    .. math::

        \log p(x \mid \hat x) = -\frac{|x - \hat x|}{b} - \log b - \log 2.

    Same scale options as :class:`GaussianLikelihood` (``b`` fixed, learned, per feature or
    predicted by the decoder). Registered as ``"laplace"`` with ``b = 1``.
    """

    def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        loc, log_scale = self.loc_and_log_scale(x_hat)
        if isinstance(log_scale, float):
            scaled = (x - loc).abs() * math.exp(-log_scale)
        else:
            scaled = (x - loc).abs() * torch.exp(-log_scale)
        return -scaled - log_scale - _LOG_2


# Below this |logit| the continuous-Bernoulli normaliser uses its Taylor series.
_CB_TAYLOR_THRESHOLD = 0.05


def continuous_bernoulli_log_normalizer(logits: torch.Tensor) -> torch.Tensor:
    r"""``log C(lambda)`` of the continuous Bernoulli, from the logits ``eta = logit(lambda)``.

    ``C(lambda) = 2 artanh(1 - 2 lambda) / (1 - 2 lambda)`` (Loaiza-Ganem & Cunningham 2019,
    eq. 7), ``C(1/2) = 2``. With ``1 - 2 lambda = -tanh(eta / 2)`` this is
    ``C = eta / tanh(eta / 2)``, so

    .. math::

        \log C = \log|\eta| - \log|\tanh(\eta/2)|
        \quad\text{and, for } |\eta| < 0.05,\quad
        \log C = \log 2 + \frac{u^2}{3} - \frac{7u^4}{90} + \frac{62u^6}{2835}, \; u = \eta/2,

    the Taylor series of ``log(u coth u)``, whose next term is below ``1e-13`` there. The two
    branches are joined with ``torch.where`` on a guarded input, so gradients are finite at
    ``eta = 0`` (``lambda = 1/2``) too.
    """
    small = logits.abs() < _CB_TAYLOR_THRESHOLD
    safe = torch.where(small, torch.ones_like(logits), logits)
    direct = torch.log(safe.abs()) - torch.log(torch.tanh(0.5 * safe).abs())
    u2 = (0.5 * logits).square()
    taylor = _LOG_2 + u2 * (1.0 / 3.0 + u2 * (-7.0 / 90.0 + u2 * (62.0 / 2835.0)))
    return torch.where(small, taylor, direct)


@register_likelihood("continuous_bernoulli")
class ContinuousBernoulliLikelihood(Likelihood):
    r"""Continuous Bernoulli with logits ``x_hat``, for data in ``[0, 1]`` (grey levels).

    .. math::

        \log p(x \mid \eta) = x \log\lambda + (1 - x)\log(1 - \lambda) + \log C(\lambda),
        \qquad \lambda = \sigma(\eta),

    the properly normalised density on ``[0, 1]`` that the Bernoulli "likelihood" of
    non-binary pixels is not (Loaiza-Ganem & Cunningham 2019, *The continuous Bernoulli: fixing
    a pervasive error in variational autoencoders*, eq. 7). The first two terms are
    ``-binary_cross_entropy_with_logits``; ``log C`` is
    :func:`continuous_bernoulli_log_normalizer` (stable at ``lambda = 1/2``). Note that the
    mean of the distribution is not ``lambda``.
    """

    def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        bernoulli = -F.binary_cross_entropy_with_logits(x_hat, x, reduction="none")
        return bernoulli + continuous_bernoulli_log_normalizer(x_hat)

    def check_support(self, x: torch.Tensor) -> None:
        check_in_closed_interval("x (continuous Bernoulli targets)", x, 0.0, 1.0)


@register_likelihood("categorical")
class CategoricalLikelihood(Likelihood):
    r"""Categorical over ``K`` discrete levels, e.g. the 256 grey values of 8-bit pixels.

    ``x_hat`` holds logits with one extra class dimension of size ``K`` at ``class_dim`` (a
    negative index into ``x_hat``; default ``-1``: ``x [B, F]``, ``x_hat [B, F, K]``; for
    images ``x [B, C, H, W]`` use e.g. ``x_hat [B, C, K, H, W]`` with ``class_dim=-3``).
    ``x`` holds integer levels in ``[0, K - 1]``, as an integer or a floating-point tensor.

    .. math::

        \log p(x \mid \hat x) = \hat x_{x} - \log\sum_{k} \exp \hat x_k
        \quad(\texttt{log\_softmax} \text{ along the class dimension, then gather}).

    Registered as ``"categorical"`` with ``K = 256``.

    Parameters
    ----------
    num_classes : int
        ``K``.
    class_dim : int
        Negative index of the class dimension of ``x_hat``.
    """

    def __init__(self, num_classes: int = 256, class_dim: int = -1) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        self.num_classes = num_classes
        self.class_dim = _check_negative_dim(class_dim, "class_dim")

    def x_hat_shape(self, x_shape: Sequence[int]) -> tuple[int, ...]:
        shape = list(x_shape)
        position = len(shape) + 1 + self.class_dim
        if position < 0:
            raise ValueError(
                f"class_dim={self.class_dim} does not exist for x of shape {tuple(shape)}"
            )
        shape.insert(position, self.num_classes)
        return tuple(shape)

    def check_shapes(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        expected = self.x_hat_shape(x.shape)
        if tuple(x_hat.shape) != expected:
            raise ValueError(
                _shape_error("categorical", x.shape, expected, x_hat.shape)
                + f" (logits with K={self.num_classes} classes at class_dim={self.class_dim})"
            )

    def validate(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"x must hold integer levels (int or float dtype), got {x.dtype}")
        check_floating(x_hat, "x_hat")
        self.check_shapes(x, x_hat)
        if x.is_floating_point():
            check_all_finite(x=x, x_hat=x_hat)
        else:
            check_all_finite(x_hat=x_hat)
        self.check_support(x)

    def check_support(self, x: torch.Tensor) -> None:
        if not value_checks_enabled():
            return
        settle_pending_checks()  # read now (gather needs valid indices): earlier checks first
        high = self.num_classes - 1
        bad = (x < 0) | (x > high)
        if x.is_floating_point():
            bad = bad | (x != torch.round(x))
        if bool(bad.any()):
            raise ValueError(
                f"x (categorical targets) must be integer levels in [0, {high}], got "
                f"{int(bad.sum())} value(s) that are not"
            )

    def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        log_probs = torch.log_softmax(x_hat, dim=self.class_dim)
        index = x.long().unsqueeze(self.class_dim)
        return log_probs.gather(self.class_dim, index).squeeze(self.class_dim)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, class_dim={self.class_dim}"
