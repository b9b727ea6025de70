"""The variational autoencoder (Kingma & Welling 2014) with a beta-weighted bound."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import distributions as D
from torch import nn

from .._base import BaseAutoencoder
from .._validation import (
    check_all_finite,
    check_module,
    check_positive_int,
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
from ..loss._sampled import check_sampled_reconstruction, sampled_log_likelihood
from ..objectives._base import Objective
from ..objectives._elbo import ELBO, free_bits_kl
from ..registry import register_model
from . import stochastic_layers
from ._outputs import (
    PosteriorEncodeOutput,
    PosteriorOutput,
    VAEDecodeOutput,
    VAEEncodeOutput,
    VAEOutput,
)


class _ObjectiveSamples(int):
    """The default ``S`` of :meth:`VAE.forward`: the objective's ``num_samples``."""

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


@register_model("vae", latent="features")
class VAE(BaseAutoencoder):
    r"""Variational autoencoder with a diagonal Gaussian posterior and a ``N(0, I)`` prior.

    ``encoder(x) -> h [B, F]``; a :class:`~pyautoencoder.variational.stochastic_layers.
    FullyFactorizedGaussian` maps ``h`` to ``mu, log_var [B, D_z]`` and draws
    ``z [B, S, D_z]``; the decoder maps ``z.reshape(B * S, D_z)`` to outputs reshaped to
    ``x_hat [B, S, ...]``.

    The objective is an object (:mod:`pyautoencoder.objectives`); ``compute_loss`` delegates
    to it. The default, :class:`~pyautoencoder.objectives.ELBO`, is the beta-VAE bound
    (Higgins et al. 2017; beta = 1 is the ELBO of Kingma & Welling 2014, eq. 10), per input
    ``b``:

    .. math::

        \mathcal{L}_b = \frac1S \sum_s \sum_j \log p(x_{bj} \mid z_{bs})
            - \beta\,\mathrm{KL}(q(z \mid x_b) \,\|\, \mathcal{N}(0, I)),

    ``objective = -mean_b L_b``. With the default prior the KL is closed form
    (:func:`~pyautoencoder.loss.kl_divergence_diag_gaussian`); other priors use their
    registered closed form or the Monte Carlo estimate at the drawn samples
    (:func:`~pyautoencoder.distributions.posterior_kl`).

    Free bits (Kingma et al. 2016, *Improved variational inference with inverse autoregressive
    flow*, eq. 15): with ``free_bits = lambda`` the objective's KL term becomes
    ``sum_d max(lambda, mean_b KL_bd)``, so no dimension is pushed below ``lambda`` nats (with a
    Monte Carlo KL the whole code is one group with threshold ``lambda * D_z``). The
    diagnostics still report the true KL; ``kl_free_bits`` is the thresholded term.

    Diagnostics (detached 0-dim tensors): ``elbo`` (the beta-weighted bound, batch mean),
    ``log_likelihood`` (sample- and batch-mean reconstruction term), ``kl_divergence``
    (batch-mean KL), ``elbo_unweighted`` (the true ELBO, ``log_likelihood - kl_divergence``).

    Parameters
    ----------
    encoder : nn.Module
        Maps ``x [B, ...]`` to flat features ``[B, F]`` (end it with ``nn.Flatten()``).
    decoder : nn.Module
        Maps ``z [N, D_z]`` to ``[N, ...]``.
    latent_dim : int
        ``D_z``.
    prior : str or Prior, optional
        ``p(z)``: ``None`` (``N(0, I)``, the 2.x prior), a registered name
        (``"standard_normal"``, ``"diagonal_gaussian"``, ``"mixture_of_gaussians"``,
        ``"vamp"``) or a :class:`~pyautoencoder.distributions.Prior`.
    likelihood : str, LikelihoodType or Likelihood
        The model's observation model, used when ``compute_loss`` gets no ``likelihood``;
        default ``"gaussian"`` (2.x). Pass an object with learned parameters here so that
        they are registered with the model.
    free_bits : float, optional
        KL threshold per latent dimension in nats (see above); ``None`` (default) for none.
        Shorthand for ``objective=ELBO(free_bits=...)``; not combined with ``objective``.
    kl_estimator : {"auto", "analytic", "monte_carlo"}
        ``"auto"``: closed form when registered for the (posterior, prior) pair, else Monte
        Carlo.
    posterior : str or Posterior, optional
        ``q(z | x)``: ``None`` or ``"diagonal"`` (the 2.x diagonal Gaussian), ``"full"``
        (full covariance), a flow ``"planar:K"``, ``"radial:K"``, ``"iaf:K"``, or a
        :class:`~pyautoencoder.distributions.Posterior` such as
        ``InverseAutoregressiveFlow(num_flows=4)``. Held as ``latent_posterior``; it starts from
        the sampling layer's ``mu, log_var`` (the diagonal posterior adds no parameters).
    objective : Objective or dict, optional
        What ``compute_loss`` returns (default ``ELBO()``; a dict is an objective's
        :meth:`~pyautoencoder.objectives.Objective.config`), e.g.
        ``ImportanceWeightedBound(50)`` or ``ELBO() + DIPPenalty("ii", 10.0)``. Its
        ``num_samples`` is how many samples ``forward(x)`` draws by default.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"posterior", "prior_sampling"})

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        *,
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
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.sampling_layer = stochastic_layers.FullyFactorizedGaussian(self.latent_dim)
        self.latent_posterior = get_posterior(posterior, self.latent_dim)
        # The default prior and likelihoods hold no state: state_dicts stay those of 2.x.
        self.latent_prior = get_prior(prior, self.latent_dim)
        self.latent_prior.attach(self._posterior_params)
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
        """The prior ``p(z)`` (``N(0, I)`` by default) as a distribution, event shape ``[D_z]``."""
        return self.latent_prior.distribution()

    def _posterior_params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, log_var)``, each ``[B, D_z]``, of ``q(z | x)``."""
        return self.sampling_layer.get_params(self.encoder(x))

    def posterior(self, x: torch.Tensor) -> D.Distribution:
        """``q(z | x)`` as a distribution: batch shape ``[B]``, event shape ``[D_z]``.

        Runs with the active grad mode (use it inside ``torch.no_grad()`` for inference).
        """
        features = self.encoder(x)
        mu, log_var = self.sampling_layer.get_params(features)
        return self.latent_posterior.distribution(features, mu, log_var)

    def sample(self, num_samples: int) -> torch.Tensor:
        """Decoder outputs ``[num_samples, ...]`` for ``z ~ p(z)`` (no grad).

        These are the decoder's parameters of ``p(x | z)`` (means, or logits for Bernoulli),
        not draws from it.
        """
        with torch.no_grad():
            z = self.latent_prior.sample(num_samples)  # [N, D_z]
            return self._decode(z.unsqueeze(1)).x_hat.squeeze(1)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder output ``[B, ...]`` at the posterior mean of each input (no grad)."""
        with torch.no_grad():
            return self._decode(self._encode(x, sample=False).z).x_hat.squeeze(1)

    def kl_per_dim(self, output: VAEOutput) -> torch.Tensor:
        """``KL(q(z | x) || p(z))``: ``[B, D_z]`` per dimension, or ``[B, 1]``.

        The closed form registered for the (posterior, prior) pair, or the Monte Carlo
        estimate at ``output.z`` (:func:`~pyautoencoder.distributions.posterior_kl_per_dim`).
        """
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
        return self.latent_posterior.log_prob(output, detach_params)

    def prior_log_prob(self, output: VAEOutput) -> torch.Tensor:
        """``log p(z_s)`` ``[B, S]`` at ``output.z`` under :attr:`latent_prior`."""
        return self.latent_prior.log_prob(output.z)

    def free_bits_kl(self, kl_per_dim: torch.Tensor) -> torch.Tensor | None:
        """The thresholded KL term ``sum_d max(lambda, mean_b KL_bd)`` (scalar), or ``None``."""
        return free_bits_kl(kl_per_dim, self.free_bits, self.latent_dim)

    def resolve_likelihood(
        self, likelihood: LikelihoodType | str | Likelihood | None
    ) -> Likelihood:
        """``likelihood`` as an object; ``None`` means the model's own."""
        return self.likelihood if likelihood is None else get_likelihood(likelihood)

    def _build_pass(self, input_sample: torch.Tensor) -> None:
        # The posterior mean is enough to materialise every layer and draws no samples.
        self(input_sample, sample=False)

    def _encode(self, x: torch.Tensor, S: int = 1, sample: bool = True) -> VAEEncodeOutput:
        """``VAEEncodeOutput(z [B, S, D_z], mu [B, D_z], log_var [B, D_z])``."""
        num_samples = stochastic_layers._check_sample_args(S, sample)  # before the encoder runs
        self.latent_prior.prepare(x)
        features = self.encoder(x)
        mu, log_var = self.sampling_layer.get_params(features)
        draw = self.latent_posterior.rsample(features, mu, log_var, num_samples, sample)
        if draw.log_q is None:  # the diagonal Gaussian: the 2.x output
            return VAEEncodeOutput(draw.z, mu, log_var)
        return PosteriorEncodeOutput(draw.z, mu, log_var, draw.log_q, draw.scale_tril)

    def _decode(self, z: torch.Tensor) -> VAEDecodeOutput:
        """Decode ``z [B, S, D_z]`` in one decoder call into ``x_hat [B, S, ...]``."""
        self._check_latent_shape(z)
        batch, num_samples, latent_dim = z.shape
        flat = self.decoder(z.reshape(batch * num_samples, latent_dim))  # [B * S, ...]
        return VAEDecodeOutput(x_hat=flat.reshape(batch, num_samples, *flat.shape[1:]))

    def _check_latent_shape(self, z: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``z`` is ``[B, S, latent_dim]``."""
        if z.dim() != 3 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"z must have shape [B, S, D_z] with D_z = {self.latent_dim}, got "
                f"{tuple(z.shape)}; for one latent per input of shape [B, D_z] use "
                "z.unsqueeze(1)"
            )

    def forward(
        self, x: torch.Tensor, S: int = OBJECTIVE_SAMPLES, sample: bool = True
    ) -> VAEOutput:
        """Encode (``S`` samples, or the mean with ``sample=False``) and decode.

        By default ``S`` is the objective's ``num_samples`` (1 for the ELBO, ``K`` for an
        importance-weighted bound), and 1 with ``sample=False``.
        """
        if S is OBJECTIVE_SAMPLES:
            S = self.objective.num_samples if sample else 1
        enc = self._encode(x, S=S, sample=sample)
        x_hat = self._decode(enc.z).x_hat
        if isinstance(enc, PosteriorEncodeOutput):
            return PosteriorOutput(x_hat, enc.z, enc.mu, enc.log_var, enc.log_q, enc.scale_tril)
        return VAEOutput(x_hat=x_hat, z=enc.z, mu=enc.mu, log_var=enc.log_var)

    def encode(self, x: torch.Tensor, S: int = 1, sample: bool = False) -> VAEEncodeOutput:
        """Posterior mean by default (``z = mu.unsqueeze(1)``); ``sample=True`` draws ``S``."""
        with torch.no_grad():
            return self._encode(x, S=S, sample=sample)

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
        return self.objective(self, x, output, beta=beta, likelihood=likelihood)  # type: ignore[no-any-return]

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
        spec = self.likelihood if likelihood is None else likelihood
        check_sampled_reconstruction(x, output.x_hat, spec)  # before an unknown name is reported
        check_posterior_params(output.mu, output.log_var, x.shape[0], self.latent_dim)
        check_all_finite(mu=output.mu, log_var=output.log_var)
        model = self.resolve_likelihood(likelihood)
        return sampled_log_likelihood(x, output.x_hat, model)  # [B, S]

    def _elbo_terms(
        self,
        x: torch.Tensor,
        output: VAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Checked ``(log-likelihood [B, S], KL per dim)``: the terms every bound is made of."""
        return self.reconstruction_log_prob(x, output, likelihood), self.kl_per_dim(output)


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
