r"""The importance-weighted bound (Burda, Grosse & Salakhutdinov 2016) and its DReG gradient.

With ``K`` samples ``z_k ~ q(z | x)`` and log-weights
``log w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x)``,

.. math::

    \mathcal{L}_K(x) = \log \frac1K \sum_{k=1}^K w_k
        = \operatorname{logsumexp}_k \log w_k - \log K
    \qquad\text{(Burda et al. 2016, eq. 8)},

a lower bound of ``log p(x)`` that tightens as ``K`` grows; ``K = 1`` is the single-sample
ELBO. Computed with ``logsumexp`` (no overflow of ``w_k``).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from ..distributions._kl import posterior_log_prob
from ..distributions._priors import Prior

GradientEstimator = Literal["iwae", "dreg"]


def importance_log_weights(
    log_lik: torch.Tensor,
    z: torch.Tensor,
    mu: torch.Tensor,
    log_var: torch.Tensor,
    prior: Prior,
    stop_grad_posterior: bool = False,
) -> torch.Tensor:
    """``log w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x)``, shape ``[B, K]``.

    Parameters
    ----------
    log_lik : torch.Tensor
        ``log p(x | z_k)`` summed over features, ``[B, K]``.
    z : torch.Tensor
        The samples ``[B, K, D_z]``.
    mu, log_var : torch.Tensor
        Posterior parameters ``[B, D_z]``.
    prior : Prior
        ``p(z)``.
    stop_grad_posterior : bool
        Detach ``mu`` and ``log_var`` inside ``log q`` (DReG, Tucker et al. 2019): ``log q``
        then reaches the encoder only through the sample path ``z``.
    """
    if stop_grad_posterior:
        mu, log_var = mu.detach(), log_var.detach()
    return log_lik + prior.log_prob(z) - posterior_log_prob(z, mu, log_var)


def iwae_bound(log_weights: torch.Tensor) -> torch.Tensor:
    r"""The importance-weighted bound per input (Burda et al. 2016, eq. 8).

    .. math::

        \mathcal{L}_K = \operatorname{logsumexp}_k \log w_k - \log K,

    computed with ``logsumexp`` so that no weight ``w_k`` is exponentiated on its own.

    Parameters
    ----------
    log_weights : torch.Tensor
        ``log w_k`` ``[B, K]`` (:func:`importance_log_weights`).

    Returns
    -------
    torch.Tensor
        ``[B]``.
    """
    return torch.logsumexp(log_weights, dim=1) - math.log(log_weights.shape[1])


def effective_sample_size(log_weights: torch.Tensor) -> torch.Tensor:
    r"""Kish's effective sample size of the normalised importance weights, ``[B, K] -> [B]``.

    ``ESS = 1 / sum_k w~_k^2`` with ``w~ = softmax_k(log w)``: ``K`` for equal weights, ``1``
    when one sample carries all the weight (Kish 1965, *Survey sampling*); a standard
    diagnostic of how many samples an importance-sampled estimate effectively rests on.
    """
    return torch.softmax(log_weights, dim=1).square().sum(dim=1).reciprocal()


def dreg_surrogate(log_weights: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    r"""Per-input surrogate whose value is the bound and whose gradient is DReG's, ``[B]``.

    Tucker, Lawson, Gu & Maddison (2019), *Doubly reparameterized gradient estimators for
    Monte Carlo objectives*, eq. 5: with normalised weights ``w~_k = softmax(log w)_k`` and
    ``log q`` evaluated with stop-gradient posterior parameters
    (:func:`importance_log_weights` with ``stop_grad_posterior=True``),

    .. math::

        \nabla_\theta \mathcal{L}_K = \sum_k \tilde w_k \nabla_\theta \log w_k, \qquad
        \nabla_\phi \mathcal{L}_K = \sum_k \tilde w_k^2
            \frac{\partial \log w_k}{\partial z_k}\frac{\partial z_k}{\partial \phi}.

    The surrogate is ``sum_k sg(w~_k) log w_k`` (the decoder/prior gradient), and a gradient
    hook on ``z`` multiplies the gradient reaching each sample by ``w~_k`` once more, which
    turns the encoder's pathwise gradient into the squared-weight one. Consequence: any other
    loss term computed from the same ``z`` is scaled too; compute it from a fresh forward pass.
    Its value is replaced by the bound (``bound + s - sg(s)``), so logging is unchanged.
    """
    weights = torch.softmax(log_weights, dim=1).detach()  # [B, K]
    if z.requires_grad:
        # [B, K, 1] for z [B, K, D_z]; [B, K, 1, 1, 1] for latent maps z [B, K, C, h, w]
        per_sample = weights.reshape(*weights.shape, *([1] * (z.dim() - 2)))
        z.register_hook(lambda grad: grad * per_sample.to(grad.dtype))
    surrogate = (weights * log_weights).sum(dim=1)  # [B]
    return iwae_bound(log_weights).detach() + surrogate - surrogate.detach()
