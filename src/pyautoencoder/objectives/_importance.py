r"""The importance-weighted bound (Burda, Grosse & Salakhutdinov 2016), IWAE or DReG gradient."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from .._validation import check_num_samples, check_weight, vouch_finite
from ..loss._iwae_bound import dreg_surrogate, effective_sample_size, iwae_bound
from ..loss._result import LossResult
from ._base import LikelihoodSpec, Objective, VariationalModel, Weight, register_objective

GradientEstimator = Literal["iwae", "dreg"]


@dataclass
class ImportanceTerms:
    """The per-sample terms of every importance-weighted bound.

    Attributes
    ----------
    log_weights : torch.Tensor
        ``log w_s = log p(x | z_s) + beta (log p(z_s) - log q(z_s | x))``, ``[B, S]``.
    log_likelihood : torch.Tensor
        ``log p(x | z_s)`` summed over features, ``[B, S]``.
    kl_per_dim : torch.Tensor
        The model's KL, ``[B, D_z]`` or ``[B, 1]`` (diagnostics only).
    """

    log_weights: torch.Tensor
    log_likelihood: torch.Tensor
    kl_per_dim: torch.Tensor

    def diagnostics(self) -> dict[str, torch.Tensor]:
        """``elbo``, ``log_likelihood``, ``kl_divergence``, ``elbo_unweighted`` (batch means).

        ``elbo`` here is the standard ELBO estimate at the same samples (the KL unweighted).
        """
        mean_log_lik = self.log_likelihood.mean().detach()
        mean_kl = self.kl_per_dim.sum(dim=-1).mean().detach()
        # A mean is non-finite wherever a term is: the value checks read these two numbers
        # instead of summing the [B, S] log-likelihoods and the [B, D_z] KL again.
        vouch_finite(mean_log_lik, self.log_likelihood)
        vouch_finite(mean_kl, self.kl_per_dim)
        return {
            "elbo": mean_log_lik - mean_kl,
            "log_likelihood": mean_log_lik,
            "kl_divergence": mean_kl,
            "elbo_unweighted": mean_log_lik - mean_kl,
        }


SAMPLE_DIAGNOSTICS = frozenset({"elbo", "log_likelihood", "kl_divergence", "elbo_unweighted"})


def importance_terms(
    model: VariationalModel,
    x: torch.Tensor,
    output: Any,
    beta: Weight,
    likelihood: LikelihoodSpec,
    detach_params: bool = False,
) -> ImportanceTerms:
    """Log-weights ``[B, S]`` at the samples of ``output`` (see :class:`ImportanceTerms`).

    ``beta`` (the KL weight of ``compute_loss``) tempers the prior-to-posterior ratio; at the
    default ``1`` the weights are the exact importance weights of ``p(x, z) / q(z | x)``.
    ``detach_params`` stops the gradient through the posterior's parameters in ``log q``
    (DReG).
    """
    log_lik = model.reconstruction_log_prob(x, output, likelihood)  # [B, S]
    kl_per_dim = model.kl_per_dim(output)
    weight = check_weight(beta, "beta")
    log_prior = model.prior_log_prob(output)  # [B, S]
    log_q = model.posterior_log_prob(output, detach_params)  # [B, S]
    if isinstance(weight, float) and weight == 1.0:
        log_w = log_lik + log_prior - log_q
    else:
        log_w = log_lik + weight * (log_prior - log_q)
    return ImportanceTerms(log_weights=log_w, log_likelihood=log_lik, kl_per_dim=kl_per_dim)


@register_objective("importance_weighted")
class ImportanceWeightedBound(Objective):
    r"""The ``K``-sample importance-weighted bound (IWAE).

    .. math::

        \mathcal{L}_K(x) = \log \frac1K \sum_{k=1}^K
            \frac{p(x \mid z_k)\, p(z_k)}{q(z_k \mid x)}, \qquad z_k \sim q(z \mid x)

    (Burda, Grosse & Salakhutdinov 2016, *Importance weighted autoencoders*, eq. 8), computed
    with ``logsumexp``; ``objective = -mean_b L_K(x_b)``. ``K`` is the number of samples of the
    forward pass (``output.z.shape[1]``); :attr:`num_samples` is what ``forward(x)`` draws by
    default. ``K = 1`` is the single-sample ELBO with a Monte Carlo KL. A ``beta != 1`` from
    ``compute_loss`` tempers ``log p(z) - log q(z | x)`` in every weight (KL annealing).

    ``gradient_estimator="dreg"``: the doubly reparameterised gradient of Tucker, Lawson, Gu &
    Maddison (2019), eq. 5 (same value, lower-variance encoder gradient whose signal-to-noise
    ratio does not vanish as ``K`` grows); see :func:`~pyautoencoder.loss.dreg_surrogate`.

    Diagnostics: ``iwae_bound`` (minus the objective), ``elbo`` (``log_likelihood -
    kl_divergence``, the standard ELBO estimate at the same samples), ``log_likelihood``,
    ``kl_divergence``, ``elbo_unweighted`` (= ``elbo``), ``effective_sample_size`` (mean Kish
    ESS of the normalised weights, in ``[1, K]``).

    Parameters
    ----------
    num_samples : int
        ``K >= 1`` drawn by ``forward(x)``.
    gradient_estimator : {"iwae", "dreg"}
        The plain reparameterised gradient of the bound, or DReG.
    """

    def __init__(
        self, num_samples: int = 5, gradient_estimator: GradientEstimator = "iwae"
    ) -> None:
        super().__init__()
        self._num_samples = check_num_samples(num_samples, "num_samples")
        if gradient_estimator not in ("iwae", "dreg"):
            raise ValueError(
                f"gradient_estimator must be 'iwae' or 'dreg', got {gradient_estimator!r}"
            )
        self.gradient_estimator: GradientEstimator = gradient_estimator
        self._dreg = gradient_estimator == "dreg"  # resolved once, not per step

    @property
    def num_samples(self) -> int:
        return self._num_samples

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        terms = importance_terms(model, x, output, beta, likelihood, detach_params=self._dreg)
        log_w = terms.log_weights  # [B, K]
        bound = dreg_surrogate(log_w, output.z) if self._dreg else iwae_bound(log_w)  # [B]
        objective = -bound.mean()
        diagnostics = {"iwae_bound": -objective.detach(), **terms.diagnostics()}
        diagnostics["effective_sample_size"] = effective_sample_size(log_w.detach()).mean()
        return LossResult(objective=objective, diagnostics=diagnostics)

    def diagnostic_keys(self) -> frozenset[str]:
        return SAMPLE_DIAGNOSTICS | {"iwae_bound", "effective_sample_size"}

    def _config_args(self) -> dict[str, Any]:
        return {"num_samples": self.num_samples, "gradient_estimator": self.gradient_estimator}
