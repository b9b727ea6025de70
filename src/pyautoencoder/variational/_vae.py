"""The variational autoencoder (Kingma & Welling 2014) with a beta-weighted bound (C-VAE)."""

from __future__ import annotations

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
    analytic_kl_per_dim,
    has_closed_form_kl,
    monte_carlo_kl,
)
from ..distributions._likelihood import Likelihood, LikelihoodType, get_likelihood
from ..distributions._priors import Prior, get_prior
from ..loss._result import LossResult
from ..loss._sampled import check_sampled_reconstruction, sampled_log_likelihood
from ..registry import register_model
from . import stochastic_layers
from ._outputs import VAEDecodeOutput, VAEEncodeOutput, VAEOutput


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

    Objective (beta-VAE bound, Higgins et al. 2017; beta = 1 is the ELBO of Kingma & Welling
    2014, eq. 10), per input ``b``:

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
    kl_estimator : {"auto", "analytic", "monte_carlo"}
        ``"auto"``: closed form when registered for the prior, else Monte Carlo.
    """

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
    ) -> None:
        super().__init__()
        check_module(encoder, "encoder")
        check_module(decoder, "decoder")
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.sampling_layer = stochastic_layers.FullyFactorizedGaussian(self.latent_dim)
        # The default prior and likelihoods hold no state: state_dicts stay those of 2.x.
        self.latent_prior = get_prior(prior, self.latent_dim)
        self.latent_prior.attach(self._posterior_params)
        self.likelihood = get_likelihood(likelihood)
        self.free_bits = None if free_bits is None else float(check_weight(free_bits, "free_bits"))
        if kl_estimator not in ("auto", "analytic", "monte_carlo"):
            raise ValueError(
                f"kl_estimator must be 'auto', 'analytic' or 'monte_carlo', got {kl_estimator!r}"
            )
        if kl_estimator == "analytic" and not has_closed_form_kl(self.latent_prior):
            raise ValueError(
                f"kl_estimator='analytic' needs a closed-form KL, and none is registered for "
                f"{type(self.latent_prior).__name__}; use 'auto' or 'monte_carlo'"
            )
        self.kl_estimator: KLEstimator = kl_estimator

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
        mu, log_var = self._posterior_params(x)
        return D.Independent(D.Normal(mu, torch.exp(0.5 * log_var)), 1)

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
        """``KL(q(z | x) || p(z))``: ``[B, D_z]`` in closed form, or ``[B, 1]`` (Monte Carlo)."""
        if self.kl_estimator == "analytic" or (
            self.kl_estimator == "auto" and has_closed_form_kl(self.latent_prior)
        ):
            return analytic_kl_per_dim(output.mu, output.log_var, self.latent_prior)
        return monte_carlo_kl(output.mu, output.log_var, output.z, self.latent_prior).unsqueeze(1)

    def free_bits_kl(self, kl_per_dim: torch.Tensor) -> torch.Tensor | None:
        """The thresholded KL term ``sum_d max(lambda, mean_b KL_bd)`` (scalar), or ``None``."""
        if self.free_bits is None:
            return None
        threshold = self.free_bits * (self.latent_dim if kl_per_dim.shape[1] == 1 else 1)
        return kl_per_dim.mean(dim=0).clamp(min=threshold).sum()

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
        stochastic_layers._check_sample_args(S, sample)  # before the encoder runs
        self.latent_prior.prepare(x)
        z, mu, log_var = self.sampling_layer(self.encoder(x), S=S, sample=sample)
        return VAEEncodeOutput(z=z, mu=mu, log_var=log_var)

    def _decode(self, z: torch.Tensor) -> VAEDecodeOutput:
        """Decode ``z [B, S, D_z]`` in one decoder call into ``x_hat [B, S, ...]``."""
        self._check_latent_shape(z)
        batch, num_samples, latent_dim = z.shape
        flat = self.decoder(z.reshape(batch * num_samples, latent_dim))  # [B * S, ...]
        return VAEDecodeOutput(x_hat=flat.reshape(batch, num_samples, *flat.shape[1:]))

    def _check_latent_shape(self, z: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``z`` is ``[B, S, latent_dim]`` (C-VAE-5)."""
        if z.dim() != 3 or z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"z must have shape [B, S, D_z] with D_z = {self.latent_dim}, got "
                f"{tuple(z.shape)}; for one latent per input of shape [B, D_z] use "
                "z.unsqueeze(1)"
            )

    def forward(self, x: torch.Tensor, S: int = 1, sample: bool = True) -> VAEOutput:
        """Encode (``S`` samples, or the mean with ``sample=False``) and decode."""
        enc = self._encode(x, S=S, sample=sample)
        return VAEOutput(x_hat=self._decode(enc.z).x_hat, z=enc.z, mu=enc.mu, log_var=enc.log_var)

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
        """Negative beta-ELBO averaged over the batch; see the class docstring.

        ``likelihood=None`` uses the model's likelihood (``"gaussian"`` unless the constructor
        got another one).
        """
        log_lik, kl_per_dim = self._elbo_terms(x, output, likelihood)
        beta = check_weight(beta, "beta")
        # log_lik [B, S] goes in whole: its mean over B and S is mean_b of the per-input means.
        return beta_elbo_result(
            log_lik, kl_per_dim.sum(dim=-1), beta, self.free_bits_kl(kl_per_dim)
        )

    def _elbo_terms(
        self,
        x: torch.Tensor,
        output: VAEOutput,
        likelihood: LikelihoodType | str | Likelihood | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Checked ``(log-likelihood [B, S], KL per dim)``: the terms every bound is made of.

        Returns the per-sample reconstruction term ``sum_features log p(x | z_s)`` ``[B, S]``
        and :meth:`kl_per_dim`.
        """
        spec = self.likelihood if likelihood is None else likelihood
        check_sampled_reconstruction(x, output.x_hat, spec)  # before an unknown name is reported
        check_posterior_params(output.mu, output.log_var, x.shape[0], self.latent_dim)
        check_all_finite(mu=output.mu, log_var=output.log_var)
        model = self.resolve_likelihood(likelihood)
        log_lik = sampled_log_likelihood(x, output.x_hat, model)  # [B, S]
        return log_lik, self.kl_per_dim(output)


def beta_elbo_result(
    log_lik: torch.Tensor,
    kl: torch.Tensor,
    beta: float | torch.Tensor,
    kl_objective: torch.Tensor | None = None,
) -> LossResult:
    """Assemble the beta-ELBO objective and diagnostics from per-input terms.

    ``log_lik`` is ``[B]`` or ``[B, S]`` (one term per sample; averaged over ``B`` and ``S``)
    and ``kl`` is ``[B]``. The bound ``mean_b (log_lik_b - beta KL_b)`` is computed as
    ``mean(log_lik) - beta mean(KL)`` (equal by linearity, fewer and smaller tensor ops in the
    step). ``kl_objective`` (a scalar, e.g. the free-bits KL) replaces ``mean_b KL_b`` in the
    objective only; the diagnostics keep the true KL and then add ``kl_free_bits``.
    """
    mean_log_lik = log_lik.mean()  # []
    mean_kl = kl.mean()  # []
    # beta = 1 (a Python number) multiplies nothing: one op less in the training step.
    unit_beta = isinstance(beta, float) and beta == 1.0
    weighted_kl = mean_kl if unit_beta else beta * mean_kl
    if kl_objective is None:
        objective = weighted_kl - mean_log_lik
    else:
        objective = beta * kl_objective - mean_log_lik
    # The diagnostics come from the detached means: ``a - b`` is exactly ``-(b - a)`` in IEEE
    # arithmetic, so the bound equals ``-objective`` (without free bits) bit for bit.
    mean_log_lik, mean_kl = mean_log_lik.detach(), mean_kl.detach()
    unweighted = mean_log_lik - mean_kl
    # With beta = 1 a tensor of its own (equal to `unweighted`, not an alias of it).
    bound = mean_log_lik - (mean_kl if unit_beta else weighted_kl.detach())
    diagnostics = {
        "elbo": bound,
        "log_likelihood": mean_log_lik,
        "kl_divergence": mean_kl,
        "elbo_unweighted": unweighted,
    }
    if kl_objective is not None:
        diagnostics["kl_free_bits"] = kl_objective.detach()
    return LossResult(objective=objective, diagnostics=diagnostics)
