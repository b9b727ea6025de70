r"""The machinery of the VAE family, shared by :class:`VAE` and :class:`CVAE`.

:class:`VAEBase` holds the networks, the sampling layer, the posterior, the prior, the
likelihood and the objective, and implements the encode / decode paths once, for an optional
condition ``y``. The networks see the condition only through two hooks,
:meth:`VAEBase._encoder_input` and :meth:`VAEBase._decoder_input`: the plain VAE passes
``x`` and ``z`` through unchanged, the CVAE lets its :class:`Conditioning` wrap them. The
public methods (``forward``, ``encode``, ``posterior``, ``sample``, ...) belong to the two
models, because their signatures differ: ``forward(x, S)`` for the VAE, ``forward(x, y, S)``
for the CVAE.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import distributions as D
from torch import nn

from .._base import BaseAutoencoder
from .._validation import (
    check_all_finite,
    check_module,
    check_nonempty_batch,
    check_positive_int,
    check_tensor,
    check_weight,
)
from ..distributions._kl import (
    KLEstimator,
    has_closed_form_kl,
    monte_carlo_kl_per_dim,
    posterior_kl_per_dim,
    resolve_kl,
)
from ..distributions._likelihood import Likelihood, LikelihoodType, get_likelihood
from ..distributions._posteriors import Posterior, get_posterior
from ..distributions._priors import Prior, get_prior
from ..loss._result import LossResult
from ..loss._sampled import (
    check_sampled_reconstruction,
    checked_sampled_log_likelihood,
    checked_sampled_mean_log_likelihood,
    checked_sampled_nll,
    merged_sample_dims,
)
from ..objectives._base import Objective, flat_latents
from ..objectives._elbo import ELBO, free_bits_kl
from . import stochastic_layers
from ._outputs import (
    PosteriorEncodeOutput,
    PosteriorOutput,
    VAEDecodeOutput,
    VAEEncodeOutput,
    VAEOutput,
)
from ._plain_step import plain_elbo


class _ObjectiveSamples(int):
    """The default ``S`` of ``forward``: the objective's ``num_samples``."""

    def __repr__(self) -> str:
        return "<objective.num_samples>"


#: Default of ``VAE.forward``'s ``S`` (an ``int`` equal to 1, identified by identity).
OBJECTIVE_SAMPLES: int = _ObjectiveSamples(1)


def check_posterior_params(
    mu: torch.Tensor, log_var: torch.Tensor, batch: int, latent_dim: int
) -> None:
    """Raise ``ValueError`` unless ``mu`` and ``log_var`` are both ``[B, latent_dim]``."""
    expected = (batch, latent_dim)
    if tuple(mu.shape) != expected or tuple(log_var.shape) != expected:
        raise ValueError(
            f"mu and log_var must have shape [B, D_z] = [{batch}, {latent_dim}], "
            f"got mu {tuple(mu.shape)} and log_var {tuple(log_var.shape)}"
        )


def check_posterior_maps(
    mu: torch.Tensor, log_var: torch.Tensor, batch: int, latent_shape: tuple[int, ...]
) -> None:
    """Raise ``ValueError`` unless ``mu`` and ``log_var`` are both ``[B, *latent_shape]``."""
    expected = (batch, *latent_shape)
    if tuple(mu.shape) != expected or tuple(log_var.shape) != expected:
        raise ValueError(
            f"mu and log_var must have shape [B, *latent_shape] = "
            f"[{', '.join(map(str, expected))}], got mu {tuple(mu.shape)} and log_var "
            f"{tuple(log_var.shape)}"
        )


class VAEBase(BaseAutoencoder):
    """Networks, posterior, prior, likelihood and objective of the VAE family.

    Not a model on its own (``forward``, ``_encode`` and ``_decode`` are the subclasses'):
    :class:`~pyautoencoder.variational.VAE` and :class:`~pyautoencoder.variational.CVAE`
    give it their public signatures. The constructor arguments are those of
    :class:`~pyautoencoder.variational.VAE`, which documents them.

    The paths ``_encode_given``, ``_decode_given`` and ``_posterior_given`` take a
    ``condition``: ``None`` for an unconditional model, else whatever the subclass's input
    hooks :meth:`_encoder_input` / :meth:`_decoder_input` understand (the CVAE's ``y``).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int | None = None,
        *,
        latent_shape: Sequence[int] | None = None,
        prior: str | Prior | None = None,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
        free_bits: float | None = None,
        kl_estimator: KLEstimator = "auto",
        objective: Objective | dict[str, Any] | None = None,
        posterior: str | Posterior | None = None,
    ) -> None:
        super().__init__()
        check_module(encoder, "encoder")
        check_module(decoder, "decoder")
        self.encoder = encoder
        self.decoder = decoder
        #: ``(D_z,)`` for a flat code, ``(C, h, w)`` for latent maps.
        self.latent_shape: tuple[int, ...] = _resolve_latent_shape(latent_dim, latent_shape)
        self.latent_dim = math.prod(self.latent_shape)
        # A Python flag resolved once: the flat path (2.x) runs exactly the ops it ran before.
        self._latent_maps = len(self.latent_shape) > 1
        self.sampling_layer: (
            stochastic_layers.FullyFactorizedGaussian | stochastic_layers.SpatialGaussian
        )
        if self._latent_maps:
            self.sampling_layer = stochastic_layers.SpatialGaussian(self.latent_shape)
        else:
            self.sampling_layer = stochastic_layers.FullyFactorizedGaussian(self.latent_dim)
        self.latent_posterior = get_posterior(posterior, self.latent_dim)
        if self._latent_maps and not self.latent_posterior.is_diagonal_gaussian:
            raise ValueError(
                f"latent maps (latent_shape={self.latent_shape}) take the diagonal Gaussian "
                f"posterior only, got posterior {self.latent_posterior.spec()!r}; use a flat "
                "latent_dim for full-covariance or flow posteriors"
            )
        # The default prior and likelihoods hold no state: state_dicts stay those of 2.x.
        self.latent_prior = get_prior(prior, self.latent_dim)
        self.likelihood = get_likelihood(likelihood)
        self.objective = _resolve_objective(objective, free_bits)
        if kl_estimator not in ("auto", "analytic", "monte_carlo"):
            raise ValueError(
                f"kl_estimator must be 'auto', 'analytic' or 'monte_carlo', got {kl_estimator!r}"
            )
        if kl_estimator == "analytic" and not has_closed_form_kl(
            self.latent_prior, self.latent_posterior
        ):
            raise ValueError(
                f"kl_estimator='analytic' needs a closed-form KL, and none is registered for "
                f"({type(self.latent_posterior).__name__}, {type(self.latent_prior).__name__}); "
                "use 'auto' or 'monte_carlo'"
            )
        self.kl_estimator: KLEstimator = kl_estimator
        # Resolved once (a module-level function, not a closure: copies call it with their own
        # posterior and prior); the types guard against a prior or posterior swapped later.
        self._kl_pair = (
            type(self.latent_posterior),
            type(self.latent_prior),
            resolve_kl(self.latent_posterior, self.latent_prior, kl_estimator),
        )

    @property
    def free_bits(self) -> float | None:
        """The ELBO's free-bits threshold (nats per dimension), ``None`` if none or not an ELBO."""
        terms = getattr(self.objective, "terms", (self.objective,))
        return next((t.free_bits for t in terms if isinstance(t, ELBO)), None)

    @property
    def prior(self) -> D.Distribution:
        """The prior ``p(z)`` (``N(0, I)`` by default) as a distribution, event shape ``[D_z]``.

        For latent maps the event shape is ``latent_shape`` (``[C, h, w]``): the prior over the
        ``D_z`` flat values, reshaped (a diagonal Gaussian stays one, other priors go through
        ``ReshapeTransform``, no change of density).
        """
        distribution = self.latent_prior.distribution()
        if not self._latent_maps:
            return distribution
        if isinstance(distribution, D.Independent) and isinstance(distribution.base_dist, D.Normal):
            # A diagonal Gaussian stays one, so that its closed-form KL is still registered.
            base = distribution.base_dist
            loc = base.loc.expand(self.latent_dim).reshape(self.latent_shape)
            scale = base.scale.expand(self.latent_dim).reshape(self.latent_shape)
            return D.Independent(D.Normal(loc, scale), len(self.latent_shape))
        reshape = D.transforms.ReshapeTransform(
            torch.Size((self.latent_dim,)), torch.Size(self.latent_shape)
        )
        return D.TransformedDistribution(distribution, [reshape])

    # -- how the networks see the condition (the unconditional model: they do not) --------

    def _encoder_input(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """What the encoder receives for ``x [B, ...]``: ``x`` itself (no condition)."""
        return x

    def _decoder_input(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """What the decoder receives for ``z [B, S, D_z]``: ``z.reshape(B * S, D_z)``.

        Latent maps ``z [B, S, C, h, w]``: ``[B * S, C, h, w]``. The model's own draws are
        split views of such a tensor, which is passed on as it is
        (:func:`~pyautoencoder.loss._sampled.merged_sample_dims`).
        """
        return merged_sample_dims(z)

    # -- the paths, written once ------------------------------------------------------------

    def _posterior_params_given(
        self, x: torch.Tensor, condition: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, log_var)``, each ``[B, D_z]``, of the base Gaussian of ``q(z | x[, y])``."""
        return self.sampling_layer.get_params(self.encoder(self._encoder_input(x, condition)))

    def _posterior_given(self, x: torch.Tensor, condition: torch.Tensor | None) -> D.Distribution:
        """``q(z | x[, y])``: batch shape ``[B]``, event shape ``[D_z]`` (active grad mode).

        For latent maps the event shape is ``latent_shape`` (``Independent(Normal)`` over
        ``[C, h, w]``).
        """
        features = self.encoder(self._encoder_input(x, condition))  # [B, F]
        mu, log_var = self.sampling_layer.get_params(features)
        return self.latent_posterior.distribution(features, mu, log_var)

    def _encode_given(
        self, x: torch.Tensor, condition: torch.Tensor | None, S: int, sample: bool
    ) -> VAEEncodeOutput:
        """``VAEEncodeOutput(z [B, S, D_z], mu [B, D_z], log_var [B, D_z])``."""
        num_samples = stochastic_layers._check_sample_args(S, sample)  # before the encoder runs
        self.latent_prior.prepare(x)
        features = self.encoder(self._encoder_input(x, condition))  # [B, F]
        mu, log_var = self.sampling_layer.get_params(features)
        draw = self.latent_posterior.rsample(features, mu, log_var, num_samples, sample)
        if draw.log_q is None:  # the diagonal Gaussian: the 2.x output
            return VAEEncodeOutput(draw.z, mu, log_var)
        return PosteriorEncodeOutput(draw.z, mu, log_var, draw.log_q, draw.scale_tril)

    def _decode_given(self, z: torch.Tensor, condition: torch.Tensor | None) -> VAEDecodeOutput:
        """Decode ``z [B, S, D_z]`` in one decoder call into ``x_hat [B, S, ...]``."""
        self._check_latent_shape(z)
        batch, num_samples = z.shape[0], z.shape[1]
        flat = self.decoder(self._decoder_input(z, condition))  # [B * S, ...]
        return VAEDecodeOutput(x_hat=flat.reshape(batch, num_samples, *flat.shape[1:]))

    #: ``forward(x, S=None)`` means the default too (2.x ``IWAE``); the contract's VAE
    #: refuses ``S=None`` with a ``TypeError``.
    _none_samples_is_default: ClassVar[bool] = False

    def _num_samples(self, S: int, sample: bool) -> int:
        """``S``, or for the default :data:`OBJECTIVE_SAMPLES` the objective's ``num_samples``
        (1 with ``sample=False``)."""
        if S is OBJECTIVE_SAMPLES or (S is None and self._none_samples_is_default):
            return self.objective.num_samples if sample else 1
        return S

    @staticmethod
    def _output(enc: VAEEncodeOutput, x_hat: torch.Tensor) -> VAEOutput:
        """The forward output of an encoding and its decoding (a flow's keeps ``log_q``)."""
        if isinstance(enc, PosteriorEncodeOutput):
            return PosteriorOutput(x_hat, enc.z, enc.mu, enc.log_var, enc.log_q, enc.scale_tril)
        return VAEOutput(x_hat=x_hat, z=enc.z, mu=enc.mu, log_var=enc.log_var)

    def _check_latent_shape(self, z: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``z`` is ``[B, S, latent_dim]`` (``[B, S, C, h, w]``)."""
        if self._latent_maps:
            if z.dim() != 2 + len(self.latent_shape) or tuple(z.shape[2:]) != self.latent_shape:
                shape = ", ".join(map(str, self.latent_shape))
                raise ValueError(
                    f"z must have shape [B, S, *latent_shape] = [B, S, {shape}], got "
                    f"{tuple(z.shape)}; for one latent per input of shape [B, {shape}] use "
                    "z.unsqueeze(1)"
                )
            return
        if z.dim() != 3 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"z must have shape [B, S, D_z] with D_z = {self.latent_dim}, got "
                f"{tuple(z.shape)}; for one latent per input of shape [B, D_z] use "
                "z.unsqueeze(1)"
            )

    # -- the terms the objectives read (objectives.VariationalModel) -------------------------

    def kl_per_dim(self, output: VAEOutput) -> torch.Tensor:
        """``KL(q(z | x) || p(z))``: ``[B, D_z]`` per dimension, or ``[B, 1]``.

        The closed form registered for the (posterior, prior) pair, or the Monte Carlo
        estimate at ``output.z`` (:func:`~pyautoencoder.distributions.posterior_kl_per_dim`).
        Latent maps give ``[B, D_z]`` over the flattened ``C h w`` values.
        """
        if self._latent_maps:
            output = flat_latents(output)
        posterior, prior = self.latent_posterior, self.latent_prior
        posterior_type, prior_type, closed_form = self._kl_pair
        if type(posterior) is not posterior_type or type(prior) is not prior_type:
            return posterior_kl_per_dim(posterior, prior, output, self.kl_estimator)
        if closed_form is not None:
            return closed_form(posterior, prior, output)
        return monte_carlo_kl_per_dim(posterior, prior, output)

    def posterior_log_prob(self, output: VAEOutput, detach_params: bool = False) -> torch.Tensor:
        """``log q(z_s | x)`` ``[B, S]`` at ``output.z``, with a flow's log-determinants.

        ``detach_params=True`` stops gradients through the posterior's parameters only (DReG);
        flows raise ``ValueError`` (their density is known only at their own samples).
        """
        if self._latent_maps:
            output = flat_latents(output)
        return self.latent_posterior.log_prob(output, detach_params)

    def prior_log_prob(self, output: VAEOutput) -> torch.Tensor:
        """``log p(z_s)`` ``[B, S]`` at ``output.z`` under :attr:`latent_prior`."""
        z = output.z.flatten(2) if self._latent_maps else output.z  # [B, S, D_z]
        return self.latent_prior.log_prob(z)

    def free_bits_kl(self, kl_per_dim: torch.Tensor) -> torch.Tensor | None:
        """The thresholded KL term ``sum_d max(lambda, mean_b KL_bd)`` (scalar), or ``None``."""
        return free_bits_kl(kl_per_dim, self.free_bits, self.latent_dim)

    def resolve_likelihood(
        self, likelihood: LikelihoodType | str | Likelihood | None
    ) -> Likelihood:
        """``likelihood`` as an object; ``None`` means the model's own."""
        return self.likelihood if likelihood is None else get_likelihood(likelihood)

    def compute_loss(
        self,
        x: torch.Tensor,
        output: VAEOutput,
        beta: float | torch.Tensor = 1,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> LossResult:
        """The model's objective (default: the negative beta-ELBO, batch mean).

        ``beta`` multiplies the objective's KL weight; ``likelihood=None`` uses the model's
        likelihood (``"gaussian"`` unless the constructor got another one). See
        :mod:`pyautoencoder.objectives` for the objectives and their diagnostics.
        """
        if self._likelihood_was_third and isinstance(beta, str | Likelihood | LikelihoodType):
            beta, likelihood = self._positional_likelihood(beta, likelihood)
        if likelihood is None and self._plain_step:
            plain = plain_elbo(self, x, output, beta)
            if plain is not None:
                return plain
        result: LossResult = self.objective(self, x, output, beta=beta, likelihood=likelihood)
        return result

    #: Whether this class runs the step methods of :class:`VAE` unchanged, so that the default
    #: configuration may take the plain step (:mod:`._plain_step`); set per class by ``VAE``.
    _plain_step: ClassVar[bool] = False

    #: 2.x ``compute_loss(x, output, likelihood)`` of the presets that had no ``beta``
    #: (IWAE, BetaTCVAE, InfoVAE, WAE): a likelihood in ``beta``'s place is still read as
    #: the likelihood, with a ``DeprecationWarning``.
    _likelihood_was_third: ClassVar[bool] = False

    def _positional_likelihood(
        self,
        given: LikelihoodType | str | Likelihood,
        likelihood: LikelihoodType | str | Likelihood | None,
    ) -> tuple[float, LikelihoodType | str | Likelihood]:
        if likelihood is not None:
            raise TypeError(
                f"{type(self).__name__}.compute_loss got a likelihood both as its third "
                "argument (beta) and as likelihood="
            )
        warnings.warn(
            f"{type(self).__name__}.compute_loss(x, output, likelihood): the third argument is "
            "beta now; pass likelihood=... by keyword",
            DeprecationWarning,
            stacklevel=3,
        )
        return 1.0, given

    def reconstruction_log_prob(
        self,
        x: torch.Tensor,
        output: VAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> torch.Tensor:
        """Checked ``sum_features log p(x | z_s)`` for every sample, ``[B, S]``.

        Checks the shapes of ``x_hat`` and of ``mu, log_var`` and that the posterior
        parameters are finite, then evaluates the likelihood (``None``: the model's).
        """
        x_hat, model = self._checked_reconstruction(x, output, likelihood)
        return checked_sampled_log_likelihood(x, x_hat, model)  # [B, S]

    def mean_reconstruction_log_prob(
        self,
        x: torch.Tensor,
        output: VAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> torch.Tensor:
        """The mean of :meth:`reconstruction_log_prob` over inputs and samples, ``[]``.

        The same checks; one fused reduction where the likelihood has one (the ELBO's term).
        """
        x_hat, model = self._checked_reconstruction(x, output, likelihood)
        return checked_sampled_mean_log_likelihood(x, x_hat, model)

    def reconstruction_nll(
        self,
        x: torch.Tensor,
        output: VAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None = None,
    ) -> torch.Tensor:
        """Minus :meth:`reconstruction_log_prob` averaged over samples, per input: ``[B]``.

        The same checks; the per-input reconstruction term of the ELBO's objective.
        """
        x_hat, model = self._checked_reconstruction(x, output, likelihood)
        return checked_sampled_nll(x, x_hat, model)

    def _checked_reconstruction(
        self,
        x: torch.Tensor,
        output: VAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None,
    ) -> tuple[torch.Tensor, Likelihood]:
        """``(x_hat, likelihood object)`` once the shapes of ``x``, ``x_hat`` and the posterior
        parameters are checked and ``mu, log_var`` are finite (a value check)."""
        check_tensor(x, "x")
        x_hat = check_tensor(output.x_hat, "x_hat")
        check_nonempty_batch(x)
        spec = self.likelihood if likelihood is None else likelihood
        check_sampled_reconstruction(x, x_hat, spec)  # before an unknown name is reported
        mu, log_var = output.mu, output.log_var
        if self._latent_maps:
            check_posterior_maps(mu, log_var, x.shape[0], self.latent_shape)
        else:
            check_posterior_params(mu, log_var, x.shape[0], self.latent_dim)
        check_all_finite(mu=mu, log_var=log_var)
        return x_hat, self.likelihood if likelihood is None else get_likelihood(likelihood)


def _resolve_objective(
    objective: Objective | dict[str, Any] | None, free_bits: float | None
) -> Objective:
    """The model's objective: ``objective`` (or its config), or ``ELBO(free_bits)`` for ``None``."""
    if isinstance(objective, dict):  # a config, as written by save_pretrained
        objective = Objective.from_config(objective)
    if objective is None:
        if free_bits is not None:
            free_bits = float(check_weight(free_bits, "free_bits"))
        return ELBO(free_bits=free_bits)
    if not isinstance(objective, Objective):
        raise TypeError(
            "objective must be a pyautoencoder.objectives.Objective (e.g. ELBO(), "
            f"ImportanceWeightedBound(5)), got {type(objective).__name__}"
        )
    if free_bits is not None:
        raise ValueError(
            "free_bits is a setting of the ELBO: pass objective=ELBO(free_bits=...) instead of "
            "free_bits together with an objective"
        )
    if objective.is_penalty:
        raise ValueError(
            f"{type(objective).__name__} is a penalty and trains no reconstruction on its own; "
            "add it to a bound, e.g. objective=ELBO() + " + type(objective).__name__ + "(...)"
        )
    return objective


def _resolve_latent_shape(
    latent_dim: int | None, latent_shape: Sequence[int] | None
) -> tuple[int, ...]:
    """``(D_z,)`` from ``latent_dim``, or ``latent_shape`` checked; exactly one must be given."""
    if latent_shape is None:
        if latent_dim is None:  # the 2.x TypeError naming latent_dim, with the other option
            raise TypeError(
                "latent_dim must be a positive int (or give latent_shape=(C, h, w) for latent "
                "maps), got NoneType None"
            )
        return (check_positive_int(latent_dim, "latent_dim"),)
    if latent_dim is not None:
        raise ValueError(
            "give the latent as latent_dim (an int D_z, a flat code) or as latent_shape "
            f"((C, h, w), latent maps), exactly one of them; got latent_dim={latent_dim!r} and "
            f"latent_shape={latent_shape!r}"
        )
    if isinstance(latent_shape, str | bytes) or not isinstance(latent_shape, Sequence):
        raise TypeError(
            f"latent_shape must be a sequence of ints such as (4, 16, 16), got "
            f"{type(latent_shape).__name__} {latent_shape!r}"
        )
    shape = tuple(check_positive_int(size, "latent_shape") for size in latent_shape)
    if not 1 <= len(shape) <= 4:
        raise ValueError(
            "latent_shape must be (C, L), (C, h, w) or (C, d, h, w) (channels first), got "
            f"{tuple(latent_shape)}; for a flat code pass latent_dim"
        )
    return shape
