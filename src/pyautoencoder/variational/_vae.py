"""The variational autoencoder (Kingma & Welling 2014) with a beta-weighted bound."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import distributions as D
from torch import nn

from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._posteriors import Posterior
from ..distributions._priors import Prior
from ..objectives._base import Objective
from ..registry import register_model
from ._outputs import VAEDecodeOutput, VAEEncodeOutput, VAEOutput
from ._plain_step import plain_forward
from ._vae_base import OBJECTIVE_SAMPLES, VAEBase

#: The methods the general training step runs; a subclass that overrides one of them takes
#: the general step always (the plain step would not run its override).
_STEP_METHODS = (
    "_num_samples",
    "_encode",
    "_encode_given",
    "_encoder_input",
    "_decode",
    "_decode_given",
    "_decoder_input",
    "_check_latent_shape",
    "_output",
    "mean_reconstruction_log_prob",
    "_checked_reconstruction",
    "kl_per_dim",
)


@register_model("vae", latent="features", latent_shape_arg="latent_shape")
class VAE(VAEBase):
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

    Latent maps (the KL-regularised autoencoder of latent diffusion, Rombach et al. 2022,
    "KL-f8"): with ``latent_shape = (C, h, w)`` instead of ``latent_dim`` the encoder returns
    feature maps ``[B, F, h, w]``, a :class:`~pyautoencoder.variational.stochastic_layers.
    SpatialGaussian` (``1 x 1`` convolutions) gives ``mu, log_var [B, C, h, w]``, samples are
    ``z [B, S, C, h, w]`` and the decoder takes ``[N, C, h, w]``. The posterior factorises
    over channels and positions, so as a density it is the diagonal Gaussian over the
    ``D_z = C h w`` values (``latent_dim`` is that number): the KL (``kl_per_dim`` is
    ``[B, D_z]``), the priors (event ``[D_z]``; :attr:`prior` has event shape ``[C, h, w]``),
    free bits and every objective work on that flat view. Only the diagonal posterior applies.

    Parameters
    ----------
    encoder : nn.Module
        Maps ``x [B, ...]`` to flat features ``[B, F]`` (end it with ``nn.Flatten()``), or to
        feature maps ``[B, F, h, w]`` for latent maps.
    decoder : nn.Module
        Maps ``z [N, D_z]`` (latent maps: ``[N, C, h, w]``) to ``[N, ...]``.
    latent_dim : int, optional
        ``D_z``, the size of a flat code. Give this or ``latent_shape``.
    latent_shape : sequence of int, optional
        ``(C, h, w)`` (also ``(C, L)`` or ``(C, d, h, w)``): latent maps of ``C`` channels,
        keyword only. ``latent_dim`` is then ``C h w``.
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
    _plain_step: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._plain_step = all(getattr(cls, name) is getattr(VAE, name) for name in _STEP_METHODS)

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
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            latent_shape=latent_shape,
            prior=prior,
            likelihood=likelihood,
            free_bits=free_bits,
            kl_estimator=kl_estimator,
            objective=objective,
            posterior=posterior,
        )
        self.latent_prior.attach(self._posterior_params)  # a VampPrior encodes pseudo-inputs

    def _posterior_params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, log_var)``, each ``[B, D_z]`` (latent maps flattened), of ``q(z | x)``."""
        mu, log_var = self._posterior_params_given(x, None)
        if self._latent_maps:
            return mu.flatten(1), log_var.flatten(1)
        return mu, log_var

    def posterior(self, x: torch.Tensor) -> D.Distribution:
        """``q(z | x)`` as a distribution: batch shape ``[B]``, event shape ``[D_z]``.

        For latent maps the event shape is ``latent_shape`` (``[C, h, w]``).

        Runs with the active grad mode (use it inside ``torch.no_grad()`` for inference).
        """
        return self._posterior_given(x, None)

    def sample(self, num_samples: int) -> torch.Tensor:
        """Decoder outputs ``[num_samples, ...]`` for ``z ~ p(z)`` (no grad).

        These are the decoder's parameters of ``p(x | z)`` (means, or logits for Bernoulli),
        not draws from it.
        """
        with torch.no_grad():
            z = self.latent_prior.sample(num_samples)  # [N, D_z]
            z = z.reshape(num_samples, 1, *self.latent_shape)  # [N, 1, D_z] or [N, 1, C, h, w]
            return self._decode(z).x_hat.squeeze(1)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder output ``[B, ...]`` at the posterior mean of each input (no grad)."""
        with torch.no_grad():
            return self._decode(self._encode(x, sample=False).z).x_hat.squeeze(1)

    def _build_pass(self, input_sample: torch.Tensor) -> None:
        # The posterior mean is enough to materialise every layer and draws no samples.
        self(input_sample, sample=False)

    def _encode(self, x: torch.Tensor, S: int = 1, sample: bool = True) -> VAEEncodeOutput:
        """``VAEEncodeOutput(z [B, S, D_z], mu [B, D_z], log_var [B, D_z])``."""
        return self._encode_given(x, None, S, sample)

    def _decode(self, z: torch.Tensor) -> VAEDecodeOutput:
        """Decode ``z [B, S, D_z]`` (``[B, S, C, h, w]``) in one call into ``x_hat [B, S, ...]``."""
        return self._decode_given(z, None)

    def forward(
        self, x: torch.Tensor, S: int = OBJECTIVE_SAMPLES, sample: bool = True
    ) -> VAEOutput:
        """Encode (``S`` samples, or the mean with ``sample=False``) and decode.

        By default ``S`` is the objective's ``num_samples`` (1 for the ELBO, ``K`` for an
        importance-weighted bound), and 1 with ``sample=False``. The default configuration
        takes the plain step (:mod:`pyautoencoder.variational._plain_step`): the same result
        with fewer Python calls.
        """
        if S is OBJECTIVE_SAMPLES and sample is True and self._plain_step:
            output = plain_forward(self, x)
            if output is not None:
                return output
        enc = self._encode(x, S=self._num_samples(S, sample), sample=sample)
        return self._output(enc, self._decode(enc.z).x_hat)

    def encode(self, x: torch.Tensor, S: int = 1, sample: bool = False) -> VAEEncodeOutput:
        """Posterior mean by default (``z = mu.unsqueeze(1)``); ``sample=True`` draws ``S``."""
        with torch.no_grad():
            return self._encode(x, S=S, sample=sample)
