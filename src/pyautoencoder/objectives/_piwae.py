r"""The partially importance-weighted objective PIWAE (Rainforth et al. 2018)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from .._validation import check_weight
from ..loss._iwae_bound import effective_sample_size, iwae_bound
from ..loss._result import LossResult
from ._base import LikelihoodSpec, VariationalModel, Weight, register_objective
from ._importance import SAMPLE_DIAGNOSTICS, importance_terms
from ._miwae import GroupedSamplesObjective, check_group_samples, miwae_bound


@register_objective("piwae")
class PIWAE(GroupedSamplesObjective):
    r"""IWAE target for the decoder, MIWAE target for the encoder, from one set of samples.

    With ``M K`` samples per input, the generative network (decoder, learned prior) follows
    the gradient of the ``M K``-sample IWAE bound (the tightest) and the inference network
    that of the MIWAE bound :math:`\mathcal{L}_{M,K}` (better gradient signal-to-noise for
    the encoder) (Rainforth et al. 2018, *Tighter variational bounds are not necessarily
    better*, Sec. 4, where the two networks take separate steps; here one backward pass).

    With ``w_mk = p(x, z_mk) / q(z_mk | x)`` and :math:`\mathrm{sg}` the stop-gradient,

    .. math::

        \nabla_\theta: \ \log \frac{1}{MK} \sum_{m,k} w_{mk}, \qquad
        \nabla_\phi: \ \frac1M \sum_{m=1}^M \log \frac1K \sum_{k=1}^K w_{mk}.

    The surrogate is ``L_MK(theta, phi) + IWAE(theta; sg z) - L_MK(theta; sg z)``: the last
    two terms use a second decoder pass at the detached samples ``sg(z)`` with ``log q``
    detached, so they reach only the generative parameters, where the two MIWAE gradients
    cancel (the same values at the same samples) and the IWAE gradient remains. Its value is
    replaced by the IWAE bound. Costs one more decoder call; needs a model whose ``_decode(z)``
    takes ``z`` alone (not the CVAE).

    Diagnostics: ``iwae_bound`` (minus the objective: the generative network's bound),
    ``miwae_bound`` (the inference network's), ``elbo``, ``log_likelihood``,
    ``kl_divergence``, ``elbo_unweighted``, ``effective_sample_size`` (over all ``M K``).

    Parameters
    ----------
    num_importance : int
        ``K >= 1`` samples of each of the encoder's importance-weighted estimates.
    num_averaged : int
        ``M >= 1`` such estimates averaged for the encoder.
    """

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        check_group_samples(output, self.num_averaged, self.num_importance, "PIWAE")
        terms = importance_terms(model, x, output, beta, likelihood)
        log_w = terms.log_weights  # [B, M K], gradients to both networks
        log_w_gen = _generative_log_weights(model, x, output, beta, likelihood)  # theta only
        iwae = iwae_bound(log_w)  # [B]
        surrogate = (
            miwae_bound(log_w, self.num_averaged)
            + iwae_bound(log_w_gen)
            - miwae_bound(log_w_gen, self.num_averaged)
        )  # [B]
        objective = -(iwae.detach() + surrogate - surrogate.detach()).mean()
        diagnostics = {
            "iwae_bound": iwae.detach().mean(),
            "miwae_bound": miwae_bound(log_w.detach(), self.num_averaged).mean(),
            **terms.diagnostics(),
        }
        diagnostics["effective_sample_size"] = effective_sample_size(log_w.detach()).mean()
        return LossResult(objective=objective, diagnostics=diagnostics)

    def diagnostic_keys(self) -> frozenset[str]:
        return SAMPLE_DIAGNOSTICS | {"iwae_bound", "miwae_bound", "effective_sample_size"}


def _generative_log_weights(
    model: Any, x: torch.Tensor, output: Any, beta: Weight, likelihood: LikelihoodSpec
) -> torch.Tensor:
    """``log w`` ``[B, S]`` whose gradient reaches only the decoder and the prior."""
    z = output.z.detach()
    x_hat = model._decode(z).x_hat
    log_lik = model.reconstruction_log_prob(x, dataclasses.replace(output, x_hat=x_hat), likelihood)
    log_prior = model.latent_prior.log_prob(z.flatten(2))  # [B, S] (latent maps flattened)
    log_q = model.posterior_log_prob(output).detach()  # [B, S]
    weight = check_weight(beta, "beta")
    if isinstance(weight, float) and weight == 1.0:
        return log_lik + log_prior - log_q
    return log_lik + weight * (log_prior - log_q)
