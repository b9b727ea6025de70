r"""The training step of the default VAE, run without the general path's layers.

The general path of a :class:`~pyautoencoder.variational.VAE` serves every configuration:
conditions (CVAE), latent maps, flow and full-covariance posteriors, learned and VampPriors,
any objective and likelihood. Each of its layers is a Python call, and on a small network on
CPU about a hundred such calls per step cost a few percent of the step (``docs/benchmarks.md``:
~1 us each inside a step, whose matrix products evict the interpreter's caches).

The *plain* configuration is the VAE of Kingma & Welling (2014) as most users train it, and
the 2.x default: flat code, diagonal Gaussian posterior from the sampling layer's two heads,
``N(0, I)`` prior (or another with a closed-form KL), one sample per input, the
:class:`~pyautoencoder.objectives.ELBO` (any ``beta``, no free bits) and a built-in Bernoulli
or unit-Gaussian likelihood. For it,
:func:`plain_forward` and :func:`plain_elbo` compute exactly what the general path computes
(the same tensor ops in the same order, the same random draws, the same value checks recorded
in the same order, hence the same errors) with about sixty Python calls fewer. Anything else
(another configuration, a subclass that overrides a step method, hooks on the objective,
arguments whose shapes or dtypes do not fit) returns ``None`` and the caller runs the general
path, which also reports every error.

With the ``N(0, I)`` prior, per input ``b``, the step computes (Kingma & Welling 2014,
eq. 10, with the beta of Higgins et al. 2017)

.. math::

    z_b = \mu_b + e^{\frac12 \log\sigma^2_b} \odot \epsilon_b, \qquad
    \mathcal{L} = \frac1B \sum_b \left(\log p(x_b \mid z_b)
        - \beta\,\tfrac12 \sum_d
        \left(e^{\log\sigma^2_{bd}} - 1 - \log\sigma^2_{bd} + \mu_{bd}^2\right)\right),

``objective = -L``, one batch mean of the per-input terms (as a hand-written step computes
it). Tests compare both paths bit for bit (``tests/variational/test_plain_step.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.modules import module as _module

from .._validation import check_all_finite, check_weight, value_checks_enabled, vouch_finite
from ..distributions._likelihood import BernoulliLikelihood, Likelihood, UnitGaussianLikelihood
from ..distributions._posteriors import (
    DiagonalGaussianPosterior,
    Posterior,
    diagonal_gaussian_draw,
)
from ..distributions._priors import Prior
from ..loss._result import LossResult
from ..loss._sampled import merged_sample_dims
from ..objectives._base import Objective, Weight, scaled
from ..objectives._elbo import ELBO, beta_elbo_result
from ._outputs import VAEOutput
from .stochastic_layers import FullyFactorizedGaussian

if TYPE_CHECKING:
    from ._vae_base import VAEBase

#: The likelihoods whose per-input term is one sum without a sign to apply
#: (:meth:`~pyautoencoder.distributions.Likelihood.nll_sum`) and whose validation is
#: the base class's: floating dtypes, equal shapes, finite values, their support.
_BUILT_IN_LIKELIHOODS = (BernoulliLikelihood, UnitGaussianLikelihood)


def plain_forward(model: VAEBase, x: torch.Tensor) -> VAEOutput | None:
    """``model(x)`` with the default ``S`` and ``sample=True``, or ``None`` if not plain.

    Plain here: the sampling layer is a :class:`FullyFactorizedGaussian` (a flat code), the
    posterior the diagonal Gaussian, the prior prepares nothing per batch and the objective
    draws one sample. The caller has checked that the model's class keeps the general path's
    methods (``VAEBase._plain_step``).

    Returns
    -------
    VAEOutput or None
        ``x_hat [B, 1, ...]``, ``z [B, 1, D_z]``, ``mu, log_var [B, D_z]``; the decoder reads
        the draw ``[B, D_z]`` of which ``z`` is a view, as in the general path.
    """
    modules = model._modules  # typed reads, no ``__getattr__`` call each
    layer: FullyFactorizedGaussian = modules["sampling_layer"]  # type: ignore[assignment]
    objective: Objective = modules["objective"]  # type: ignore[assignment]
    prior: Prior = modules["latent_prior"]  # type: ignore[assignment]
    encoder: nn.Module = modules["encoder"]  # type: ignore[assignment]
    decoder: nn.Module = modules["decoder"]  # type: ignore[assignment]
    if (
        type(layer) is not FullyFactorizedGaussian
        or type(modules["latent_posterior"]) is not DiagonalGaussianPosterior
        or type(prior).prepare is not Prior.prepare
        or (type(objective) is not ELBO and objective.num_samples != 1)
    ):
        return None
    mu, log_var = layer.get_params(encoder(x))  # [B, D_z] each
    draw = diagonal_gaussian_draw(mu, log_var)  # [B, D_z], the posterior's draw for S = 1
    flat = decoder(draw)  # [B, ...]
    if torch.compiler.is_compiling() or flat.dim() == 0 or flat.shape[0] != mu.shape[0]:
        # Compiled: plain tensors for the graph. A decoder output of another batch size: the
        # reshape raises here, in the forward pass, as in the general path.
        x_hat = flat.reshape(mu.shape[0], 1, *flat.shape[1:])
        return VAEOutput(x_hat=x_hat, z=draw.unsqueeze(1), mu=mu, log_var=log_var)
    return PlainVAEOutput.deferred(flat, draw, mu, log_var)


class PlainVAEOutput(VAEOutput):
    """The :class:`VAEOutput` of the plain step: ``x_hat`` and ``z`` are made when first read.

    ``x_hat [B, 1, ...]`` and ``z [B, 1, D_z]`` are views of the decoder's output ``flat [B,
    ...]`` and of the draw ``[B, D_z]``; inside a training step on CPU each view costs 10-20 us
    the first time its code runs after the matrix products (``docs/benchmarks.md``), and the
    plain :func:`plain_elbo` reads ``flat`` itself. So a step that reads neither makes neither;
    the first read makes the view (the same object on every later read) and an assignment
    replaces it, as for any :class:`VAEOutput`.
    """

    __slots__ = ("draw", "flat")

    flat: torch.Tensor  # [B, ...], the decoder's output
    draw: torch.Tensor  # [B, D_z], the posterior's draw

    @classmethod
    def deferred(
        cls, flat: torch.Tensor, draw: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
    ) -> PlainVAEOutput:
        """An output whose two views are not made yet."""
        output = cls.__new__(cls)
        output.flat, output.draw, output.mu, output.log_var = flat, draw, mu, log_var
        _X_HAT_SLOT.__set__(output, None)
        _Z_SLOT.__set__(output, None)
        return output

    @property
    def x_hat(self) -> torch.Tensor:
        """``[B, 1, ...]``, a view of ``flat`` (made on the first read)."""
        x_hat: torch.Tensor | None = _X_HAT_SLOT.__get__(self, VAEOutput)
        if x_hat is None:
            flat = self.flat
            x_hat = flat.reshape(flat.shape[0], 1, *flat.shape[1:])
            _X_HAT_SLOT.__set__(self, x_hat)
        return x_hat

    @x_hat.setter
    def x_hat(self, value: torch.Tensor) -> None:
        _X_HAT_SLOT.__set__(self, value)

    @property
    def z(self) -> torch.Tensor:
        """``[B, 1, D_z]``, a view of the draw (made on the first read)."""
        z: torch.Tensor | None = _Z_SLOT.__get__(self, VAEOutput)
        if z is None:
            z = self.draw.unsqueeze(1)
            _Z_SLOT.__set__(self, z)
        return z

    @z.setter
    def z(self, value: torch.Tensor) -> None:
        _Z_SLOT.__set__(self, value)


# The slots of VAEOutput's fields (a slots dataclass): PlainVAEOutput keeps its views in them.
_X_HAT_SLOT = VAEOutput.__dict__["x_hat"]
_Z_SLOT = VAEOutput.__dict__["z"]


def plain_elbo(model: VAEBase, x: torch.Tensor, output: object, beta: Weight) -> LossResult | None:
    """``model.compute_loss(x, output, beta)`` of a plain model, or ``None``.

    Plain here: the objective is an :class:`ELBO` without free bits and without hooks, the
    likelihood (the model's own) a built-in Bernoulli or unit Gaussian, the posterior the
    diagonal Gaussian, the prior one with a closed-form KL (``N(0, I)``, a learned diagonal
    Gaussian) and the model's ``kl_estimator`` not ``"monte_carlo"``, and ``output`` a
    :class:`VAEOutput` of one sample per input whose shapes and dtypes pass every check of the
    general path (otherwise the general path runs and raises). The value checks are those of
    the general path, recorded in its order.
    """
    modules = model._modules
    # Typed reads of the submodules (``model.likelihood`` would be a ``__getattr__`` call each).
    objective: ELBO = modules["objective"]  # type: ignore[assignment]
    likelihood: Likelihood = modules["likelihood"]  # type: ignore[assignment]
    posterior: Posterior = modules["latent_posterior"]  # type: ignore[assignment]
    prior: Prior = modules["latent_prior"]  # type: ignore[assignment]
    posterior_type, prior_type, closed_form = model._kl_pair  # resolved at construction
    if (
        type(objective) is not ELBO
        or objective.free_bits is not None
        or type(likelihood) not in _BUILT_IN_LIKELIHOODS
        or type(posterior) is not DiagonalGaussianPosterior
        or posterior_type is not DiagonalGaussianPosterior
        or type(prior) is not prior_type
        or closed_form is None  # the Monte Carlo KL
        or (type(output) is not VAEOutput and type(output) is not PlainVAEOutput)
        or _calls_hooks(objective)
    ):
        return None
    flat = _one_sample_decoder_output(output)  # [B, ...]
    mu, log_var = output.mu, output.log_var
    if flat is None or not _fits(x, flat, mu, log_var, model.latent_dim):
        return None
    checks = value_checks_enabled()
    if checks:  # those of _checked_reconstruction and Likelihood.validate, in their order
        check_all_finite(mu=mu, log_var=log_var, x=x, x_hat=flat)
        likelihood.check_support(x)
    nll = likelihood.nll_sum(x, flat, 1)  # [B]
    if checks:  # non-finite wherever x or x_hat is
        vouch_finite(nll, x, flat)
    kl_per_dim = closed_form(posterior, prior, output)  # [B, D_z], as model.kl_per_dim
    weight = check_weight(beta, "beta")
    if objective.beta != 1.0:
        weight = scaled(objective.beta, weight)
    kl = kl_per_dim.sum(dim=-1)  # [B]
    if checks:
        vouch_finite(kl, kl_per_dim)
    return beta_elbo_result(nll, kl, weight)


def _one_sample_decoder_output(output: VAEOutput) -> torch.Tensor | None:
    """``x_hat [B, 1, ...]`` with its sample dimension merged, ``[B, ...]``; ``None`` if not so.

    For a :class:`PlainVAEOutput` whose ``x_hat`` was neither read nor replaced, the decoder's
    output itself (no view is made).
    """
    if type(output) is PlainVAEOutput:
        unread: torch.Tensor | None = _X_HAT_SLOT.__get__(output, VAEOutput)
        if unread is None:
            return output.flat
    x_hat = output.x_hat
    if not isinstance(x_hat, torch.Tensor) or x_hat.dim() < 2 or x_hat.shape[1] != 1:
        return None
    return merged_sample_dims(x_hat)


def _fits(x: object, flat: torch.Tensor, mu: object, log_var: object, latent_dim: int) -> bool:
    """Whether the general path's type, shape and dtype checks all pass (for ``S = 1``).

    ``flat`` is ``x_hat`` with its sample dimension merged: ``x_hat [B, 1, ...]`` has the shape
    ``[B, 1, *x.shape[1:]]`` exactly when ``flat`` has the shape of ``x``.
    """
    if not (
        isinstance(x, torch.Tensor)
        and isinstance(mu, torch.Tensor)
        and isinstance(log_var, torch.Tensor)
        and x.dim() >= 1
    ):
        return False
    batch = x.shape[0]
    return (
        batch > 0
        and flat.shape == x.shape
        and mu.shape == (batch, latent_dim)
        and log_var.shape == (batch, latent_dim)
        and x.is_floating_point()
        and flat.is_floating_point()
    )


def _calls_hooks(objective: torch.nn.Module) -> bool:
    """Whether calling ``objective`` would run hooks (as ``nn.Module.__call__`` tests)."""
    return bool(
        objective._forward_hooks
        or objective._forward_pre_hooks
        or objective._backward_hooks
        or objective._backward_pre_hooks
        or _module._has_any_global_hook()
    )
